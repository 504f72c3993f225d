/**
 * Search across mailboxes from the catalog's metadata alone: each mailbox's point-in-time view
 * (a replay that starts from the newest snapshot) is filtered on the `meta` Graph delivered
 * (from, recipients, subject, dates, hasAttachments). No blob is read (except the header block of
 * the rare message whose properties lack a sender or a time: message-fields.ts), so the cost is
 * the catalog's size, not the archive's.
 */
import type { CatalogDamageError } from "../archive/errors.js";
import { FinalizedJobCache } from "../archive/manifest.js";
import { mailboxViewAt, type ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import type { ArchivedMailbox } from "./directory.js";
import { completeMeta, lacksFields, receivedAt, senderOf } from "./message-fields.js";

export interface SearchCriteria {
  /** Substring of the sender's address or name, case-insensitive. */
  from?: string;
  /** Substring of any To, Cc or Bcc address or name, case-insensitive. */
  to?: string;
  /** Words that must all occur in the subject (case-insensitive, any order). */
  subjectWords?: string[];
  /** Received at or after this time (ms since the epoch). */
  since?: number;
  /** Received before this time (ms since the epoch). */
  until?: number;
  /** Folder path (case-insensitive); matches the folder and its subfolders. */
  folder?: string;
  /** Only messages with (true) or without (false) attachments. */
  hasAttachments?: boolean;
  /** Only items of this kind (`meta.kind`; items backed up as MIME are `mail`). */
  kind?: string;
}

/** The kinds of item `kind` takes (lib/graph/item-meta.ts). */
export const ITEM_KINDS: readonly string[] = [
  "mail",
  "event",
  "contact",
  "distributionList",
  "task",
  "note",
  "other",
];

/** An item's kind: `meta.kind`, or `mail` for messages backed up as MIME (no kind recorded). */
export function kindOf(meta: Record<string, unknown>): string {
  return typeof meta.kind === "string" ? meta.kind : "mail";
}

/** The words an item is found by: its subject, or a contact's or list's name, company, location. */
function titleText(meta: Record<string, unknown>): string {
  return ["subject", "displayName", "location", "companyName"]
    .map((k) => meta[k])
    .filter((v): v is string => typeof v === "string")
    .join(" ")
    .toLowerCase();
}

export interface SearchHit {
  mailbox: ArchivedMailbox;
  folderPath: string;
  message: ViewMessage;
}

interface Address {
  emailAddress?: { name?: string; address?: string };
}

function addressText(value: unknown): string {
  const a = value as Address | undefined;
  return `${a?.emailAddress?.name ?? ""} <${a?.emailAddress?.address ?? ""}>`.toLowerCase();
}

function recipients(meta: Record<string, unknown>): string[] {
  const all: unknown[] = [];
  for (const field of ["toRecipients", "ccRecipients", "bccRecipients"]) {
    const list = meta[field];
    if (Array.isArray(list)) all.push(...list);
  }
  return all.map(addressText);
}

export { receivedAt } from "./message-fields.js";

/** Whether one message (its meta and folder path) matches every criterion given. */
export function messageMatches(
  meta: Record<string, unknown>,
  folderPath: string,
  c: SearchCriteria,
): boolean {
  if (c.kind !== undefined && kindOf(meta) !== c.kind) return false;
  // The sender of mail, the organizer of an event.
  if (c.from !== undefined && !addressText(senderOf(meta) ?? meta.organizer).includes(c.from.toLowerCase()))
    return false;
  if (c.to !== undefined) {
    const needle = c.to.toLowerCase();
    if (!recipients(meta).some((r) => r.includes(needle))) return false;
  }
  if (c.subjectWords?.length) {
    const title = titleText(meta);
    if (!c.subjectWords.every((w) => title.includes(w.toLowerCase()))) return false;
  }
  if (c.since !== undefined || c.until !== undefined) {
    const t = receivedAt(meta);
    if (Number.isNaN(t)) return false;
    if (c.since !== undefined && t < c.since) return false;
    if (c.until !== undefined && t >= c.until) return false;
  }
  if (c.folder !== undefined) {
    const want = c.folder.toLowerCase().replace(/^\/+|\/+$/g, "");
    const path = folderPath.toLowerCase();
    if (path !== want && !path.startsWith(`${want}/`)) return false;
  }
  if (c.hasAttachments !== undefined && Boolean(meta.hasAttachments) !== c.hasAttachments) return false;
  return true;
}

export interface SearchOptions {
  /** The job to search as of (a finalized job id, or "latest"). */
  at: string;
  /** Mailboxes replayed at once. Range 1–64, default 8. */
  concurrency?: number;
}

export interface SearchResult {
  /** Newest first (by received time), then by mailbox and message id. */
  hits: SearchHit[];
  mailboxesSearched: number;
  messagesScanned: number;
  /** Damaged catalog lines met on the way (skipped; the rest was searched). */
  errors: CatalogDamageError[];
}

/** Searches the given mailboxes as of a job. */
export async function searchArchive(
  store: ObjectStore,
  mailboxes: readonly ArchivedMailbox[],
  criteria: SearchCriteria,
  opts: SearchOptions,
): Promise<SearchResult> {
  const hits: SearchHit[] = [];
  const errors: CatalogDamageError[] = [];
  let scanned = 0;
  let next = 0;
  // Every mailbox is replayed against the same few jobs: read each job's manifest once.
  const finalizedJobs = new FinalizedJobCache();
  const worker = async () => {
    while (next < mailboxes.length) {
      const mailbox = mailboxes[next++]!;
      const view = await mailboxViewAt(store, mailbox.mailboxId, opts.at, { finalizedJobs });
      errors.push(...view.errors);
      for (const folder of view.folders) {
        const path = folder.path ?? folder.folderId;
        for (const stored of folder.messages) {
          scanned++;
          // A message without sender or time in its properties is matched on its MIME headers'.
          const message = lacksFields(stored.meta)
            ? { ...stored, meta: await completeMeta(store, stored) }
            : stored;
          if (messageMatches(message.meta, path, criteria)) hits.push({ mailbox, folderPath: path, message });
        }
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 8, 64, mailboxes.length || 1));
  await Promise.all(Array.from({ length: n }, worker));
  hits.sort(
    (a, b) =>
      (receivedAt(b.message.meta) || 0) - (receivedAt(a.message.meta) || 0) ||
      a.mailbox.address.localeCompare(b.mailbox.address) ||
      (a.message.messageId < b.message.messageId ? -1 : 1),
  );
  return { hits, mailboxesSearched: mailboxes.length, messagesScanned: scanned, errors };
}
