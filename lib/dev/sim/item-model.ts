/**
 * The content of a mailbox item as the simulator keeps and exports it: MAPI-like properties, the
 * item's recipients and its attachments (an attachment may hold an embedded item, as a recurring
 * event's exceptions do). Exchange's export format is a FastTransfer stream of exactly these
 * ([MS-OXCFXICS]); the simulator's export format (`tenant/items/stream.ts`) is a simplified,
 * versioned relative of it, and round-trips every value here.
 */

/** Value types, named after their MAPI property types (PtypInteger32 = 0x0003, …). */
export type PropType =
  | "int16"
  | "int32"
  | "float64"
  | "bool"
  | "int64"
  | "string"
  | "guid"
  | "time"
  | "binary"
  | "strings"
  | "times";

/**
 * Which property: a tagged property (`id` below 0x8000, e.g. PidTagSubject 0x0037) or a named
 * one, by property set GUID and numeric id (LID) or string name.
 */
export type PropDef =
  | { kind: "tag"; id: number; type: PropType }
  | { kind: "lid"; set: string; lid: number; type: PropType }
  | { kind: "name"; set: string; name: string; type: PropType };

/** Bytes produced only when needed (attachment content), with their size known up front. */
export interface LazyBytes {
  size: number;
  bytes(): Buffer;
}

/** A property value in JavaScript form: times as ISO-8601 UTC strings, GUIDs as lower-case text. */
export type PropValue = number | boolean | string | string[] | Buffer | LazyBytes;

export interface Property {
  def: PropDef;
  value: PropValue;
}

export interface ItemAttachment {
  props: Property[];
  /** An attached item (attach method 5): a recurring event's exception, a forwarded message. */
  embedded?: ItemContent;
}

/** Everything an item holds besides what the store keeps as its record (class, dates, categories). */
export interface ItemContent {
  props: Property[];
  /** Recipients: a message's To/Cc/Bcc, an event's attendees, a distribution list's members. */
  recipients: Property[][];
  attachments: ItemAttachment[];
}
