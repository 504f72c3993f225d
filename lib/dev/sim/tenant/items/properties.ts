/**
 * The MAPI properties the simulator's items carry, with their real tags and property sets
 * ([MS-OXPROPS]) where Exchange has one, and the simulator's own property set for the few values
 * that have no MAPI form the simulator reproduces (the Graph conversation id, a recurrence as
 * Graph describes it, the MIME of an internet message).
 *
 * Also: the Graph spelling of property ids (`String 0x0037`, `SystemTime {GUID} Id 0x820D`) that
 * `$expand=singleValueExtendedProperties(...)` takes, and a canonical key per property.
 */
import type { PropDef, PropType } from "../../item-model.js";
import { memoByObject } from "../../memo.js";

export const PROPERTY_SETS = {
  publicStrings: "00020329-0000-0000-c000-000000000046",
  appointment: "00062002-0000-0000-c000-000000000046",
  task: "00062003-0000-0000-c000-000000000046",
  address: "00062004-0000-0000-c000-000000000046",
  common: "00062008-0000-0000-c000-000000000046",
  note: "0006200e-0000-0000-c000-000000000046",
  /** The simulator's own: values without a MAPI form here ("MAILSTREAMSIM"). */
  simulator: "4d41494c-5354-5245-414d-53494d000001",
} as const;

const tag = (id: number, type: PropType): PropDef => ({ kind: "tag", id, type });
const lid = (set: string, id: number, type: PropType): PropDef => ({ kind: "lid", set, lid: id, type });
const named = (set: string, name: string, type: PropType): PropDef => ({ kind: "name", set, name, type });
const S = PROPERTY_SETS;

/** Properties by what they mean. */
export const P = {
  // --- the record: what the store keeps outside the content ---
  messageClass: tag(0x001a, "string"),
  creationTime: tag(0x3007, "time"),
  lastModificationTime: tag(0x3008, "time"),
  keywords: named(S.publicStrings, "Keywords", "strings"),

  // --- every item ---
  subject: tag(0x0037, "string"),
  body: tag(0x1000, "string"),
  importance: tag(0x0017, "int32"),
  sensitivity: tag(0x0036, "int32"),
  messageFlags: tag(0x0e07, "int32"),
  flagStatus: tag(0x1090, "int32"),
  reminderSet: lid(S.common, 0x8503, "bool"),
  reminderMinutes: lid(S.common, 0x8501, "int32"),

  // --- messages ---
  messageDeliveryTime: tag(0x0e06, "time"),
  clientSubmitTime: tag(0x0039, "time"),
  internetMessageId: tag(0x1035, "string"),
  sentRepresentingName: tag(0x0042, "string"),
  sentRepresentingSmtpAddress: tag(0x5d02, "string"),
  conversationId: named(S.simulator, "ConversationId", "string"),
  bodyPreview: named(S.simulator, "BodyPreview", "string"),
  /** The MIME of an internet message, byte for byte (what `$value` serves). */
  mimeContent: named(S.simulator, "MimeContent", "binary"),

  // --- recipients ---
  recipientType: tag(0x0c15, "int32"),
  displayName: tag(0x3001, "string"),
  smtpAddress: tag(0x39fe, "string"),
  recipientTrackStatus: tag(0x5fff, "int32"),
  recipientFlags: tag(0x5ffd, "int32"),
  /**
   * Computed by the store from the recipient table, never in the export stream: the display
   * names of the To (type 1), Cc (2) and Bcc (3) recipients, joined by "; " (PidTagDisplayTo…).
   */
  displayTo: tag(0x0e04, "string"),
  displayCc: tag(0x0e03, "string"),
  displayBcc: tag(0x0e02, "string"),
  /**
   * A received message's header block (PidTagTransportMessageHeaders), as its transport delivered
   * it; Exchange keeps it on messages that arrived, not on drafts or on the mailbox's own sent
   * items. The simulator computes it for every message that is not a draft, from the message's
   * fields, and keeps it out of the export stream.
   */
  transportMessageHeaders: tag(0x007d, "string"),

  // --- attachments ---
  attachMethod: tag(0x3705, "int32"),
  attachLongFilename: tag(0x3707, "string"),
  attachMimeTag: tag(0x370e, "string"),
  attachDataBinary: tag(0x3701, "binary"),
  attachContentId: tag(0x3712, "string"),
  attachmentHidden: tag(0x7ffe, "bool"),
  attachmentContactPhoto: tag(0x7fff, "bool"),

  // --- appointments ---
  startWhole: lid(S.appointment, 0x820d, "time"),
  endWhole: lid(S.appointment, 0x820e, "time"),
  location: lid(S.appointment, 0x8208, "string"),
  busyStatus: lid(S.appointment, 0x8205, "int32"),
  allDayEvent: lid(S.appointment, 0x8215, "bool"),
  recurring: lid(S.appointment, 0x8223, "bool"),
  appointmentStateFlags: lid(S.appointment, 0x8217, "int32"),
  responseStatus: lid(S.appointment, 0x8218, "int32"),
  timeZoneDescription: lid(S.appointment, 0x8234, "string"),
  exceptionReplaceTime: lid(S.appointment, 0x8228, "time"),
  /** The recurrence as Graph's patternedRecurrence JSON (MAPI's binary pattern is not reproduced). */
  recurrencePattern: named(S.simulator, "RecurrencePattern", "string"),
  /** Start times of occurrences deleted from a series. */
  deletedOccurrences: named(S.simulator, "DeletedOccurrences", "times"),

  // --- contacts and distribution lists ---
  givenName: tag(0x3a06, "string"),
  surname: tag(0x3a11, "string"),
  companyName: tag(0x3a16, "string"),
  title: tag(0x3a17, "string"),
  department: tag(0x3a18, "string"),
  businessTelephoneNumber: tag(0x3a08, "string"),
  homeTelephoneNumber: tag(0x3a09, "string"),
  mobileTelephoneNumber: tag(0x3a1c, "string"),
  birthday: tag(0x3a42, "time"),
  fileUnder: lid(S.address, 0x8005, "string"),
  hasPicture: lid(S.address, 0x8015, "bool"),
  email1DisplayName: lid(S.address, 0x8080, "string"),
  email1Address: lid(S.address, 0x8083, "string"),
  email2Address: lid(S.address, 0x8093, "string"),
  distributionListName: lid(S.address, 0x8053, "string"),

  // --- tasks ---
  taskStatus: lid(S.task, 0x8101, "int32"),
  percentComplete: lid(S.task, 0x8102, "float64"),
  taskStartDate: lid(S.task, 0x8104, "time"),
  taskDueDate: lid(S.task, 0x8105, "time"),
  taskDateCompleted: lid(S.task, 0x810f, "time"),
  taskComplete: lid(S.task, 0x811c, "bool"),

  // --- notes ---
  noteColor: lid(S.note, 0x8b00, "int32"),
  noteWidth: lid(S.note, 0x8b02, "int32"),
  noteHeight: lid(S.note, 0x8b03, "int32"),
} as const satisfies Record<string, PropDef>;

/**
 * Keys and Graph ids made, by definition (definitions are never changed; most are the shared
 * ones of {@link P}): a lookup in a property list keys every entry it passes, and an item delta
 * page keys and names each of its items' properties.
 */
/** A canonical key of a property (type included), for lookups and comparisons. */
export const propKey: (def: PropDef) => string = memoByObject(makePropKey);

function makePropKey(def: PropDef): string {
  switch (def.kind) {
    case "tag":
      return `${def.type} 0x${def.id.toString(16)}`;
    case "lid":
      return `${def.type} {${def.set.toLowerCase()}} id 0x${def.lid.toString(16)}`;
    case "name":
      return `${def.type} {${def.set.toLowerCase()}} name ${def.name}`;
  }
}

/** Graph's names of the property types, as in `singleValueExtendedProperties` ids. */
const GRAPH_TYPE_NAMES: Record<PropType, string> = {
  int16: "Short",
  int32: "Integer",
  float64: "Double",
  bool: "Boolean",
  int64: "Long",
  string: "String",
  guid: "CLSID",
  time: "SystemTime",
  binary: "Binary",
  strings: "StringArray",
  times: "SystemTimeArray",
};
const TYPES_BY_GRAPH_NAME = new Map(
  Object.entries(GRAPH_TYPE_NAMES).map(([type, name]) => [name.toLowerCase(), type as PropType]),
);

const hex4 = (n: number) => `0x${n.toString(16).toUpperCase().padStart(4, "0")}`;

/** The Graph id of a property: `String 0x0037`, `SystemTime {00062002-…} Id 0x820D`, `StringArray {…} Name Keywords`. */
export const graphPropertyId: (def: PropDef) => string = memoByObject(makeGraphPropertyId);

function makeGraphPropertyId(def: PropDef): string {
  const type = GRAPH_TYPE_NAMES[def.type];
  switch (def.kind) {
    case "tag":
      return `${type} ${hex4(def.id)}`;
    case "lid":
      return `${type} {${def.set.toUpperCase()}} Id ${hex4(def.lid)}`;
    case "name":
      return `${type} {${def.set.toUpperCase()}} Name ${def.name}`;
  }
}

/** Parses a Graph property id (any case, any zero padding) into a definition; `undefined` if malformed. */
export function parseGraphPropertyId(id: string): PropDef | undefined {
  const m =
    /^\s*(\w+)\s+(?:0x([0-9a-f]{1,4})|\{([0-9a-f-]{36})\}\s+(?:id\s+0x([0-9a-f]{1,4})|name\s+(.+?)))\s*$/i.exec(
      id,
    );
  const type = m && TYPES_BY_GRAPH_NAME.get((m[1] ?? "").toLowerCase());
  if (!m || !type) return undefined;
  if (m[2] !== undefined) return { kind: "tag", id: Number.parseInt(m[2], 16), type };
  const set = (m[3] ?? "").toLowerCase();
  if (m[4] !== undefined) return { kind: "lid", set, lid: Number.parseInt(m[4], 16), type };
  return { kind: "name", set, name: m[5] ?? "", type };
}
