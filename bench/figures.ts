/**
 * The benchmark's arithmetic, apart from its runs so that it can be tested: the work of a full
 * backup as the simulator serves it (the input of LB), and the figures of one run.
 */

import { fewestExportRequests } from "../lib/backup/export-batches.js";
import type { JobReport } from "../lib/backup/report.js";
import type { GroundTruth } from "../lib/dev/sim/index.js";
import { folderRead, type ListedMailbox, type MailContent, type WorkEstimate } from "../lib/plan/index.js";

/** The simulated service as the work model needs it. */
export interface ServiceModel {
  /** Seconds per request, before its bytes. */
  perRequestSeconds: number;
  /** Seconds per MIME byte. */
  perByteSeconds: number;
  /** Items per delta page. */
  pageSize: number;
}

export interface GraphCounters {
  requests: number;
  throttled: number;
  earlyRetries: number;
  /** Inner requests of `$batch`es (each also in `requests`); absent where not read. */
  batchedRequests?: number;
  /** `$batch` envelopes (each also once in `requests`); absent where not read. */
  batches?: number;
}

export interface RunFigures {
  makespanSeconds: number;
  /** Job created → stream tasks sent (discovery, folder listing, planning). */
  planningSeconds: number;
  /** Stream tasks sent → last unit ended: the streams' work, which LB bounds. */
  backupSeconds: number;
  /** Last unit ended → job ended (report, manifest, sync-state promotion). */
  finalizingSeconds: number;
  items: number;
  bytes: number;
  itemsPerSecond: number;
  megabytesPerSecond: number;
  /** Graph requests as Graph counts them: a `$batch` is its inner requests (since session 15). */
  requests: number;
  requestsPerItem: number;
  throttled: number;
  throttledShare: number;
  earlyRetries: number;
  /**
   * HTTP exchanges the simulator served: `requests` less the inner requests of `$batch`es (a
   * batch counts once). Absent where the counters did not say.
   */
  roundTrips?: number;
  /** Σ over streams of seconds without a unit between the job's start and end. */
  streamIdleSeconds: number;
  /** Mean idle share of a stream: idle / (N × makespan). */
  streamIdleShare: number;
  status: string;
}

/**
 * The tenant's real content, and the work of a full backup exactly as the simulator serves it to
 * the stack. Without `mailContent` (the model before item kinds): the primary mailbox's mail
 * folders only, per folder one `$value` GET per item and max(1, ⌈items / page size⌉) delta pages
 * (the last page carries the deltaLink), search folders left out. With `mailContent`: every
 * folder of both mailboxes as the coordinator lists them (search folders included: the
 * import/export API does not tell them apart, so each costs its one empty page), read as that
 * content mode reads it (lib/plan `folderRead`): `m` message delta pages and one `$value` per
 * message; `p`, `a` item delta pages; `b` both. Exports: a unit pools the export requests of all
 * its folders of a mailbox, so each mailbox (primary, archive, and an auto-expanding archive's
 * auxiliary mailbox, since one request carries one mailbox's items) counts the fewest requests
 * that can carry its items (`fewestExportRequests`: ≤ 20 items and 8 MiB per request, an item above 4 MiB
 * alone), which no batching beats.
 * Bytes: MIME for `$value`, export streams for exports. Discovery (probe, folder listing) is
 * the coordinator's, before the streams start: it is not stream work, so it is not in LB (the
 * planning phase is reported apart). `only`: the addresses of the mailboxes backed up (default all).
 */
export function realContent(
  truth: GroundTruth,
  service: ServiceModel & { only?: ReadonlySet<string> | undefined; mailContent?: MailContent },
): { works: WorkEstimate[]; items: number; folders: number; addresses: string[] } {
  let items = 0;
  let folders = 0;
  const mailboxes = truth.mailboxes.filter((m) => !service.only || service.only.has(m.address));
  const works = mailboxes.map((m) => {
    const work = { requests: 0, bytes: 0 };
    if (service.mailContent === undefined) {
      for (const f of m.folders) {
        if (f.isSearchFolder) continue;
        items += f.messages.length;
        folders++;
        addMimeReads(work, f.messages, service.pageSize);
      }
    } else {
      const mailFolders = new Map(m.folders.map((f) => [f.id, f]));
      // A unit pools the export requests of its folders per mailbox (lib/backup/export-pool.ts),
      // and one request carries the items of one mailbox only: an auto-expanding archive's folder
      // keeps its items in an auxiliary mailbox (`itemsMailboxId`), exported by requests of its own.
      const exported = new Map<string, Array<{ size: number }>>();
      const exportsOf = (mailboxId: string) => {
        const list = exported.get(mailboxId) ?? [];
        exported.set(mailboxId, list);
        return list;
      };
      for (const f of m.mailboxFolders) {
        const read = folderRead({ mailbox: f.mailbox, folderClass: f.type }, service.mailContent);
        folders++;
        items += f.items.length;
        if (read === "p" || read === "a") {
          work.requests += pagesOf(f.items, service.pageSize).length;
          // An auto-expanded archive folder: its first delta request, through the main archive
          // (no listing tells the client where the items live), answers 308 to the auxiliary
          // mailbox; the round's next links name that mailbox.
          if (f.mailbox === "archive" && m.archiveMailboxId && f.itemsMailboxId !== m.archiveMailboxId)
            work.requests += 1;
          for (const x of f.items) {
            work.bytes += x.size;
            exportsOf(f.itemsMailboxId).push(x);
          }
          continue;
        }
        const messages = mailFolders.get(f.id)?.messages ?? [];
        addMimeReads(work, messages, service.pageSize);
        if (read === "b") {
          // Mode both: each stored message exported too (batched by its MIME size, as the unit does).
          const exportSize = new Map(f.items.map((i) => [i.id, i.size]));
          for (const x of messages) {
            work.bytes += exportSize.get(x.id) ?? 0;
            exportsOf(f.itemsMailboxId).push(x);
          }
        }
      }
      for (const list of exported.values()) work.requests += fewestExportRequests(list);
    }
    return {
      requests: work.requests,
      serialSeconds: work.requests * service.perRequestSeconds + work.bytes * service.perByteSeconds,
    };
  });
  return { works, items, folders, addresses: mailboxes.map((m) => m.address) };
}

/**
 * The coordinator's listing of a ground-truth mailbox, every folder of both mailboxes, as the
 * planner takes it: a mail folder read as MIME is listed by its message count (mailFolders), the
 * others by their item count; no sync state.
 */
export function listedFromTruth(
  m: GroundTruth["mailboxes"][number],
  mailContent: MailContent,
): ListedMailbox {
  const messages = new Map(m.folders.map((f) => [f.id, f.messages.length]));
  return {
    mailbox: { userId: m.userId, address: m.address },
    folders: m.mailboxFolders.map((f) => {
      const read = folderRead({ mailbox: f.mailbox, folderClass: f.type }, mailContent);
      return {
        id: f.id,
        path: f.path,
        totalItemCount: read === "m" || read === "b" ? (messages.get(f.id) ?? 0) : f.items.length,
        isSearchFolder: false,
        mailbox: f.mailbox,
        folderClass: f.type,
      };
    }),
    syncedFolderIds: new Set(),
  };
}

/** A folder's items in delta pages: max(1, ⌈items / page size⌉) pages (an empty folder still answers one). */
function pagesOf<T>(list: readonly T[], pageSize: number): T[][] {
  const pages: T[][] = [];
  for (let at = 0; at < list.length; at += pageSize) pages.push(list.slice(at, at + pageSize));
  return pages.length > 0 ? pages : [[]];
}

/** Message delta pages and one `$value` per message, with its MIME bytes. */
function addMimeReads(
  work: { requests: number; bytes: number },
  messages: ReadonlyArray<{ size: number }>,
  pageSize: number,
): void {
  work.requests += pagesOf(messages, pageSize).length + messages.length;
  for (const x of messages) work.bytes += x.size;
}

/** The figures of one run from its job report and the simulator's counters before and after it. */
export function figures(
  report: JobReport,
  before: GraphCounters,
  after: GraphCounters,
  streams: number,
): RunFigures {
  const makespan = report.makespanSeconds;
  const items = report.totals.items;
  // Graph's count: a `$batch` is its inner requests (the simulator counts its envelope once more).
  const envelopes =
    after.batches !== undefined && before.batches !== undefined ? after.batches - before.batches : 0;
  const served = after.requests - before.requests;
  const requests = served - envelopes;
  const throttled = after.throttled - before.throttled;
  const idle = report.streams.reduce((s, x) => s + x.idleSeconds, 0);
  // Streams that never got a unit do not appear in the report: they idled the whole job.
  const unusedIdle = Math.max(0, streams - report.streams.length) * makespan;
  return {
    makespanSeconds: makespan,
    planningSeconds: report.phases.planningSeconds,
    backupSeconds: report.phases.backupSeconds,
    finalizingSeconds: report.phases.finalizingSeconds,
    items,
    bytes: report.totals.bytes,
    itemsPerSecond: makespan > 0 ? items / makespan : 0,
    megabytesPerSecond: makespan > 0 ? report.totals.bytes / 1e6 / makespan : 0,
    requests,
    requestsPerItem: items > 0 ? requests / items : 0,
    throttled,
    throttledShare: requests > 0 ? throttled / requests : 0,
    earlyRetries: after.earlyRetries - before.earlyRetries,
    ...(after.batchedRequests !== undefined && before.batchedRequests !== undefined
      ? { roundTrips: served - (after.batchedRequests - before.batchedRequests) }
      : {}),
    streamIdleSeconds: idle + unusedIdle,
    streamIdleShare: makespan > 0 ? (idle + unusedIdle) / (streams * makespan) : 0,
    status: report.status,
  };
}
