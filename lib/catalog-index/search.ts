/**
 * Search across mailboxes from the catalog's metadata alone: each mailbox's point-in-time view
 * (a replay that starts from the newest snapshot) is filtered on the `meta` Graph delivered
 * (from, recipients, subject, dates, hasAttachments). No blob is read (except the header block of
 * the rare message whose properties lack a sender or a time: message-fields.ts), so the cost is
 * the catalog's size, not the archive's.
 */
import type { CatalogDamageError } from "../archive/errors.js";
import { FinalizedJobCache, listFinalizedJobs } from "../archive/manifest.js";
import { mailboxViewAt } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import type { ArchivedMailbox } from "./directory.js";
import { SearchIndexDamagedError } from "./errors.js";
import { folderFilterPath, inFolder, kindOf, recipientTexts, senderText, titleText } from "./match-text.js";
import { completeMeta, lacksFields, receivedAt } from "./message-fields.js";
import type { SearchCriteria, SearchHit } from "./search-criteria.js";
import { currentIndex, type IndexedAnswer, searchIndexed } from "./search-index/search-indexed.js";

export type { SearchCriteria, SearchHit } from "./search-criteria.js";

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

export { kindOf } from "./match-text.js";

export { receivedAt } from "./message-fields.js";

/** Whether one message (its meta and folder path) matches every criterion given. */
export function messageMatches(
  meta: Record<string, unknown>,
  folderPath: string,
  c: SearchCriteria,
): boolean {
  if (c.kind !== undefined && kindOf(meta) !== c.kind) return false;
  // The sender of mail, the organizer of an event.
  if (c.from !== undefined && !senderText(meta).includes(c.from.toLowerCase())) return false;
  if (c.to !== undefined) {
    const needle = c.to.toLowerCase();
    if (!recipientTexts(meta).some((r) => r.includes(needle))) return false;
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
    if (!inFolder(folderPath.toLowerCase(), folderFilterPath(c.folder))) return false;
  }
  if (c.hasAttachments !== undefined && Boolean(meta.hasAttachments) !== c.hasAttachments) return false;
  return true;
}

export interface SearchOptions {
  /** The job to search as of (a finalized job id, or "latest"). */
  at: string;
  /** Mailboxes replayed at once. Range 1–64, default 8. */
  concurrency?: number;
  /**
   * Hits kept, newest first; `total` still counts them all. Range ≥ 0, default all (an export
   * needs every hit; `search` shows 100).
   */
  limit?: number;
  /**
   * Answer the mailboxes the search index covers from it (search-index/), when an index as of
   * the job exists and is current. Default true; false scans every mailbox.
   */
  useIndex?: boolean;
}

export interface SearchResult {
  /** Newest first (by received time), then by mailbox and message id; at most `limit`. */
  hits: SearchHit[];
  /** Every hit, also those beyond `limit`. */
  total: number;
  mailboxesSearched: number;
  /** Items searched: those scanned and those the index answered for. */
  messagesScanned: number;
  /** Damaged catalog lines met on the way (skipped; the rest was searched). */
  errors: CatalogDamageError[];
  /** How much the index answered (absent: no current index as of the job, or not used). */
  index?: { mailboxes: number; items: number; segments: number; reads: number; bytes: number };
  /** Why the index was not used although present (damaged), for the user. */
  notes: string[];
}

/** Newest first, then by mailbox address, then by message id. */
function compareHits(a: SearchHit, b: SearchHit): number {
  return (
    (receivedAt(b.message.meta) || 0) - (receivedAt(a.message.meta) || 0) ||
    a.mailbox.address.localeCompare(b.mailbox.address) ||
    (a.message.messageId < b.message.messageId ? -1 : 1)
  );
}

/** Searches the given mailboxes as of a job: from the search index where it covers them, else by scanning. */
export async function searchArchive(
  store: ObjectStore,
  mailboxes: readonly ArchivedMailbox[],
  criteria: SearchCriteria,
  opts: SearchOptions,
): Promise<SearchResult> {
  const notes: string[] = [];
  let indexed: IndexedAnswer | undefined;
  if (opts.useIndex !== false && mailboxes.length > 0) {
    const counter = { reads: 0, bytes: 0 };
    try {
      const at = opts.at === "latest" ? (await listFinalizedJobs(store)).at(-1) : opts.at;
      const index = at ? await currentIndex(store, at, counter) : undefined;
      if (index) indexed = await searchIndexed(store, index, mailboxes, criteria, opts.limit, counter);
    } catch (error) {
      if (!(error instanceof SearchIndexDamagedError)) throw error;
      notes.push(`${error.message}; searched by scanning the catalog instead`);
      indexed = undefined;
    }
  }
  const rest = indexed ? mailboxes.filter((m) => !indexed.covered.has(m.mailboxId)) : mailboxes;
  const scanned = await scanMailboxes(store, rest, criteria, opts);
  const hits = [...(indexed?.hits ?? []), ...scanned.hits].sort(compareHits);
  return {
    hits: opts.limit === undefined ? hits : hits.slice(0, opts.limit),
    total: scanned.hits.length + (indexed?.total ?? 0),
    mailboxesSearched: mailboxes.length,
    messagesScanned: scanned.scanned + (indexed?.rows ?? 0),
    errors: scanned.errors,
    ...(indexed
      ? {
          index: {
            mailboxes: indexed.covered.size,
            items: indexed.rows,
            segments: indexed.segments,
            reads: indexed.reads.reads,
            bytes: indexed.reads.bytes,
          },
        }
      : {}),
    notes,
  };
}

/** Replays each mailbox's point-in-time view and filters its items. */
async function scanMailboxes(
  store: ObjectStore,
  mailboxes: readonly ArchivedMailbox[],
  criteria: SearchCriteria,
  opts: SearchOptions,
): Promise<{ hits: SearchHit[]; scanned: number; errors: CatalogDamageError[] }> {
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
  return { hits, scanned, errors };
}
