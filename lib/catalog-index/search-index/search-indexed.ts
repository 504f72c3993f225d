/**
 * The indexed half of a search: the mailboxes the search index as of the job covers are answered
 * from its segments; search.ts scans the others. Exactly the scan's answer (terms.ts), or no
 * answer at all: an index that is missing, stale or damaged leaves every mailbox to the scan.
 */
import { compareJobIds } from "../../archive/keys.js";
import { listFinalizedJobs } from "../../archive/manifest.js";
import type { ObjectStore } from "../../archive/store.js";
import type { ArchivedMailbox } from "../directory.js";
import type { SearchCriteria, SearchHit } from "../search-criteria.js";
import type { ReadCounter } from "./gzip-members.js";
import { isCurrent, maskedRows, type OpenIndex, openIndex, readIndexManifest } from "./index-manifest.js";
import { matchingRows, newestRows, readRows, type SegmentHits, withoutRows } from "./query.js";
import { type TermTest, termTests } from "./terms.js";

export interface IndexedAnswer {
  /** Mailboxes answered from the index (the rest are to be scanned). */
  covered: Set<string>;
  /** The hits shown (with a limit: enough of them to be the newest `limit` after merging). */
  hits: SearchHit[];
  /** Every hit in the covered mailboxes. */
  total: number;
  /** Items the covered mailboxes hold at the job. */
  rows: number;
  /** Segments searched, and the index's ranged reads (manifest included). */
  segments: number;
  reads: ReadCounter;
}

/**
 * The index as of the job, opened, when there is one that counts: built from the finalized jobs
 * the archive has up to the job now. Undefined when none; throws SearchIndexDamagedError.
 */
export async function currentIndex(
  store: ObjectStore,
  jobId: string,
  counter: ReadCounter,
): Promise<OpenIndex | undefined> {
  const manifest = await readIndexManifest(store, jobId);
  counter.reads++;
  if (!manifest) return undefined;
  const finalized = (await listFinalizedJobs(store)).filter((j) => compareJobIds(j, jobId) <= 0);
  if (!isCurrent(manifest, finalized)) return undefined;
  return openIndex(store, manifest, counter);
}

/** Answers the criteria for the mailboxes the index covers; undefined when it cannot (terms.ts). */
export async function searchIndexed(
  store: ObjectStore,
  index: OpenIndex,
  mailboxes: readonly ArchivedMailbox[],
  criteria: SearchCriteria,
  limit: number | undefined,
  counter: ReadCounter,
): Promise<IndexedAnswer | undefined> {
  const tests = termTests(criteria);
  if (!tests) return undefined;
  const byId = new Map(mailboxes.map((m) => [m.mailboxId, m]));
  const covered = new Set<string>();
  let rows = 0;
  // Per segment, the searched mailboxes it holds.
  const wanted = index.segments.map(() => new Set<string>());
  const live = index.segments.map(() => 0);
  for (const [mailboxId, where] of index.mailboxes) {
    for (const s of where.segments) live[s]!++;
    if (!byId.has(mailboxId)) continue;
    covered.add(mailboxId);
    rows += where.rows;
    for (const s of where.segments) wanted[s]!.add(mailboxId);
  }
  const answer: IndexedAnswer = { covered, hits: [], total: 0, rows, segments: 0, reads: counter };
  const matched: SegmentHits[] = [];
  await Promise.all(
    index.segments.map(async (seg, s) => {
      const mine = wanted[s]!;
      if (mine.size === 0) return;
      answer.segments++;
      // Every row of the segment counts unless some of its mailboxes are excluded or not searched.
      const all = mine.size === live[s] && index.manifest.segments[s]!.exclude.length === 0;
      const mailboxTest: TermTest[] = all ? [] : [{ field: "m", accepts: (t) => mine.has(t) }];
      const matching = await matchingRows(store, seg, [...mailboxTest, ...tests], criteria, counter);
      // Rows a later segment masks (the item changed, moved or removed since) do not count.
      const ids = withoutRows(matching, maskedRows(index, s));
      answer.total += ids.length;
      matched.push({ seg, ids });
    }),
  );
  const shown =
    limit === undefined
      ? (await Promise.all(matched.map((m) => readRows(store, m.seg, m.ids, counter)))).flat()
      : await newestRows(store, matched, limit, counter);
  for (const row of shown)
    answer.hits.push({ mailbox: byId.get(row.m)!, folderPath: row.p, message: row.msg });
  return answer;
}
