/**
 * The job planner: from each mailbox's folders to units, their order and the stream count.
 *
 * 1. Estimate every mailbox (cost.ts): full or incremental passes of its non-search folders.
 * 2. Target = the lower bound with `maxStreams` streams. A mailbox whose single unit would end
 *    after the target is split into folder groups that run at once (split.ts), when that is
 *    faster; with the default C_stream = C one stream fills a mailbox and nothing is split.
 * 3. Units are ordered longest first (estimated seconds, then cost): streams pull them in that
 *    order, so the long ones start at once and the short ones fill the gaps (LPT list scheduling).
 * 4. N = the fewest streams whose simulated makespan is within `makespanTolerance` of the one
 *    with min(maxStreams, units) streams: streams that would only idle are not started.
 * 5. The predicted makespan is the simulation of dynamic assignment with N streams
 *    (simulate.ts); the lower bound is reported for N.
 */
import { FatalError } from "../errors.js";
import { folderWork, mailboxMinimumSeconds, mailboxStreamSeconds, mailboxWork, workSeconds } from "./cost.js";
import { type PlanLimits, resolvePlanLimits } from "./limits.js";
import { lowerBound } from "./lower-bound.js";
import { simulateSchedule } from "./simulate.js";
import { type FolderWork, splitMailbox } from "./split.js";
import type { MailboxPlan, Plan, PlanMailbox, Unit, WorkEstimate } from "./types.js";

export interface PlanInput {
  mailboxes: readonly PlanMailbox[];
  /** Missing fields take the defaults of `defaultPlanLimits`. */
  limits?: Partial<PlanLimits>;
}

function validate(mailboxes: readonly PlanMailbox[]): void {
  const seen = new Set<string>();
  for (const mailbox of mailboxes) {
    if (seen.has(mailbox.mailboxId)) {
      throw new FatalError(`planJob: expected each mailbox once, found ${mailbox.mailboxId} twice`);
    }
    seen.add(mailbox.mailboxId);
    const folders = new Set<string>();
    for (const folder of mailbox.folders) {
      if (folders.has(folder.folderId)) {
        throw new FatalError(
          `planJob: expected each folder once per mailbox, found ${folder.folderId} twice in ${mailbox.mailboxId}`,
        );
      }
      folders.add(folder.folderId);
      const counts = [folder.totalItemCount, folder.sizeBytes ?? 0, folder.estimatedChangedItems ?? 0];
      if (counts.some((n) => !(Number.isFinite(n) && n >= 0))) {
        throw new FatalError(
          `planJob: expected item counts and sizes ≥ 0 for folder ${folder.folderId} of ${mailbox.mailboxId}, found ${counts.join(", ")}`,
        );
      }
    }
  }
}

type UnitDraft = Omit<Unit, "index">;

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Longest first; ties by cost, then mailbox and first folder so that equal input plans equally. */
function compareUnits(a: UnitDraft, b: UnitDraft): number {
  return (
    b.estimatedSeconds - a.estimatedSeconds ||
    b.cost - a.cost ||
    compareText(a.mailboxId, b.mailboxId) ||
    compareText(a.folderIds[0] ?? "", b.folderIds[0] ?? "")
  );
}

/** The fewest streams (≤ max) whose makespan is within `tolerance` of the makespan with `max`. */
function chooseStreams(
  units: readonly Unit[],
  estimates: readonly WorkEstimate[],
  max: number,
  limits: PlanLimits,
): number {
  const lanes = (n: number) => n * limits.unitsPerStream;
  const acceptable =
    // (1e-9: the same schedule's end computed along another path of the simulation.)
    simulateSchedule(units, lanes(max), limits).makespanSeconds * (1 + limits.makespanTolerance + 1e-9);
  const goodEnough = (n: number) => simulateSchedule(units, lanes(n), limits).makespanSeconds <= acceptable;
  // The lower bound falls with N and no N whose bound exceeds the acceptable makespan can do:
  // find the first N within it by its (cheap) bound, then search the simulations above it.
  const smallest = (from: number, ok: (n: number) => boolean): number => {
    let low = from;
    let high = max;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      if (ok(mid)) high = mid;
      else low = mid + 1;
    }
    return low;
  };
  const low = smallest(1, (n) => lowerBound(estimates, lanes(n), limits) <= acceptable);
  // List scheduling is close to monotone in N: a binary search costs log2(max) simulations.
  return smallest(low, goodEnough);
}

/** Plans a job: units (largest first), the stream count, the predicted makespan and its bound. */
export function planJob(input: PlanInput): Plan {
  const limits = resolvePlanLimits(input.limits);
  validate(input.mailboxes);
  const estimates: WorkEstimate[] = input.mailboxes.map((m) => mailboxWork(m, limits));
  const target = lowerBound(estimates, limits.maxStreams * limits.unitsPerStream, limits);

  const drafts: UnitDraft[] = [];
  const draftMailbox: number[] = [];
  input.mailboxes.forEach((mailbox, m) => {
    const folders: FolderWork[] = mailbox.folders
      .filter((f) => !f.isSearchFolder)
      .map((f) => ({ folderId: f.folderId, work: folderWork(f, limits) }));
    const split = splitMailbox(folders, target, limits);
    const kind = split.groups.length > 1 ? "folders" : "mailbox";
    const readOf = new Map(mailbox.folders.map((f) => [f.folderId, f.read ?? "m"]));
    for (const group of split.groups) {
      drafts.push({
        mailboxId: mailbox.mailboxId,
        folderIds: group.folderIds,
        folderReads: group.folderIds.map((id) => readOf.get(id) ?? "m").join(""),
        cost: group.work.requests,
        serialSeconds: group.work.serialSeconds,
        estimatedSeconds:
          workSeconds(group.work, split.concurrency, split.budgetShare, limits) + limits.unitOverheadSeconds,
        concurrency: split.concurrency,
        kind,
      });
      draftMailbox.push(m);
    }
  });

  const order = drafts.map((_, i) => i).sort((a, b) => compareUnits(drafts[a]!, drafts[b]!));
  const units: Unit[] = order.map((d, index) => ({ index, ...drafts[d]! }));
  const unitIndexes: number[][] = input.mailboxes.map(() => []);
  order.forEach((d, index) => {
    unitIndexes[draftMailbox[d]!]!.push(index);
  });

  // A stream runs `unitsPerStream` units at once: it is that many lanes of the schedule.
  const k = limits.unitsPerStream;
  const streams =
    units.length === 0
      ? 0
      : chooseStreams(units, estimates, Math.min(limits.maxStreams, Math.ceil(units.length / k)), limits);
  const predictedMakespanSeconds =
    streams === 0 ? 0 : simulateSchedule(units, streams * k, limits).makespanSeconds;
  const perMailbox: MailboxPlan[] = input.mailboxes.map((mailbox, m) => ({
    mailboxId: mailbox.mailboxId,
    address: mailbox.address,
    cost: estimates[m]!.requests,
    serialSeconds: estimates[m]!.serialSeconds,
    minimumSeconds: mailboxMinimumSeconds(estimates[m]!, limits),
    unitIndexes: unitIndexes[m]!,
    excludedFolderIds: mailbox.folders.filter((f) => f.isSearchFolder).map((f) => f.folderId),
  }));
  return {
    units,
    streams,
    predictedMakespanSeconds,
    lowerBoundSeconds: streams === 0 ? 0 : lowerBound(estimates, streams * k, limits),
    totalCost: units.reduce((sum, u) => sum + u.cost, 0),
    perMailbox,
    work: {
      streamSeconds: estimates.reduce((sum, w) => sum + mailboxStreamSeconds(w, limits), 0),
      mailboxSeconds: estimates.reduce((max, w) => Math.max(max, mailboxMinimumSeconds(w, limits)), 0),
    },
  };
}
