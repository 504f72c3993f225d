/**
 * The cost model of a backup job, shared by the planner, its simulation and the benchmark.
 *
 * Graph limits each app, per mailbox, to C concurrent requests (default 4) and B requests per
 * window of W seconds (default 10,000 per 600 s); mailboxes do not limit each other. A request
 * takes L seconds (`requestLatencySeconds`) plus `perByteSeconds` per MIME byte it carries.
 *
 * Work. A piece of work (folder, folder group, mailbox) is a {@link WorkEstimate}: q requests and
 * s = q × L + bytes × perByteSeconds seconds of back-to-back request time, so its effective
 * latency is L_eff = s / q.
 * - Full pass of a folder: max(1, ceil(items / pageSize)) delta pages (the last page, the one
 *   carrying the delta link, also carries items; an empty folder answers one empty page), plus
 *   its content by how the folder is read (`FolderRead`): `m` one `$value` GET per
 *   item; `p`, `a` its share of the unit's pooled `exportItems` requests, items / `exportBatchSize`
 *   (20), the requests of a unit carrying the items of all its folders; `b` both. Bytes =
 *   the folder's size when known, else items × `averageItemBytes`, once per kind of content.
 * - Incremental pass (the folder has a sync state): the same with the changed items instead of
 *   all items. Changes are unknown beforehand: the folder's own estimate when the caller has one,
 *   else ceil(changeRatio × items). An unchanged folder costs 1 request. Bytes scale with the
 *   share of items changed.
 * - Mailbox: Σ of its non-search folders. Search folders hold no items of their own and cost
 *   nothing. Discovery (probe, mailbox ids, folder listings) is the coordinator's, made before the
 *   plan exists and before any unit starts: it is in no unit's work (a unit makes exactly its
 *   folders' pages and content requests, test/unit/plan/estimate-vs-service.test.ts).
 * - A unit also holds its stream for `unitOverheadSeconds` besides its requests (its completion
 *   and the next claim, as far as the stream runner's lookahead does not overlap them with
 *   requests; limits.ts): the schedule (simulate.ts) counts it, LB does not.
 *
 * Rates. With concurrency c, work runs at r = c / L_eff requests/s. The budget allows
 * β = B / W requests/s in the long run; a mailbox that starts fresh has one window's allowance
 * of B requests before the budget binds (Graph counts the window per mailbox, so a mailbox under
 * B requests is never budget-limited). Work (q, s) alone on its mailbox, at concurrency c with a
 * share σ of the mailbox's budget and allowance, therefore takes
 *
 *     t = s / c                               if q ≤ σB or r ≤ σβ (the budget never binds)
 *     t = σB / r + (q − σB) / (σβ)            otherwise (burst, then the budget rate)
 *
 * which is the brief's cost / min(C / L_eff, B / W) with the first window's burst credited, and
 * exactly what the simulation (simulate.ts) does with a unit that runs alone on its mailbox.
 * This is a model: a fixed window (as in the simulator) can let a mailbox that works across a
 * window boundary briefly exceed β, so measured times of budget-bound mailboxes may beat it by
 * up to about one window.
 *
 * Lower bound. Every request holds one of the mailbox's C slots for at least L, the allowance
 * holds B requests, and after it the mailbox gets at most β. So mailbox m takes at least
 *
 *     T_m = max( s_m / C , min(q_m, B)·L / C + max(0, q_m − B) / β , (k − 1)·W + r·L / C )
 *
 * where the last term counts whole windows: the service's window starts with the mailbox's first
 * request (sliding, or anchored there as in the simulator), so q_m requests need
 * k = ⌈q_m / B⌉ windows, the last one starting (k − 1)·W later with r = q_m − (k − 1)·B
 * requests left; it is never below the fluid term and no client can beat it (the budget-bound
 * regime; unit estimates count it too) (exact for a mailbox without bytes planned as one unit). One stream runs at most C_stream
 * (`perStreamConcurrency`) requests, so m occupies streams for at least S_m, the same with
 * C_stream in place of C. With N streams:
 *
 *     LB = max( max_m T_m , Σ_m S_m / N )
 *
 * the brief's max(max cost / R_mbx, Σ cost / (N × R_stream)), per mailbox so that each mailbox's
 * own effective latency counts, and valid for any split of a mailbox into units.
 * Slot shares (plan.ts): a stream runs units side by side while their shares fit its C_stream
 * slots, so a unit of a share w < C_stream occupies only w of them. S_m stays a bound: the
 * planner gives such shares only to mailboxes of at most B requests, for which S_m = s_m / C_stream
 * (the slot-seconds of its requests over a stream's slots), whatever the shares; a mailbox that
 * may be budget-bound waits for its budget on a whole stream, as S_m counts it.
 */
import { budgetRate, type PlanLimits } from "./limits.js";
import type { FolderRead, PlanFolder, PlanMailbox, WorkEstimate } from "./types.js";

export const noWork: Readonly<WorkEstimate> = Object.freeze({ requests: 0, serialSeconds: 0 });

export function addWork(a: WorkEstimate, b: WorkEstimate): WorkEstimate {
  return { requests: a.requests + b.requests, serialSeconds: a.serialSeconds + b.serialSeconds };
}

/** The kinds of content a folder's read transfers: MIME per item, export streams in batches. */
function contentOf(read: FolderRead): { mime: boolean; exports: boolean } {
  return { mime: read === "m" || read === "b", exports: read !== "m" };
}

/**
 * A folder's export requests in a pass of `items` items: a unit pools the export requests of all
 * its folders of a mailbox (lib/backup/export-pool.ts), so a folder's share is its items / batch
 * size, not a whole request per folder; 0 where its read exports nothing (`m`).
 */
export function exportRequests(items: number, read: FolderRead, limits: PlanLimits): number {
  return contentOf(read).exports ? items / limits.exportBatchSize : 0;
}

function passWork(items: number, bytes: number, read: FolderRead, limits: PlanLimits): WorkEstimate {
  const content = contentOf(read);
  const copies = (content.mime ? 1 : 0) + (content.exports ? 1 : 0);
  const requests =
    Math.max(1, Math.ceil(items / limits.pageSize)) +
    (content.mime ? items : 0) +
    exportRequests(items, read, limits);
  return {
    requests,
    serialSeconds: requests * limits.requestLatencySeconds + copies * bytes * limits.perByteSeconds,
  };
}

/** Items expected in a folder's next pass: all of them, or the changes since its sync state. */
export function itemsToTransfer(folder: PlanFolder, limits: PlanLimits): number {
  if (!folder.hasSyncState) return folder.totalItemCount;
  const estimate = folder.estimatedChangedItems ?? Math.ceil(limits.changeRatio * folder.totalItemCount);
  return Math.max(0, estimate);
}

/** The work of one folder's next pass; search folders cost nothing. */
export function folderWork(folder: PlanFolder, limits: PlanLimits): WorkEstimate {
  if (folder.isSearchFolder) return { ...noWork };
  const items = itemsToTransfer(folder, limits);
  const total = folder.totalItemCount;
  // Changed items are assumed to be of the folder's average size.
  const bytes =
    folder.sizeBytes === undefined
      ? items * limits.averageItemBytes
      : total === 0
        ? 0
        : (folder.sizeBytes * Math.min(items, total)) / total;
  return passWork(items, bytes, folder.read ?? "m", limits);
}

/** The work of a whole mailbox's units: its non-search folders (discovery is not a unit's). */
export function mailboxWork(mailbox: PlanMailbox, limits: PlanLimits): WorkEstimate {
  return mailbox.folders.reduce((sum, f) => addWork(sum, folderWork(f, limits)), { ...noWork });
}

/**
 * Seconds for `work` alone on its mailbox at `concurrency` concurrent requests with a
 * `budgetShare` σ (0 < σ ≤ 1) of the mailbox's budget and allowance (the unit estimate).
 */
export function workSeconds(
  work: WorkEstimate,
  concurrency: number,
  budgetShare: number,
  limits: PlanLimits,
): number {
  if (work.requests <= 0) return 0;
  const concurrencySeconds = work.serialSeconds / concurrency;
  const allowance = budgetShare * limits.budgetPerWindow;
  const budget = budgetShare * budgetRate(limits);
  const rate = work.requests / concurrencySeconds;
  if (work.requests <= allowance || rate <= budget) return concurrencySeconds;
  // Whole windows of σB requests (≥ the fluid burst-then-B/W model, and what simulate.ts does).
  const fluid = allowance / rate + (work.requests - allowance) / budget;
  return Math.max(
    fluid,
    windowedSeconds(work.requests, allowance, concurrencySeconds / work.requests, limits),
  );
}

/**
 * Seconds for `requests` when the service counts them in windows of W seconds holding
 * `perWindow` requests each, the first window starting with the first request (a sliding window
 * or one anchored at the first request, as Outlook's and the simulator's are): k = ⌈q / perWindow⌉
 * windows, the last one starting (k − 1) W after the first request and holding the
 * r = q − (k − 1) perWindow requests left, which take r × `secondsPerRequest` at least. The fluid
 * model (a burst, then B / W) can be up to one window below it and no client can reach it.
 */
function windowedSeconds(
  requests: number,
  perWindow: number,
  secondsPerRequest: number,
  limits: PlanLimits,
): number {
  const windows = Math.ceil(requests / Math.max(1, perWindow));
  const last = requests - (windows - 1) * perWindow;
  return (windows - 1) * limits.windowSeconds + last * secondsPerRequest;
}

/**
 * The least time `work` can take with `concurrency` request slots and its mailbox's whole budget,
 * however it is cut into units: each request holds a slot ≥ L, then the budget rate binds.
 */
export function minimumWorkSeconds(work: WorkEstimate, concurrency: number, limits: PlanLimits): number {
  if (work.requests <= 0) return 0;
  const burst =
    (Math.min(work.requests, limits.budgetPerWindow) * limits.requestLatencySeconds) / concurrency;
  const afterBurst = Math.max(0, work.requests - limits.budgetPerWindow) / budgetRate(limits);
  const windowed = windowedSeconds(
    work.requests,
    limits.budgetPerWindow,
    limits.requestLatencySeconds / concurrency,
    limits,
  );
  return Math.max(work.serialSeconds / concurrency, burst + afterBurst, windowed);
}

/** T_m: the least time a mailbox's work can take, with all of its concurrency and budget. */
export function mailboxMinimumSeconds(work: WorkEstimate, limits: PlanLimits): number {
  return minimumWorkSeconds(work, limits.perMailboxConcurrency, limits);
}

/** S_m: the least stream time a mailbox's work occupies (one stream runs ≤ C_stream requests). */
export function mailboxStreamSeconds(work: WorkEstimate, limits: PlanLimits): number {
  return minimumWorkSeconds(work, limits.perStreamConcurrency, limits);
}
