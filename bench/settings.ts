/**
 * The benchmark's simulated service, tenant shapes and stream counts, and the planner's model of
 * the same service, shared by the runs (bench/shape-runs.ts, bench/dense.ts, bench/run.ts).
 */
import { accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import type { LatencyOptions, LimitOptions } from "../lib/dev/sim/server/index.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { type PlanLimits, resolvePlanLimits } from "../lib/plan/index.js";
import type { ServiceModel } from "./figures.js";

/**
 * Where the shapes and scale steps run the controllers (the stack's `controllerProcesses`):
 * `BENCH_CONTROLLER_PROCESSES=K` puts them in K processes of their own (the streams split
 * evenly), 0 in the harness process (one event loop for every stream and the S3/SQS emulator, as
 * before session 10). Count 0..N (capped at the step's streams). Default 0: in session 10's A/B at
 * load 3–5 two processes gave a worse bk/LB on every shape (bench/README, *Controllers in
 * processes of their own*), and in session 17's, with the processes kept warm between runs, one or
 * two processes were still slower on uniform and giant and no better on many-small (bench/README,
 * *A request's extra time in the harness*).
 */
export const CONTROLLER_PROCESSES = Number(process.env.BENCH_CONTROLLER_PROCESSES ?? 0);

/**
 * Where the shape runs put their local archives: `BENCH_ARCHIVE_ROOT`, else `/dev/shm` (a RAM
 * file system) where the machine has one, else the OS's temporary folder. A shape's archive
 * stands in for S3, which a controller reaches over the network in its own Lambda; the bench
 * machine's disk is not part of what the shapes measure, and its kernel time was: on ext4 the
 * local store's per-object mkdir, create, write and rename cost the harness 6.8–7.7 CPU s of a
 * many-small N = 64 run against 5.9–6.1 on tmpfs, in the same minutes (session 13, bench/README
 * *The local archive's writes*). The temporary folder is used when `/dev/shm` is not writable.
 */
export function archiveRoot(): string {
  const chosen = process.env.BENCH_ARCHIVE_ROOT;
  if (chosen) return chosen;
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}

/**
 * Node flags of the benchmark's harness process (set when the bench re-executes itself to trust
 * the simulator's CA, so every entry point and its own-process steps run with them).
 * `--max-semi-space-size=64` (MiB): the harness hosts the N controllers of a run in one process,
 * where a deployment runs N Lambdas, each with a young generation of two semi-spaces of 4 MiB
 * (LAMBDA_NODE_OPTIONS in infra/lambda-bundling.ts): 16 controllers have 64 MiB of them between
 * them, and V8's default of 16 MiB for the one process made it collect its young generation four
 * times as often. Measured in session 11 (bench/README, *The harness's young generation*).
 */
export const HARNESS_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=64",
  // `BENCH_HARNESS_FLAGS="--flag …"`: more flags for a comparison (the simulator inherits them too).
  ...(process.env.BENCH_HARNESS_FLAGS ?? "").split(" ").filter(Boolean),
];

/** `CONTROLLER_PROCESSES` for a run of `streams` streams (never more processes than streams). */
export function controllerProcessesFor(streams: number): number {
  return Math.min(streams, Math.max(0, Math.floor(CONTROLLER_PROCESSES)));
}

/** Simulated service, scaled so that a small tenant behaves like a large one under Graph's limits. */
export const LATENCY: LatencyOptions = {
  baseMs: Number(process.env.BENCH_LATENCY_MS ?? 400),
  jitterMs: 0,
  perMimeByteNs: 20,
};
export const LIMITS: Required<Pick<LimitOptions, "concurrentPerMailbox" | "budgetPerWindow" | "windowMs">> = {
  concurrentPerMailbox: 4,
  budgetPerWindow: 600,
  windowMs: 20_000,
};
/**
 * Seconds a unit change costs a stream in the harness, beyond its requests (the planner's
 * `unitOverheadSeconds`), as in production: 0.1. Measured with bench/unit-overhead.ts in session
 * 12 (bench/README, *What a unit change costs*): a stream's slots idled ≤ 0.02 s per further unit
 * of the many-small shape (the lookahead overlaps each claim and completion with requests), but
 * at 0.05 s the skewed shape at N = 1 was planned as 4 whole units one after another instead of
 * 4 of one slot side by side and ended 5 % later (bk/LB 1.12 / 1.11 against 1.06 / 1.06,
 * alternated): units of many items leave their slots idle longer at their start and end.
 * `BENCH_UNIT_OVERHEAD=S` plans with S seconds instead (an A/B against another value).
 */
export const UNIT_OVERHEAD_SECONDS = 0.1;

/**
 * The planner's `claimSeconds` in the benchmark: what one claim takes when every stream claims at
 * once at a job's start against DynamoDB Local on this machine (timelines of skewed N = 16,
 * session 13: a stream's claims 0.2–0.35 s apart at load 3–5). `BENCH_CLAIM_SECONDS=S` plans
 * with S seconds instead.
 */
export const CLAIM_SECONDS = 0.1;

/**
 * The planner's model of the same service (so its estimates, and LB, match the simulator).
 * `BENCH_SLOT_SHARES=0` plans whole-mailbox units only (planned slot shares off),
 * `BENCH_SLOT_PACKING=1` with slot packing (off by default, as in production),
 * `BENCH_TAIL_FILLERS=1` with tail fillers (off by default, as in production),
 * `BENCH_STREAM_BINS=0` without stream bins (on by default, as in production),
 * `BENCH_BALANCED_ORDER=0` longest first instead of the balanced start order, for a comparison in the same minutes.
 */
export function planLimitsFor(streams: number): PlanLimits {
  const overhead = process.env.BENCH_UNIT_OVERHEAD;
  const claim = process.env.BENCH_CLAIM_SECONDS;
  return resolvePlanLimits({
    slotShares: process.env.BENCH_SLOT_SHARES !== "0",
    slotPacking: process.env.BENCH_SLOT_PACKING === "1",
    tailFillers: process.env.BENCH_TAIL_FILLERS === "1",
    streamBins: process.env.BENCH_STREAM_BINS !== "0",
    balancedOrder: process.env.BENCH_BALANCED_ORDER !== "0",
    unitOverheadSeconds: overhead === undefined || overhead === "" ? UNIT_OVERHEAD_SECONDS : Number(overhead),
    claimSeconds: claim === undefined || claim === "" ? CLAIM_SECONDS : Number(claim),
    maxStreams: streams,
    perMailboxConcurrency: LIMITS.concurrentPerMailbox,
    budgetPerWindow: LIMITS.budgetPerWindow,
    windowSeconds: LIMITS.windowMs / 1000,
    requestLatencySeconds: (LATENCY.baseMs ?? 0) / 1000,
    perByteSeconds: (LATENCY.perMimeByteNs ?? 0) * 1e-9,
  });
}

/**
 * Tenant shapes, scaled to fit the whole benchmark in about 10 minutes on 2 cores. `subset`: at
 * these N the run backs up only the first k mailboxes (`MAILSTREAM_INCLUDE`), because one stream
 * through the whole tenant would take minutes; items/s of a stream does not depend on how many
 * mailboxes wait for it, and LB is computed for the same subset.
 */
export const SHAPES: Record<string, TenantSpec & { subset?: Partial<Record<number, number>> }> = {
  uniform: { seed: 11, shape: "uniform", mailboxes: 16, totalMessages: 1600, subset: { 1: 1, 4: 8 } },
  skewed: { seed: 12, shape: "skewed", mailboxes: 24, totalMessages: 800, subset: { 1: 4 } },
  giant: { seed: 13, shape: "giant", mailboxes: 8, totalMessages: 400, maxUserFolders: 4, subset: { 1: 2 } },
  "many-small": {
    seed: 14,
    shape: "many-small",
    // BENCH_MANY_SMALL_MAILBOXES: a larger many-small tenant (3 items each), for runs of its own.
    mailboxes: Number(process.env.BENCH_MANY_SMALL_MAILBOXES ?? 160),
    totalMessages: 3 * Number(process.env.BENCH_MANY_SMALL_MAILBOXES ?? 160),
    largeFraction: 0,
    subset: { 1: 8, 4: 32 },
  },
};
/** Requests per item on mailboxes of realistic density (hundreds of items per folder); latency does not change it. */
export const DENSE: TenantSpec = {
  seed: 15,
  shape: "uniform",
  mailboxes: 2,
  totalMessages: 1200,
  maxUserFolders: 2,
};
export const STREAM_COUNTS = [1, 4, 16, 64];
/** Delta page size (the configuration's default, `Prefer: odata.maxpagesize`). */
export const PAGE_SIZE = 100;

/** The simulated service in the work model's terms (LB's input). */
export const SERVICE: ServiceModel = {
  perRequestSeconds: (LATENCY.baseMs ?? 0) / 1000,
  perByteSeconds: (LATENCY.perMimeByteNs ?? 0) * 1e-9,
  pageSize: PAGE_SIZE,
};
