/**
 * The job planner: from each mailbox's folders to units, their order and the stream count.
 *
 * 1. Estimate every mailbox (cost.ts): full or incremental passes of its non-search folders.
 * 2. Target = the lower bound with `maxStreams` streams. A mailbox whose single unit would end
 *    after the target is split into folder groups that run at once (split.ts), when that is
 *    faster; with the default C_stream = C one stream fills a mailbox and nothing is split.
 * 3. Units are ordered longest first (estimated seconds, then cost): streams pull them in that
 *    order, so the long ones start at once and the short ones fill the gaps (LPT list scheduling).
 *    Planned slot shares: when those whole units leave the schedule over LB (too few or too long
 *    to fill every stream to the end), a mailbox that needs fewer than a stream's C_stream slots
 *    gets only those (its `concurrency`, a share of its mailbox's C), cut into folder groups of
 *    4, 2 and 1 slots where needed (split.ts `shareMailbox`), and a stream runs units side by
 *    side while their shares fit its slots (simulate.ts); the faster plan, simulated, wins.
 *    Tail fillers: when the best plan still ends over LB (whole units of about LB / 2 each leave
 *    some streams a unit longer than others), the last mailboxes of its order are cut into a main
 *    unit of half a stream's slots, in the whole unit's place, and a filler of the other half with
 *    its smallest folders, run after every other unit (split.ts `cutFiller`): the streams that end
 *    early take the fillers, and the streams end together; the fastest plan, simulated, wins.
 *    Balanced start order: whole-stream units of 2–3 a stream, which LPT leaves up to a unit apart,
 *    are assigned to the streams by a local search and ordered by when that assignment starts
 *    them, so that pulling them reproduces it (waves.ts); kept when its simulation is faster.
 *    Slot packing (`slotPacking`, off by default): the mailboxes that fit C slots' room laid out
 *    along the streams' slots in one-slot folder groups that fill every slot to a common finish,
 *    ordered by their start in the layout (slot-pack.ts); kept when its simulation is ≥ 5 % faster.
 *    Stream bins (`streamBins`, on by default): the mailboxes packed into the streams by
 *    slot-seconds, every unit a start unit dealt as packed, a stream's whole mailboxes borrowing
 *    the slots its other units leave (bins.ts, `maxConcurrency`); kept when ≥ 10 % faster, and
 *    then N is the bins' count.
 * 4. N = the fewest streams whose simulated makespan is within `makespanTolerance` of the one
 *    with min(maxStreams, units) streams: streams that would only idle are not started. (Simulated
 *    with at least 0.5 s a unit, so that small units are not doubled up to save a stream.)
 * 5. The predicted makespan is the simulation of dynamic assignment with N streams
 *    (simulate.ts); the lower bound is reported for N.
 */
import { FatalError } from "../errors.js";
import { type BinMailbox, binDealOrder, fewestRequests, packStreamBins, type RoundRoom } from "./bins.js";
import {
  exportRequests,
  folderWork,
  itemsToTransfer,
  mailboxMinimumSeconds,
  mailboxStreamSeconds,
  mailboxWork,
  workSeconds,
} from "./cost.js";
import { type PlanLimits, resolvePlanLimits } from "./limits.js";
import { lowerBound } from "./lower-bound.js";
import { simulateSchedule } from "./simulate.js";
import { type Lane, packable, packSlots, pieceOrder } from "./slot-pack.js";
import {
  cutFiller,
  type FolderGroup,
  type FolderWork,
  mayShare,
  shareMailbox,
  slotsWithin,
  splitMailbox,
} from "./split.js";
import type { MailboxPlan, Plan, PlanFolder, PlanMailbox, Unit, WorkEstimate } from "./types.js";
import { balanceStreams, startOrder } from "./waves.js";

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

/**
 * Plans of more units than this are not tried with slot shares: their whole units fill the
 * streams to within a unit's length already, and each try is a simulation of every unit.
 */
const MAX_UNITS_FOR_SHARES = 2_000;
/** Shares are tried when the whole units' best makespan is this far over LB plus one unit's overhead. */
const SHARES_WORTH_TRYING = 0.02;
/** The targets shares are cut for, as multiples of the smallest at which every unit fits at once. */
const SHARE_TARGETS = [1, 1.05, 1.1, 1.2];
/**
 * Tail fillers are tried only for plans of at most this many units a lane (stream × units per
 * stream): with more, LPT's last units are short against a lane's work already, and…
 */
const FILLERS_MAX_UNITS_PER_LANE = 3;
/**
 * Tail fillers and the balanced start order are tried only for plans of at most this many units
 * × streams: a try simulates the plan, whose time grows with both (1,990 units on 1,000 streams:
 * 0.47 s of CPU to plan without fillers, 0.8–1.3 s with their 9 tries; 160 on 64 streams:
 * 30–55 ms either way).
 */
const MAX_UNIT_STREAMS_FOR_TRIES = 500_000;
/**
 * Slot packing: the slot capacities tried, as multiples of the smallest at which the mailboxes'
 * layout fits the streams' slots (slot-pack.ts).
 */
const PACKING_CAPACITIES = [1, 1.02, 1.05, 1.1];
/**
 * Slot packing is kept only when its simulation ends at least this much sooner than the best plan
 * before it: a layout cuts most mailboxes at a slot's end, so it has about as many units as
 * mailboxes and slots together, and where a unit change costs more than the model's overhead (the
 * benchmark's CPU-bound harness, session 12's tail fillers) a small gain is lost to them
 * (many-small N = 64: 160 → 403 units for 1.097 → 1.050 × LB in the model).
 */
const PACKING_MINIMUM_GAIN = 0.05;
/** Slot packing: steps of the search for the smallest capacity that fits (a bisection). */
const PACKING_SEARCH_STEPS = 24;
/**
 * Stream bins: the rooms per slot tried, as multiples of the smallest at which the mailboxes fit
 * the streams (bins.ts): a little more room cuts fewer mailboxes.
 */
const BINS_ROOMS = [1, 1.02, 1.05];
/**
 * Stream bins are kept only when their simulation ends at least this much sooner than the best
 * plan before them: the simulation lets a whole mailbox borrow its stream's free slots at once and
 * in any number, where a real unit borrows a slot only when one of its requests waits, a cut
 * mailbox makes up to one request more (its pooled exports' rounding), and units of 1–2 slots
 * batch fewer first pages: many-small N = 64 (1.096 → 1.005 × LB in the model, 160 → 192 units)
 * made 2,553–2,607 HTTP exchanges against 1,504–1,978 (bench/README, *Stream bins*), where skewed
 * N = 16 (1.198 → 1.027) made fewer.
 */
const BINS_MINIMUM_GAIN = 0.1;
/**
 * Stream bins packed by whole rounds (bins.ts `RoundRoom`) are taken over those packed by
 * slot-seconds when their simulation is at most this much slower: the fluid simulation counts a
 * stream's fractions of export batches as fractions of a round, so it cannot see the round a
 * stream holding 4 × R + 1 whole requests takes more (bench/README, *Stream bins by whole rounds*).
 */
const BINS_ROUNDS_TOLERANCE = 0.03;
/** Tail fillers: mailboxes cut, as multiples of the streams (the last ones of the order). */
const FILLER_MAILBOXES_PER_STREAM = [0.5, 1, 1.5];
/** Tail fillers: the share of a cut mailbox's back-to-back time its filler takes at most. */
const FILLER_FRACTIONS = [0.2, 0.25, 0.33];

/**
 * The smallest target (seconds) at which every mailbox's units fit on `maxStreams` streams at
 * once: Σ of the mailboxes' slots ≤ the streams' slots, a mailbox that may share a stream taking
 * the fewest that end it within the target, the others the slots of their whole-unit plan. No
 * mailbox ends later than with a whole stream, so the target is at least the longest of those.
 * Undefined when no target fits them all (many small mailboxes: their whole units already fill
 * the streams).
 */
function fittingShareTarget(
  units: readonly Unit[],
  mailboxOf: readonly number[],
  estimates: readonly WorkEstimate[],
  limits: PlanLimits,
): number | undefined {
  const slots = limits.maxStreams * limits.perStreamConcurrency * limits.unitsPerStream;
  const sharing = estimates.map((work) => mayShare(work, limits));
  let fixed = 0;
  units.forEach((u, i) => {
    if (!sharing[mailboxOf[i]!]) fixed += u.concurrency;
  });
  const overhead = limits.unitOverheadSeconds;
  const C = limits.perStreamConcurrency;
  let floor = 0;
  const candidates: number[] = [];
  estimates.forEach((work, m) => {
    if (!sharing[m]) return;
    floor = Math.max(floor, workSeconds(work, C, 1, limits) + overhead);
    for (let w = 1; w <= C; w++) candidates.push(workSeconds(work, w, 1, limits) + overhead);
  });
  const width = (t: number) =>
    estimates.reduce((sum, work, m) => sum + (sharing[m] ? (slotsWithin(work, t, limits) ?? C) : 0), fixed);
  const sorted = [...new Set(candidates.filter((t) => t >= floor))].sort((a, b) => a - b);
  // The width falls as the target grows: the first candidate that fits.
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (width(sorted[mid]!) <= slots) high = mid;
    else low = mid + 1;
  }
  return sorted[low];
}

/**
 * A unit's folders in the order it starts them. A unit runs its folders on a few lanes a slot, a
 * folder's pages one after another, and exports the items of its pages in pooled batches of 20
 * (one pool per import/export mailbox) that leave whole until no more items can come
 * (lib/backup/partial-exports.ts). So: the longest page chains first (they end before the others
 * instead of trailing alone at the unit's end); then one round of folders without items (as many
 * as the unit's slots), whose pages are stored and checkpointed as soon as they answer, since
 * they have nothing to export: the unit's first durable progress, where the folders with items
 * are durable only once their pooled batches are exported; then the folders with items; the rest
 * of those without items last (at least as many as the unit's slots), so that the unit's last
 * pages carry nothing to export and its last batches leave beside them instead of in a round after
 * them. Within each part, a mailbox's folders together (primary before archive), so that first
 * pages started together go in one `$batch` (one per mailbox); then the most work first; the given
 * order among equals. Measured on the benchmark's many-small units (session 16, bench/README
 * *Requests beyond the plan*): a unit ended a round after ⌈requests / slots⌉ in 96 of 160 units
 * with the mailbox's order, in none with this one (bench/unit-rounds.ts; session 17 for the round
 * of folders without items first: first checkpoint at round 1.0 on average, as with the
 * mailbox's order, against 2.6 with all of them last).
 */
function folderStartOrder(
  folderIds: readonly string[],
  folders: readonly PlanFolder[],
  limits: PlanLimits,
  concurrency: number,
): string[] {
  const byId = new Map(folders.map((f) => [f.folderId, f]));
  const key = (id: string) => {
    const folder = byId.get(id);
    const items = folder ? itemsToTransfer(folder, limits) : 0;
    return {
      pages: Math.max(1, Math.ceil(items / limits.pageSize)),
      items,
      archive: folder?.read === "a" ? 1 : 0,
      seconds: folder ? folderWork(folder, limits).serialSeconds : 0,
    };
  };
  const keys = new Map(folderIds.map((id) => [id, key(id)]));
  // Array.prototype.sort is stable: equal folders keep the given order.
  const sorted = [...folderIds].sort((a, b) => {
    const x = keys.get(a)!;
    const y = keys.get(b)!;
    return (
      y.pages - x.pages ||
      Number(y.items > 0) - Number(x.items > 0) ||
      x.archive - y.archive ||
      y.seconds - x.seconds
    );
  });
  // One round of the folders without items ahead of those with items (after the chains), keeping
  // a round of them (the unit's slots) for its end. Fewer kept at the end cost requests and
  // rounds in bench/unit-rounds.ts (skewed N = 64: 555 requests where the fewest is 553).
  const slots = Math.max(1, concurrency);
  const empty = sorted.filter((id) => keys.get(id)!.items === 0);
  const early = new Set(empty.slice(0, Math.max(0, Math.min(slots, empty.length - slots))));
  const chains = sorted.filter((id) => keys.get(id)!.pages > 1);
  const rest = sorted.filter((id) => keys.get(id)!.pages <= 1 && !early.has(id));
  return [...chains, ...early, ...rest];
}

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

/**
 * The unit overhead (seconds) the stream count is chosen with, at least: the 0.5 s a unit the
 * planner counted before session 12. A smaller overhead makes two small units behind each other
 * on one stream look as short as their requests, and the fewest streams then double them up
 * beside a long unit; when their estimates are a little short they end after it (session 6;
 * session 12: the giant shape at N = 16 planned 6 streams at 0.05 s a unit instead of 8, bk/LB
 * 1.16–1.21 against 1.07–1.16, alternated in the same minutes). A stream costs a queue message
 * and a few state writes: the count stays what it was, the schedule counts the calibrated overhead.
 */
const STREAM_CHOICE_UNIT_OVERHEAD_SECONDS = 0.5;

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
    simulateSchedule(units, max, limits).makespanSeconds * (1 + limits.makespanTolerance + 1e-9);
  const goodEnough = (n: number) => simulateSchedule(units, n, limits).makespanSeconds <= acceptable;
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

/**
 * A packing's fastest plan: the smallest capacity at which `fits` gives a plan (a bisection between
 * `low`, which need not fit, and `high`, doubled up to 8 times until it fits), and `factors` of it
 * (a little more room cuts fewer mailboxes), the one whose simulation (`makespanOf`) ends first.
 * Undefined when no capacity tried fits.
 */
function fastestAtSmallestFit<P>(
  fits: (capacity: number) => P | undefined,
  low: number,
  high: number,
  factors: readonly number[],
  makespanOf: (plan: P) => number,
): { plan: P; makespan: number } | undefined {
  for (let i = 0; i < 8 && !fits(high); i++) high *= 2;
  if (!fits(high)) return undefined;
  for (let step = 0; step < PACKING_SEARCH_STEPS; step++) {
    const mid = (low + high) / 2;
    if (fits(mid)) high = mid;
    else low = mid;
  }
  let best: { plan: P; makespan: number } | undefined;
  for (const factor of factors) {
    const plan = fits(high * factor);
    if (plan === undefined) continue;
    const makespan = makespanOf(plan);
    if (!best || makespan < best.makespan) best = { plan, makespan };
  }
  return best;
}

/** Plans a job: units (largest first), the stream count, the predicted makespan and its bound. */
export function planJob(input: PlanInput): Plan {
  const limits = resolvePlanLimits(input.limits);
  validate(input.mailboxes);
  const estimates: WorkEstimate[] = input.mailboxes.map((m) => mailboxWork(m, limits));
  const target = lowerBound(estimates, limits.maxStreams * limits.unitsPerStream, limits);

  /** Each mailbox's folders that units back up (not its search folders), in the listing's order. */
  const unitFolders = input.mailboxes.map((mailbox) => mailbox.folders.filter((f) => !f.isSearchFolder));
  const folderWorks: FolderWork[][] = unitFolders.map((folders) =>
    folders.map((f) => ({ folderId: f.folderId, work: folderWork(f, limits) })),
  );
  /**
   * The unit of mailbox `m` that backs up `group`'s folders on `concurrency` slots with
   * `budgetShare` of the mailbox's request budget (its units run at once at most).
   */
  const draftOf = (
    m: number,
    group: Pick<FolderGroup, "folderIds" | "work">,
    concurrency: number,
    budgetShare: number,
    kind: UnitDraft["kind"],
  ): UnitDraft => {
    const mailbox = input.mailboxes[m]!;
    const readOf = new Map(mailbox.folders.map((f) => [f.folderId, f.read ?? "m"]));
    const folderIds = folderStartOrder(group.folderIds, mailbox.folders, limits, concurrency);
    return {
      mailboxId: mailbox.mailboxId,
      folderIds,
      folderReads: folderIds.map((id) => readOf.get(id) ?? "m").join(""),
      cost: group.work.requests,
      serialSeconds: group.work.serialSeconds,
      estimatedSeconds:
        workSeconds(group.work, concurrency, budgetShare, limits) + limits.unitOverheadSeconds,
      concurrency,
      kind,
    };
  };
  /** A mailbox's units: its slot share when `shareTarget` is given and it may take one, else its whole-unit split. */
  const draftsOf = (shareTarget?: number): { drafts: UnitDraft[]; draftMailbox: number[] } => {
    const drafts: UnitDraft[] = [];
    const draftMailbox: number[] = [];
    folderWorks.forEach((folders, m) => {
      const slots = shareTarget === undefined ? undefined : slotsWithin(estimates[m]!, shareTarget, limits);
      const split =
        (slots !== undefined && shareMailbox(folders, slots, limits)) ||
        splitMailbox(folders, target, limits);
      const kind = split.groups.length > 1 ? "folders" : "mailbox";
      for (const group of split.groups) {
        drafts.push(draftOf(m, group, group.concurrency ?? split.concurrency, split.budgetShare, kind));
        draftMailbox.push(m);
      }
    });
    return { drafts, draftMailbox };
  };
  const ordered = (candidate: { drafts: UnitDraft[]; draftMailbox: number[] }, widestFirst: boolean) => {
    const { drafts } = candidate;
    // Widest first: units of 4, 2 and 1 slots claimed in that order fill streams of 4 without gaps.
    const compare = (a: UnitDraft, b: UnitDraft) =>
      (widestFirst ? b.concurrency - a.concurrency : 0) || compareUnits(a, b);
    const order = drafts.map((_, i) => i).sort((a, b) => compare(drafts[a]!, drafts[b]!));
    const units: Unit[] = order.map((d, index) => ({ index, ...drafts[d]! }));
    return { ...candidate, order, units };
  };
  const whole = ordered(draftsOf(), false);
  type Candidate = typeof whole & {
    tailFillers?: number;
    startOrdered?: true;
    slotPacked?: true;
    streamBins?: true;
    streams?: number;
  };
  let chosen: Candidate = whole;
  const makespanOf = (plan: Candidate) =>
    simulateSchedule(plan.units, limits.maxStreams, limits).makespanSeconds;
  /**
   * The chosen plan's simulated makespan, simulated at its first use only (a tenant too large for
   * the tries below is not simulated here at all).
   */
  let simulated: number | undefined;
  const chosenMakespan = () => {
    simulated ??= makespanOf(chosen);
    return simulated;
  };
  /** Keeps `plan` when its simulation ends sooner than the chosen one's (beyond rounding: 1e-9). */
  const keepIfFaster = (plan: Candidate) => {
    const makespan = makespanOf(plan);
    if (makespan < chosenMakespan() * (1 - 1e-9)) {
      chosen = plan;
      simulated = makespan;
    }
  };
  /**
   * `base` with its last `count` mailboxes of one whole unit cut into a main unit (in the whole
   * unit's place) and a filler (after every unit of the base, longest first); undefined when no
   * mailbox may be cut.
   */
  const withTailFillers = (
    base: typeof whole,
    count: number,
    fraction: number,
  ): (typeof whole & { tailFillers: number }) | undefined => {
    const unitsOf = new Map<number, number>();
    for (const m of base.draftMailbox) unitsOf.set(m, (unitsOf.get(m) ?? 0) + 1);
    const head: UnitDraft[] = [];
    const headMailbox: number[] = [];
    const fillers: Array<{ draft: UnitDraft; mailbox: number }> = [];
    for (let i = base.units.length - 1; i >= 0; i--) {
      const { index: _, ...unit } = base.units[i]!;
      const m = base.draftMailbox[base.order[i]!]!;
      const cut =
        fillers.length < count &&
        unit.kind === "mailbox" &&
        unitsOf.get(m) === 1 &&
        unit.concurrency === limits.perStreamConcurrency
          ? cutFiller(folderWorks[m]!, fraction, limits)
          : undefined;
      if (!cut) {
        head.push(unit);
        headMailbox.push(m);
        continue;
      }
      // The two run at once at most, each on its slots, sharing the mailbox's budget.
      const draft = (group: typeof cut.main): UnitDraft =>
        draftOf(m, group, group.concurrency!, 1 / 2, "folders");
      head.push(draft(cut.main));
      headMailbox.push(m);
      fillers.push({ draft: draft(cut.filler), mailbox: m });
    }
    if (fillers.length === 0) return undefined;
    head.reverse();
    headMailbox.reverse();
    fillers.sort((a, b) => compareUnits(a.draft, b.draft));
    const drafts = [...head, ...fillers.map((f) => f.draft)];
    const draftMailbox = [...headMailbox, ...fillers.map((f) => f.mailbox)];
    const order = drafts.map((_, i) => i);
    return {
      drafts,
      draftMailbox,
      order,
      units: drafts.map((d, index) => ({ index, ...d })),
      tailFillers: fillers.length,
    };
  };
  // Planned slot shares: when whole units leave the best schedule over LB (too few or too long to
  // fill every stream to the end), each mailbox that may share a stream gets the fewest slots
  // that end it within a target, the smallest target at which every unit fits on the streams at
  // once; a few targets above it and two orders are simulated, and the fastest plan wins (whole
  // units when none is faster).
  if (limits.slotShares && chosen.units.length > 0 && chosen.units.length <= MAX_UNITS_FOR_SHARES) {
    const fitting = chosenMakespan() > (target + limits.unitOverheadSeconds) * (1 + SHARES_WORTH_TRYING);
    const shareTarget = fitting
      ? fittingShareTarget(
          chosen.units,
          chosen.order.map((d) => chosen.draftMailbox[d]!),
          estimates,
          limits,
        )
      : undefined;
    if (shareTarget !== undefined) {
      for (const factor of SHARE_TARGETS) {
        const candidate = draftsOf(shareTarget * factor);
        for (const widestFirst of [true, false]) keepIfFaster(ordered(candidate, widestFirst));
      }
    }
  }
  /**
   * Slot packing (slot-pack.ts) at `capacity` seconds a slot: the mailboxes that may be laid out
   * along the slots (`packable`) become units of one slot each, in the order of their start in
   * the layout, after the other mailboxes' whole units (longest first, a stream each from the
   * start, whose slots are laid out from the unit's end on); undefined when those are more than
   * the streams or the layout does not fit.
   */
  const slotPacked = (capacity: number): Candidate | undefined => {
    const C = limits.perStreamConcurrency;
    const byLength = estimates
      .map((_, m) => m)
      .sort((a, b) => estimates[b]!.serialSeconds - estimates[a]!.serialSeconds || a - b);
    const laid = byLength.filter((m) => packable(estimates[m]!, capacity, limits));
    const kept = new Set(byLength.filter((m) => !laid.includes(m)));
    // The kept mailboxes' whole units, longest first, each on a stream of its own from the start.
    const head: UnitDraft[] = [];
    const headMailbox: number[] = [];
    whole.order.forEach((d, i) => {
      const m = whole.draftMailbox[d]!;
      if (!kept.has(m)) return;
      const { index: _, ...unit } = whole.units[i]!;
      head.push(unit);
      headMailbox.push(m);
    });
    if (laid.length === 0 || head.length > limits.maxStreams || head.some((u) => u.concurrency !== C)) {
      return undefined;
    }
    // Each stream's slots as lanes of one slot, from its head unit's end (or the start) on. At
    // the start a stream's first task claims all its lanes' units together
    // (lib/backup/start-units.ts); after a head unit it claims one at a time (simulate.ts): its
    // k-th lane starts k claims later. A unit of one slot runs at its full rate on whatever slot
    // frees, so the layout survives streams pulling units in another order than it assumed (lanes
    // of 2 slots did not: a freed lane of 1 slot pulled a unit of 2, which then ran on 1).
    const lanes: Lane[] = [];
    for (let stream = 0; stream < limits.maxStreams; stream++) {
      const free = head[stream]?.estimatedSeconds ?? 0;
      for (let rank = 0; rank < C; rank++) {
        lanes.push({ width: 1, startSeconds: free + (free > 0 ? rank * limits.claimSeconds : 0) });
      }
    }
    lanes.sort((a, b) => a.startSeconds - b.startSeconds);
    const pieces = packSlots(
      laid.map((m) => ({ mailbox: m, folders: folderWorks[m]! })),
      lanes,
      capacity,
      limits,
    );
    if (!pieces) return undefined;
    const tail = pieceOrder(pieces, limits);
    const drafts = [
      ...head,
      ...tail.map((p) => draftOf(p.mailbox, p, p.width, 1 / p.pieces, p.pieces > 1 ? "folders" : "mailbox")),
    ];
    const draftMailbox = [...headMailbox, ...tail.map((p) => p.mailbox)];
    return {
      drafts,
      draftMailbox,
      order: drafts.map((_, i) => i),
      units: drafts.map((d, index) => ({ index, ...d })),
      slotPacked: true as const,
    };
  };
  /**
   * Stream bins (bins.ts) at `slotSeconds` of room per slot: every mailbox whole or in pieces in
   * the bins, ordered so that the start deal hands each stream its bin; undefined when they do
   * not fit the streams, or the deal would not reproduce them.
   */
  const streamBinsPlan = (
    mailboxes: BinMailbox[],
    slotSeconds: number,
    byRounds?: RoundRoom,
  ): (Candidate & { streams: number }) | undefined => {
    const bins = packStreamBins(mailboxes, limits.maxStreams, slotSeconds, limits, byRounds);
    if (!bins) return undefined;
    const deal = binDealOrder(bins, limits.perStreamConcurrency);
    if (!deal) return undefined;
    const drafts: UnitDraft[] = [];
    const draftMailbox: number[] = [];
    for (const [b, i] of deal) {
      const unit = bins[b]![i]!;
      const draft = draftOf(
        unit.mailbox,
        unit,
        unit.share,
        1 / unit.pieces,
        unit.whole ? "mailbox" : "folders",
      );
      // A whole mailbox, its mailbox's only unit: it may use every slot its stream leaves free.
      if (unit.whole && unit.share < limits.perStreamConcurrency) {
        draft.maxConcurrency = limits.perStreamConcurrency;
      }
      drafts.push(draft);
      draftMailbox.push(unit.mailbox);
    }
    return {
      drafts,
      draftMailbox,
      order: drafts.map((_, i) => i),
      units: drafts.map((d, index) => ({ index, ...d })),
      streamBins: true as const,
      streams: bins.length,
    };
  };
  // Tail fillers: when the best plan so far still ends over LB (whole units of about LB / 2 to
  // LB / 3 each leave some streams a unit longer than others, and shares cannot help when every
  // mailbox needs its whole stream to end in time), the last mailboxes of a plan's order are cut
  // into a main unit in their place and a short filler that runs after every other unit (split.ts
  // `cutFiller`), so that the streams that end early take the fillers and all end together.
  // Cut from the whole units' plan (from a plan of slot shares they did no better on the shapes
  // of bench/plan-shapes.ts) for a few counts and sizes; kept only when the simulation is faster.
  if (
    limits.slotShares &&
    limits.tailFillers &&
    limits.perStreamConcurrency >= 2 &&
    chosen.units.length > 0 &&
    chosen.units.length <= MAX_UNITS_FOR_SHARES &&
    whole.units.length <= FILLERS_MAX_UNITS_PER_LANE * limits.maxStreams * limits.unitsPerStream &&
    whole.units.length * limits.maxStreams <= MAX_UNIT_STREAMS_FOR_TRIES
  ) {
    if (chosenMakespan() > (target + limits.unitOverheadSeconds) * (1 + SHARES_WORTH_TRYING)) {
      for (const perStream of FILLER_MAILBOXES_PER_STREAM) {
        const count = Math.max(1, Math.round(perStream * limits.maxStreams));
        for (const fraction of FILLER_FRACTIONS) {
          const plan = withTailFillers(whole, count, fraction);
          if (plan) keepIfFaster(plan);
        }
      }
    }
  }
  // Balanced start order (waves.ts): whole-stream units ordered so that pulling them hands the
  // streams a balanced assignment instead of LPT's, kept when its simulation is faster.
  if (
    limits.balancedOrder &&
    limits.unitsPerStream === 1 &&
    whole.units.length > limits.maxStreams &&
    whole.units.length * limits.maxStreams <= MAX_UNIT_STREAMS_FOR_TRIES &&
    whole.units.every((u) => u.concurrency === limits.perStreamConcurrency)
  ) {
    const seconds = whole.units.map((u) => u.estimatedSeconds);
    const positions = startOrder(seconds, balanceStreams(seconds, limits.maxStreams));
    keepIfFaster({
      ...whole,
      order: positions.map((p) => whole.order[p]!),
      units: positions.map((p, index) => ({ ...whole.units[p]!, index })),
      startOrdered: true as const,
    });
  }
  // Slot packing: when the best plan so far (balanced order included) still ends over LB, lay the mailboxes that may share
  // a stream out along the slots of the streams that whole units leave, each slot filled to a
  // common finish with one-slot folder groups (slot-pack.ts), at the smallest capacity that fits
  // and a few above it; kept when its simulation is faster.
  if (
    limits.slotShares &&
    limits.slotPacking &&
    limits.unitsPerStream === 1 &&
    limits.perStreamConcurrency === limits.perMailboxConcurrency &&
    chosen.units.length > 0 &&
    whole.units.length <= MAX_UNITS_FOR_SHARES &&
    chosenMakespan() > (target + limits.unitOverheadSeconds) * (1 + SHARES_WORTH_TRYING)
  ) {
    const best = fastestAtSmallestFit(
      slotPacked,
      target,
      Math.max(target, limits.unitOverheadSeconds) * 2,
      PACKING_CAPACITIES,
      makespanOf,
    );
    if (best && best.makespan < chosenMakespan() * (1 - PACKING_MINIMUM_GAIN)) {
      chosen = best.plan;
      simulated = best.makespan;
    }
  }
  // Stream bins (bins.ts): when the best plan so far still ends over LB, pack the mailboxes into
  // the streams by slot-seconds, every unit a start unit, a stream's whole mailboxes borrowing
  // the slots its other units leave; at the smallest room per slot that fits and a few above it,
  // kept when its simulation is faster by `BINS_MINIMUM_GAIN`.
  if (
    limits.slotShares &&
    limits.streamBins &&
    limits.unitsPerStream === 1 &&
    limits.perStreamConcurrency === limits.perMailboxConcurrency &&
    chosen.units.length > 0 &&
    whole.units.length <= MAX_UNITS_FOR_SHARES &&
    estimates.every((work) => work.requests <= 0 || mayShare(work, limits)) &&
    chosenMakespan() > (target + limits.unitOverheadSeconds) * (1 + SHARES_WORTH_TRYING)
  ) {
    // A unit's pooled exports round up (⌈items / 20⌉): half a request a unit, where it exports.
    const exportPad = limits.requestLatencySeconds / 2;
    const mailboxes = estimates.map((work, m) => ({
      mailbox: m,
      folders: folderWorks[m]!,
      work,
      padSeconds: input.mailboxes[m]!.folders.some((f) => (f.read ?? "m") !== "m") ? exportPad : 0,
      // Each folder's export requests (as `folders`: items / batch size), for the packing by whole rounds.
      exports: unitFolders[m]!.map((f) => ({
        pool: f.read === "a" ? ("archive" as const) : ("primary" as const),
        requests: exportRequests(itemsToTransfer(f, limits), f.read ?? "m", limits),
      })),
    }));
    const fits = (slotSeconds: number) => streamBinsPlan(mailboxes, slotSeconds);
    const binsMakespan = (plan: Candidate & { streams: number }) =>
      simulateSchedule(plan.units, plan.streams, limits).makespanSeconds;
    // The room per slot starts at LB's less a unit change.
    let best = fastestAtSmallestFit(
      fits,
      target - limits.unitOverheadSeconds,
      Math.max(target, limits.unitOverheadSeconds) * 2,
      BINS_ROOMS,
      binsMakespan,
    );
    // By whole rounds: R = ⌈Σ fewest / all slots⌉ (the rounds LB needs, every request whole), and
    // a round more when R does not fit. Its model is the same fluid one, which counts a stream's
    // fractions of export batches as a fraction of a round where the stack makes them whole: a
    // stream packed by slot-seconds can hold a few requests more than its slots make in R rounds
    // (skewed N = 16: 5 of 16 streams at 37 of the fewest where 4 × 9 = 36). So the packing by
    // rounds is preferred unless its model is more than `BINS_ROUNDS_TOLERANCE` slower.
    const C = limits.perStreamConcurrency;
    const fewestAll = mailboxes.reduce(
      (sum, mb) =>
        sum +
        fewestRequests(
          mb,
          mb.folders.map((_, f) => f),
        ),
      0,
    );
    const ideal = Math.ceil(fewestAll / (limits.maxStreams * C) - 1e-9);
    const rooms: RoundRoom[] = [
      { rounds: ideal, spare: 1 },
      { rounds: ideal, spare: 0 },
      { rounds: ideal + 1, spare: 1 },
    ];
    for (const room of rooms) {
      if (room.rounds < 1) continue;
      const plan = streamBinsPlan(mailboxes, room.rounds * limits.requestLatencySeconds, room);
      const makespan = plan && binsMakespan(plan);
      if (
        plan &&
        makespan !== undefined &&
        (!best || makespan <= best.makespan * (1 + BINS_ROUNDS_TOLERANCE))
      ) {
        best = { plan, makespan };
        break;
      }
    }
    if (best && best.makespan < chosenMakespan() * (1 - BINS_MINIMUM_GAIN)) {
      chosen = best.plan;
      simulated = best.makespan;
    }
  }
  const { units, order, draftMailbox } = chosen;
  const tailFillers = chosen.tailFillers ?? 0;
  const unitIndexes: number[][] = input.mailboxes.map(() => []);
  order.forEach((d, index) => {
    unitIndexes[draftMailbox[d]!]!.push(index);
  });

  // A stream has `unitsPerStream` × C_stream slots (simulate.ts); the bound counts it as that many lanes.
  const k = limits.unitsPerStream;
  // A slot layout is cut for `maxStreams` streams: with fewer, its lanes would not be there.
  const streams =
    units.length === 0
      ? 0
      : chosen.streamBins && chosen.streams !== undefined
        ? chosen.streams
        : chosen.slotPacked
          ? Math.min(limits.maxStreams, units.length)
          : chooseStreams(units, estimates, Math.min(limits.maxStreams, Math.ceil(units.length / k)), {
              ...limits,
              unitOverheadSeconds: Math.max(limits.unitOverheadSeconds, STREAM_CHOICE_UNIT_OVERHEAD_SECONDS),
            });
  const predictedMakespanSeconds =
    streams === 0 ? 0 : simulateSchedule(units, streams, limits).makespanSeconds;
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
    ...(tailFillers > 0 ? { tailFillers } : {}),
    ...(chosen.startOrdered ? { startOrdered: true } : {}),
    ...(chosen.slotPacked ? { slotPacked: true } : {}),
    ...(chosen.streamBins ? { streamBins: true } : {}),
    streams,
    streamSlots: limits.perStreamConcurrency * limits.unitsPerStream,
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
