/**
 * Which item kind a Graph request was made for, so that a benchmark can tell requests per item by
 * kind (mail, event, contact, …). A request for one folder's items (a delta page, a listing) counts
 * 1 to the folder's kind; an export request counts to the kinds of the items it carries, each its
 * share (5 events of 20 ids: 0.25 to events); a message request (`$value`, attachments) counts 1 to
 * mail. Everything else (folder listings, directory, mailbox settings, batches' envelopes, requests
 * refused before routing) is the tenant's overhead: the served total less what was attributed.
 */

/** The kinds the simulated tenant has items of; `other` is an item class the generator does not make. */
export const ITEM_KINDS = ["mail", "event", "contact", "distList", "task", "note", "other"] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/** The row of requests made for no item kind. */
export const OVERHEAD = "overhead";

const CLASS_PREFIXES: ReadonlyArray<[string, ItemKind]> = [
  ["IPM.Appointment", "event"],
  ["IPM.Contact", "contact"],
  ["IPM.DistList", "distList"],
  ["IPM.Task", "task"],
  ["IPM.StickyNote", "note"],
  // Mail: notes, meeting messages, reports, …: everything that lives in a mail folder.
  ["IPM.Note", "mail"],
  ["IPM.Schedule", "mail"],
  ["REPORT.IPM", "mail"],
  ["IPM.Post", "mail"],
];

/** The kind of an item class (`IPM.Appointment` → event; `IPM.Note.SMIME` → mail). */
export function kindOfItemClass(itemClass: string | undefined): ItemKind {
  if (itemClass === undefined || itemClass === "IPM" || itemClass === "") return "mail";
  const lower = itemClass.toLowerCase();
  for (const [prefix, kind] of CLASS_PREFIXES) {
    const p = prefix.toLowerCase();
    if (lower === p || lower.startsWith(`${p}.`)) return kind;
  }
  return "other";
}

const FOLDER_KINDS: Record<string, ItemKind> = {
  "ipf.appointment": "event",
  "ipf.contact": "contact",
  "ipf.task": "task",
  "ipf.stickynote": "note",
  "ipf.note": "mail",
};

/** The kind of the items a folder of this class holds (a folder without a class holds mail). */
export function kindOfFolderClass(folderClass: string | undefined): ItemKind {
  if (folderClass === undefined) return "mail";
  const lower = folderClass.toLowerCase();
  for (const [prefix, kind] of Object.entries(FOLDER_KINDS))
    if (lower === prefix || lower.startsWith(`${prefix}.`)) return kind;
  return "other";
}

/**
 * The shares of one request carrying items of these kinds (one entry per item; an id that names
 * no item is `undefined` and its share is overhead). The shares add up to 1.
 */
export function sharesOf(
  kinds: ReadonlyArray<ItemKind | undefined>,
): Partial<Record<ItemKind | typeof OVERHEAD, number>> {
  const shares: Partial<Record<ItemKind | typeof OVERHEAD, number>> = {};
  if (kinds.length === 0) return { [OVERHEAD]: 1 };
  for (const kind of kinds) {
    const key = kind ?? OVERHEAD;
    shares[key] = (shares[key] ?? 0) + 1;
  }
  // Items counted first, divided once: 5 of 20 is exactly 0.25, not twenty sums of 0.05.
  for (const key of Object.keys(shares) as Array<keyof typeof shares>)
    shares[key] = (shares[key] ?? 0) / kinds.length;
  return shares;
}

/** Requests attributed to item kinds, in fractions of a request. */
export class RequestsByKind {
  private attributed: Partial<Record<ItemKind, number>> = {};

  /** One request, split across the kinds of the items it was made for. */
  count(kinds: ReadonlyArray<ItemKind | undefined>): void {
    for (const [key, share] of Object.entries(sharesOf(kinds)) as Array<[ItemKind | typeof OVERHEAD, number]>)
      if (key !== OVERHEAD) this.attributed[key] = (this.attributed[key] ?? 0) + share;
  }

  /** Requests by kind, with the rest of `totalRequests` as {@link OVERHEAD}; the rows add up to it. */
  snapshot(totalRequests: number): Record<string, number> {
    const out: Record<string, number> = { ...this.attributed };
    const attributed = Object.values(this.attributed).reduce((n, v) => n + v, 0);
    out[OVERHEAD] = Math.max(0, totalRequests - attributed);
    return out;
  }

  reset(): void {
    this.attributed = {};
  }
}
