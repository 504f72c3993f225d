/**
 * A search result as something to export: the hits of a catalog search across mailboxes, grouped
 * by mailbox and folder (`<mailbox address>/<folder path>`), each group oldest first, so that an
 * mbox file per group reads chronologically like any mail folder.
 */
import type { CatalogDamageError } from "../archive/errors.js";
import type { ObjectStore } from "../archive/store.js";
import { type ArchivedMailbox, mailboxesOf, requireJobs, resolveAt } from "../catalog-index/directory.js";
import { receivedAt } from "../catalog-index/message-fields.js";
import { type SearchCriteria, type SearchHit, searchArchive } from "../catalog-index/search.js";
import type { ExportFolder, ExportSet } from "./export-messages.js";

export interface SearchSelectionRequest {
  criteria: SearchCriteria;
  /**
   * The mailboxes to search, already resolved (see `searchedMailboxes`); every archived mailbox
   * when absent.
   */
  mailboxes?: readonly ArchivedMailbox[];
  /** "latest" (default), a job id, or a date/time. */
  at?: string;
}

export interface SearchSelection extends ExportSet {
  /** The finalized job the search ran as of. */
  jobId: string;
  mailboxesSearched: number;
  messagesScanned: number;
  /** Every hit, newest first (the order `search` prints). */
  hits: SearchHit[];
  /** One group per mailbox and folder holding hits, by mailbox address then folder path. */
  folders: ExportFolder[];
  /** Damaged catalog lines met (skipped; the rest was searched). */
  errors: CatalogDamageError[];
}

/** Runs the search as of a job and groups its hits for {@link exportSelection}. */
export async function selectSearchHits(
  store: ObjectStore,
  request: SearchSelectionRequest,
): Promise<SearchSelection> {
  const jobs = await requireJobs(store);
  const jobId = resolveAt(jobs, request.at);
  const mailboxes = request.mailboxes ?? mailboxesOf(jobs);
  const result = await searchArchive(store, mailboxes, request.criteria, { at: jobId });
  return {
    jobId,
    mailboxesSearched: result.mailboxesSearched,
    messagesScanned: result.messagesScanned,
    hits: result.hits,
    folders: groupHits(result.hits),
    count: result.hits.length,
    errors: result.errors,
  };
}

/** Hits grouped by `<mailbox address>/<folder path>`, groups sorted by that path, messages oldest first. */
export function groupHits(hits: readonly SearchHit[]): ExportFolder[] {
  const groups = new Map<string, { path: string; messages: SearchHit["message"][] }>();
  for (const hit of hits) {
    const path = `${hit.mailbox.address}/${hit.folderPath}`;
    let group = groups.get(path);
    if (!group) {
      group = { path, messages: [] };
      groups.set(path, group);
    }
    group.messages.push(hit.message);
  }
  const byTime = (a: SearchHit["message"], b: SearchHit["message"]) =>
    (receivedAt(a.meta) || 0) - (receivedAt(b.meta) || 0) || (a.messageId < b.messageId ? -1 : 1);
  return [...groups.values()]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((g) => ({ path: g.path, messages: g.messages.sort(byTime) }));
}
