/**
 * The metadata kept beside an item's export stream, so that browse and search never parse the
 * stream: the MAPI properties item delta expands (`singleValueExtendedProperties`), turned into
 * the fields each kind of item shows. Mail gets the shape of Graph's `message` (what message
 * delta delivers in content mode `mime`), so every reader of message metadata reads both.
 */
import { normalisePropertyId } from "./property-id.js";
import { type HeaderAddress, recipientsFromTransportHeaders } from "./transport-headers.js";

/** What kind of item a message class is. */
export type ItemKind = "mail" | "event" | "contact" | "distributionList" | "task" | "note" | "other";

const APPOINTMENT = "{00062002-0000-0000-C000-000000000046}";
const TASK = "{00062003-0000-0000-C000-000000000046}";
const ADDRESS = "{00062004-0000-0000-C000-000000000046}";
const SIMULATED = "{4D41494C-5354-5245-414D-53494D000001}";

/** The properties item delta expands, by what they mean (Graph's ids, [MS-OXPROPS] tags). */
export const ITEM_META_PROPERTIES = {
  subject: "String 0x0037",
  importance: "Integer 0x0017",
  messageFlags: "Integer 0x0E07",
  flagStatus: "Integer 0x1090",
  received: "SystemTime 0x0E06",
  sent: "SystemTime 0x0039",
  internetMessageId: "String 0x1035",
  fromName: "String 0x0042",
  fromAddress: "String 0x5D02",
  /** Recipients' display names, "; " between them (PidTagDisplayTo, …Cc, …Bcc): no addresses. */
  displayTo: "String 0x0E04",
  displayCc: "String 0x0E03",
  displayBcc: "String 0x0E02",
  /** A received message's header block (PidTagTransportMessageHeaders): its To and Cc addresses. */
  transportHeaders: "String 0x007D",
  conversationId: `String ${SIMULATED} Name ConversationId`,
  start: `SystemTime ${APPOINTMENT} Id 0x820D`,
  end: `SystemTime ${APPOINTMENT} Id 0x820E`,
  location: `String ${APPOINTMENT} Id 0x8208`,
  recurrence: `String ${SIMULATED} Name RecurrencePattern`,
  displayName: "String 0x3001",
  givenName: "String 0x3A06",
  surname: "String 0x3A11",
  company: "String 0x3A16",
  businessPhone: "String 0x3A08",
  mobilePhone: "String 0x3A1C",
  homePhone: "String 0x3A09",
  email1: `String ${ADDRESS} Id 0x8083`,
  email2: `String ${ADDRESS} Id 0x8093`,
  listName: `String ${ADDRESS} Id 0x8053`,
  due: `SystemTime ${TASK} Id 0x8105`,
  status: `Integer ${TASK} Id 0x8101`,
} as const;

export const ITEM_META_PROPERTY_IDS: readonly string[] = Object.values(ITEM_META_PROPERTIES);

/** The ids of {@link ITEM_META_PROPERTIES} normalised once, as item records key their properties. */
const NORMALISED_IDS = Object.fromEntries(
  Object.entries(ITEM_META_PROPERTIES).map(([name, id]) => [name, normalisePropertyId(id)]),
) as Record<keyof typeof ITEM_META_PROPERTIES, string>;

/** The kind of item of a message class (`IPM.Note.SMIME` is mail, `IPM.Schedule.Meeting.Request` too). */
export function itemKind(messageClass: string): ItemKind {
  const c = messageClass.toUpperCase();
  const is = (prefix: string) => c === prefix || c.startsWith(`${prefix}.`);
  if (is("IPM.APPOINTMENT")) return "event";
  if (is("IPM.CONTACT")) return "contact";
  if (is("IPM.DISTLIST")) return "distributionList";
  if (is("IPM.TASK")) return "task";
  if (is("IPM.STICKYNOTE")) return "note";
  if (is("IPM.NOTE") || is("IPM.SCHEDULE") || is("REPORT.IPM.NOTE") || is("IPM.POST")) return "mail";
  return "other";
}

const TASK_STATUS = ["notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"] as const;
const IMPORTANCE = ["low", "normal", "high"] as const;
const FLAG_STATUS: Record<string, string> = { "0": "notFlagged", "1": "complete", "2": "flagged" };

/** An item as item delta delivers it (structurally lib/graph/item-delta.ts `MailboxItemRecord`). */
export interface ItemMetaSource {
  id: string;
  type: string;
  createdDateTime?: string;
  lastModifiedDateTime?: string;
  categories?: string[];
  /** Expanded properties by normalised id. */
  properties: Record<string, string>;
}

/**
 * The metadata of an item by its kind (undefined fields left out):
 * - mail: Graph message fields (subject, from, sender, receivedDateTime, sentDateTime,
 *   internetMessageId, conversationId, isRead, isDraft, importance, flag, hasAttachments, and
 *   to/cc/bccRecipients: name and address from the transport headers of a received message,
 *   display names only otherwise (drafts, sent items, and Bcc always);
 * - event: subject, start, end, location, organizer, recurrence;
 * - contact: displayName, givenName, surname, emailAddresses, phones, companyName;
 * - distributionList: displayName; task: subject, dueDateTime, status; note: subject.
 * Every kind: `kind`, `itemClass`, createdDateTime, lastModifiedDateTime, categories.
 */
export function itemMetadata(item: ItemMetaSource): Record<string, unknown> {
  const get = (name: keyof typeof ITEM_META_PROPERTIES): string | undefined =>
    item.properties[NORMALISED_IDS[name]];
  const kind = itemKind(item.type);
  const common = defined({
    kind,
    itemClass: item.type,
    createdDateTime: item.createdDateTime,
    lastModifiedDateTime: item.lastModifiedDateTime,
    categories: item.categories,
  });
  const person = (name: string | undefined, address: string | undefined) =>
    name === undefined && address === undefined ? undefined : { emailAddress: defined({ name, address }) };
  switch (kind) {
    case "mail": {
      const flags = toInt(get("messageFlags"));
      const from = person(get("fromName"), get("fromAddress"));
      const received = recipientsFromTransportHeaders(get("transportHeaders"));
      return defined({
        ...common,
        subject: get("subject"),
        from,
        sender: from,
        receivedDateTime: get("received"),
        sentDateTime: get("sent"),
        internetMessageId: get("internetMessageId"),
        conversationId: get("conversationId"),
        isRead: flags === undefined ? undefined : (flags & 0x1) !== 0,
        isDraft: flags === undefined ? undefined : (flags & 0x8) !== 0,
        hasAttachments: flags === undefined ? undefined : (flags & 0x10) !== 0,
        importance: IMPORTANCE[toInt(get("importance")) ?? -1],
        flag: { flagStatus: FLAG_STATUS[get("flagStatus") ?? "0"] ?? "notFlagged" },
        toRecipients: addressedRecipients(received?.to) ?? namedRecipients(get("displayTo")),
        ccRecipients: received ? addressedRecipients(received.cc) : namedRecipients(get("displayCc")),
        bccRecipients: namedRecipients(get("displayBcc")),
      });
    }
    case "event":
      return defined({
        ...common,
        subject: get("subject"),
        start: get("start"),
        end: get("end"),
        location: get("location"),
        organizer: person(get("fromName"), get("fromAddress")),
        recurrence: parseJson(get("recurrence")),
      });
    case "contact":
      return defined({
        ...common,
        displayName: get("displayName"),
        givenName: get("givenName"),
        surname: get("surname"),
        emailAddresses: nonEmpty([get("email1"), get("email2")]),
        phones: nonEmpty([get("businessPhone"), get("mobilePhone"), get("homePhone")]),
        companyName: get("company"),
      });
    case "distributionList":
      return defined({ ...common, displayName: get("listName") ?? get("displayName") ?? get("subject") });
    case "task":
      return defined({
        ...common,
        subject: get("subject"),
        dueDateTime: get("due"),
        status: TASK_STATUS[toInt(get("status")) ?? -1],
      });
    default:
      return defined({ ...common, subject: get("subject") });
  }
}

/** Graph recipients with addresses (the address for a missing name, as Graph does); undefined when none. */
function addressedRecipients(
  list: HeaderAddress[] | undefined,
): Array<{ emailAddress: { name: string; address: string } }> | undefined {
  return list && list.length > 0
    ? list.map((a) => ({ emailAddress: { name: a.name || a.address, address: a.address } }))
    : undefined;
}

/**
 * Graph recipients from a PidTagDisplay… list: names only, since the recipient table (with the
 * addresses) is inside the export stream, which readers do not parse. A name that itself holds
 * "; " comes back as two; undefined when there are none.
 */
function namedRecipients(list: string | undefined): Array<{ emailAddress: { name: string } }> | undefined {
  const names = (list ?? "")
    .split(";")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  return names.length > 0 ? names.map((name) => ({ emailAddress: { name } })) : undefined;
}

function toInt(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? n : undefined;
}

function parseJson(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function nonEmpty(values: Array<string | undefined>): string[] | undefined {
  const kept = values.filter((v): v is string => v !== undefined && v !== "");
  return kept.length > 0 ? kept : undefined;
}

function defined<T extends Record<string, unknown>>(record: T): T {
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record;
}
