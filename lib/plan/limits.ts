import { ConfigError } from "../errors.js";

/**
 * The service limits and estimates the planner works with. Graph's limits are per app and per
 * mailbox; the benchmark scales them down so that a small simulated tenant behaves like a large
 * real one.
 */
export interface PlanLimits {
  /** Streams the job may use at most (the SQS mapping's maximum concurrency). Integer, 1–1000. Default 16. */
  maxStreams: number;
  /** C: concurrent requests Graph allows per app and mailbox. Integer, 1–64. Default 4. */
  perMailboxConcurrency: number;
  /**
   * Concurrent requests one stream runs on its unit at most. Integer, 1–`perMailboxConcurrency`.
   * Default: `perMailboxConcurrency` (one stream can fill a mailbox, so mailboxes are not split).
   */
  perStreamConcurrency: number;
  /**
   * Units (mailboxes, or folder groups) one stream runs at once, each within its own mailbox's
   * request limit: a stream of k units counts as k in the schedule and in the lower bound's
   * stream term, while the Lambda concurrency stays `maxStreams`. Integer, 1–8. Default 1.
   */
  unitsPerStream: number;
  /** B: requests Graph allows per app and mailbox in one window. Integer ≥ 1. Default 10,000. */
  budgetPerWindow: number;
  /** W: length of the budget window, seconds. > 0. Default 600 (10 minutes). */
  windowSeconds: number;
  /** L: estimated time of one request without its body, seconds. > 0. Default 0.25. */
  requestLatencySeconds: number;
  /** Estimated transfer time per MIME byte, seconds. ≥ 0. Default 5e-8 (20 MB/s per request). */
  perByteSeconds: number;
  /** Items per delta page (`Prefer: odata.maxpagesize`). Integer, 1–1000. Default 100. */
  pageSize: number;
  /** Items per `exportItems` request (Graph takes at most 20). Integer, 1–20. Default 20. */
  exportBatchSize: number;
  /**
   * Bytes of an item when the folder listing gives no size (the mailbox import/export API
   * gives item counts only). ≥ 0. Default 50,000.
   */
  averageItemBytes: number;
  /**
   * Share of a synced folder's items expected to have changed since its last backup, when the
   * folder carries no better estimate. 0–1. Default 0.02.
   */
  changeRatio: number;
  /**
   * Seconds a unit change costs a stream besides the time of its requests: the schedule holds a
   * unit's share this long after its requests (simulate.ts), so that two small units on one
   * stream are not taken for as short as their requests; LB does not count it. What it stands for:
   * the unit's completion (its last catalog and pack writes, one state update) and the next claim
   * (one state transaction), as far as the stream runner's lookahead does not overlap them with
   * requests (a unit of a whole share claims its successor once its last folder has started and its slots begin to idle, so
   * the change costs next to nothing; a unit of a smaller share frees its slots only once its
   * completion is written). On AWS those are 2 S3 PUTs of 20–50 ms and 2 DynamoDB requests of
   * 5–20 ms: about 0.1 s where nothing overlaps them. In the benchmark's harness a stream's slots
   * idled ≤ 0.02 s per further unit of small units, more for units of many items
   * (bench/README, *What a unit change costs*; the bench plans with 0.1 too). What every stream pays once (its task's delivery, its first claim, its last
   * unit's writes) is no unit's: it does not change which plan is faster. ≥ 0. Default 0.1
   * (0.5 before session 12, when the lookahead was not counted).
   */
  unitOverheadSeconds: number;
  /**
   * Seconds one claim of a unit takes (a state transaction and a read). A stream claims one unit
   * at a time, so where several of its slots are free at once after its start the k-th unit
   * claimed starts k claims later (simulate.ts; slot packing lays its lanes out so). The units a
   * stream holds at the job's start come with its first task and are claimed together in the
   * transaction that begins it (lib/backup/start-units.ts): they start at once. Claims after a
   * unit's end are in `unitOverheadSeconds`. ≥ 0. Default 0.05 (DynamoDB transactions of 5–20 ms
   * and a read); the benchmark's harness measured 0.2–0.35 s a claim at a job's start, when every
   * stream claimed its start units one by one against DynamoDB Local (bench/README, *Slot
   * packing*).
   */
  claimSeconds: number;
  /**
   * How much longer than the best makespan (the one with `maxStreams`) the chosen stream count
   * may be, as a fraction: the planner takes the fewest streams within it. 0–1. Default 0: the
   * fewest streams that reach the best makespan (those that would only idle are not started).
   * A stream costs a queue message and a few state writes, while a unit doubled up on a stream
   * to save one ends the job later whenever the estimates are a little short (session 6: a
   * small mailbox paired within 2 % on the giant shape ended the backup phase 0.6 s late).
   */
  makespanTolerance: number;
  /**
   * Planned slot shares (plan.ts): when whole-mailbox units leave the schedule over LB, try
   * plans where mailboxes take a share of a stream's slots and streams run units side by side,
   * and keep the fastest. Default true; false plans whole units only (as before session 9).
   */
  slotShares: boolean;
  /**
   * Slot packing (plan.ts, slot-pack.ts): when the best plan still ends over LB, try laying the
   * mailboxes that may share a stream out along the streams' request slots, cut into folder groups
   * of one slot each (at most C per mailbox) that fill every slot to a common finish, and keep it
   * when its simulation is at least 5 % faster. Needs `slotShares`, one unit per stream and
   * C_stream = C. Default false: the model gains (the benchmark's skewed shape at N = 16: 1.229 →
   * 1.114 × LB, 38 → 85 units), but in the benchmark's harness each stream's 4 claims at its start
   * took 0.2–0.35 s each and the backups ended later (bench/README, *Slot packing*): off until a
   * quiet A/B shows it faster.
   */
  slotPacking: boolean;
  /**
   * Stream bins (plan.ts, bins.ts): when the best plan still ends over LB, try packing the
   * mailboxes into the streams by slot-seconds (every unit a start unit; a mailbox that does not
   * fit cut into pieces of fixed shares), each stream's whole mailboxes borrowing the slots its
   * other units leave (`maxConcurrency`), and keep it when its simulation is at least 10 % faster.
   * Needs `slotShares`, one unit per stream, C_stream = C and every mailbox within one window's
   * budget.
   * Default true: the benchmark's skewed shape at N = 16, 38 units of 1–2 slots (1.198 × LB in
   * the model) → 1.05 × LB (bench/README, *Stream bins*).
   */
  streamBins: boolean;
  /**
   * Tail fillers (plan.ts): when the best plan still ends over LB, try cutting the last mailboxes
   * of its order into a main unit in place and a short filler run after every other unit, and keep
   * the fastest. The two units take shares of a stream's slots, so `slotShares: false` turns
   * fillers off too. Default false: the model gains (many-small N = 64 1.164 → 1.031 × LB at
   * 0.05 s a unit), but in the benchmark's CPU-bound harness each further unit cost about a
   * second of commit latency and the backups ended later (bench/README, *Tail fillers*):
   * off until a quiet A/B shows them faster.
   */
  tailFillers: boolean;
  /**
   * Balanced start order (plan.ts, waves.ts): when every unit takes a whole stream, try the
   * order that hands the streams a balanced assignment (a local search from LPT's) and keep it
   * when its simulation is faster. Default true; false orders units longest first.
   */
  balancedOrder: boolean;
}

export const defaultPlanLimits: Readonly<PlanLimits> = Object.freeze({
  maxStreams: 16,
  perMailboxConcurrency: 4,
  perStreamConcurrency: 4,
  unitsPerStream: 1,
  budgetPerWindow: 10_000,
  windowSeconds: 600,
  requestLatencySeconds: 0.25,
  perByteSeconds: 5e-8,
  pageSize: 100,
  exportBatchSize: 20,
  averageItemBytes: 50_000,
  changeRatio: 0.02,
  unitOverheadSeconds: 0.1,
  claimSeconds: 0.05,
  makespanTolerance: 0,
  slotShares: true,
  slotPacking: false,
  tailFillers: false,
  streamBins: true,
  balancedOrder: true,
});

function check(field: keyof PlanLimits, value: number, ok: boolean, expected: string): void {
  if (!ok || !Number.isFinite(value)) {
    throw new ConfigError(`plan.${field}`, `expected ${expected}, found ${value}`);
  }
}

/**
 * Fills in defaults and validates. `perStreamConcurrency` defaults to the (possibly given)
 * `perMailboxConcurrency`. Throws {@link ConfigError} naming the first invalid field.
 */
export function resolvePlanLimits(given: Partial<PlanLimits> = {}): PlanLimits {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const perMailboxConcurrency = given.perMailboxConcurrency ?? defaultPlanLimits.perMailboxConcurrency;
  const limits: PlanLimits = {
    ...defaultPlanLimits,
    perStreamConcurrency: perMailboxConcurrency,
    ...defined,
  };
  const int = Number.isInteger;
  check(
    "maxStreams",
    limits.maxStreams,
    int(limits.maxStreams) && limits.maxStreams >= 1 && limits.maxStreams <= 1000,
    "an integer 1–1000",
  );
  check(
    "perMailboxConcurrency",
    limits.perMailboxConcurrency,
    int(limits.perMailboxConcurrency) &&
      limits.perMailboxConcurrency >= 1 &&
      limits.perMailboxConcurrency <= 64,
    "an integer 1–64",
  );
  check(
    "perStreamConcurrency",
    limits.perStreamConcurrency,
    int(limits.perStreamConcurrency) &&
      limits.perStreamConcurrency >= 1 &&
      limits.perStreamConcurrency <= limits.perMailboxConcurrency,
    `an integer 1–perMailboxConcurrency (${limits.perMailboxConcurrency})`,
  );
  check(
    "unitsPerStream",
    limits.unitsPerStream,
    int(limits.unitsPerStream) && limits.unitsPerStream >= 1 && limits.unitsPerStream <= 8,
    "an integer 1–8",
  );
  check(
    "budgetPerWindow",
    limits.budgetPerWindow,
    int(limits.budgetPerWindow) && limits.budgetPerWindow >= 1,
    "an integer ≥ 1",
  );
  check("windowSeconds", limits.windowSeconds, limits.windowSeconds > 0, "a number of seconds > 0");
  check(
    "requestLatencySeconds",
    limits.requestLatencySeconds,
    limits.requestLatencySeconds > 0,
    "a number of seconds > 0",
  );
  check("perByteSeconds", limits.perByteSeconds, limits.perByteSeconds >= 0, "a number of seconds ≥ 0");
  check(
    "pageSize",
    limits.pageSize,
    int(limits.pageSize) && limits.pageSize >= 1 && limits.pageSize <= 1000,
    "an integer 1–1000",
  );
  check(
    "exportBatchSize",
    limits.exportBatchSize,
    int(limits.exportBatchSize) && limits.exportBatchSize >= 1 && limits.exportBatchSize <= 20,
    "an integer 1–20",
  );
  check("averageItemBytes", limits.averageItemBytes, limits.averageItemBytes >= 0, "a number of bytes ≥ 0");
  check(
    "changeRatio",
    limits.changeRatio,
    limits.changeRatio >= 0 && limits.changeRatio <= 1,
    "a fraction 0–1",
  );
  check(
    "unitOverheadSeconds",
    limits.unitOverheadSeconds,
    limits.unitOverheadSeconds >= 0,
    "a number of seconds ≥ 0",
  );
  check("claimSeconds", limits.claimSeconds, limits.claimSeconds >= 0, "a number of seconds ≥ 0");
  check(
    "makespanTolerance",
    limits.makespanTolerance,
    limits.makespanTolerance >= 0 && limits.makespanTolerance <= 1,
    "a fraction 0–1",
  );
  if (typeof limits.slotShares !== "boolean") {
    throw new ConfigError("plan.slotShares", `expected true or false, found ${String(limits.slotShares)}`);
  }
  if (typeof limits.slotPacking !== "boolean") {
    throw new ConfigError("plan.slotPacking", `expected true or false, found ${String(limits.slotPacking)}`);
  }
  if (typeof limits.balancedOrder !== "boolean") {
    throw new ConfigError(
      "plan.balancedOrder",
      `expected true or false, found ${String(limits.balancedOrder)}`,
    );
  }
  if (typeof limits.streamBins !== "boolean") {
    throw new ConfigError("plan.streamBins", `expected true or false, found ${String(limits.streamBins)}`);
  }
  if (typeof limits.tailFillers !== "boolean") {
    throw new ConfigError("plan.tailFillers", `expected true or false, found ${String(limits.tailFillers)}`);
  }
  return limits;
}

/** β = B / W: the long-run request rate Graph allows per mailbox, requests per second. */
export function budgetRate(limits: PlanLimits): number {
  return limits.budgetPerWindow / limits.windowSeconds;
}
