/**
 * The control plane at tenant scale (issue 15): tenants of 1,000 / 10,000 / 20,000 small
 * mailboxes (one message each), each backed up in full. Per size: discovery and planning
 * seconds, coordinator invocations and the longest one, the coordinator's peak heap growth,
 * state-table requests per mailbox (by phase), the job's makespan over a lower bound that
 * includes discovery, and how those grow from the smallest size to the largest. Run alone with
 * `npm run bench -- --scale` (`--scale-sizes=1000,10000` to choose sizes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import type { LatencyOptions } from "../lib/dev/sim/server/index.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { lowerBound, resolvePlanLimits, type WorkEstimate } from "../lib/plan/index.js";
import { figures, type RunFigures, realContent } from "./figures.js";
import { LIMITS, PAGE_SIZE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess } from "./sim-process.js";

export const SCALE_SIZES = [1_000, 10_000, 20_000];
/** Fast answers, so that the machine (not the simulated latency) serves 20,000 mailboxes in minutes. */
export const SCALE_LATENCY: LatencyOptions = { baseMs: 20, jitterMs: 0, perMimeByteNs: 0 };
/** The service's limits are the other sections' (4 in flight, 600 requests per 20 s per mailbox). */
export const SCALE_LIMITS = LIMITS;
export const SCALE_STREAMS = 32;
/**
 * The invocation timeout the runs give the coordinator and each discovery continuation, seconds:
 * far below Lambda's 15 minutes, so that a 20,000-mailbox tenant takes many invocations here and
 * shows that none grows with the tenant.
 */
const COORDINATOR_TIMEOUT_SECONDS = 120;
/** The deadline margin of those invocations (controller.deadlineMarginMs), ms. */
const DEADLINE_MARGIN_MS = 40_000;
/**
 * Discovery's Graph requests per mailbox of these tenants, as the planning-only runs measured
 * them (`scalePlanning` in bench/results/latest.json: 3.45 in content mode fidelity; pages, probes,
 * mailbox ids and folder trees of the primary and archive mailboxes), for the full runs, whose
 * streams overlap discovery.
 */
const PLANNING_ONLY_DISCOVERY_REQUESTS_PER_MAILBOX = 3.45;
/** Users per discovery piece (discovery.pieceMailboxes): the default, one directory page. */
const PIECE_MAILBOXES = 999;

export function scaleTenant(mailboxes: number): TenantSpec {
  return { seed: 17, shape: "many-small", mailboxes, totalMessages: mailboxes, largeFraction: 0 };
}

export interface ScaleRow {
  mailboxes: number;
  folders: number;
  items: number;
  /** Job created → discovery done: every piece (directory page, probes, folder listing, plan, commit). */
  planningSeconds: number;
  /** Job created → the first stream tasks sent (the first piece committed). */
  firstStreamsSeconds: number;
  /** The coordinator's invocation and the discovery continuations (each one invocation). */
  coordinatorInvocations: number;
  longestInvocationSeconds: number;
  /** Discovery pieces, and the most users one of them read (bounded by the piece size). */
  pieces: number;
  largestPiece: number;
  longestPieceSeconds: number;
  /**
   * The largest peak heap growth of one invocation (planning-only runs: nothing else ran in the
   * process; a full run's invocations share it with the controller and report 0).
   */
  coordinatorPeakHeapBytes: number;
  coordinatorPeakRssBytes: number;
  /**
   * The bench process's peak heap in any invocation (absolute: the harness, the in-process
   * emulators and the coordinator), against `heapLimitBytes`.
   */
  processPeakHeapBytes: number;
  /**
   * The heap live after each piece (a full collection first, so no garbage), per invocation, in
   * bytes (planning-only runs; empty in a full run). Flat across an invocation's pieces = nothing
   * of a piece is kept.
   */
  liveHeapAfterPieces: number[][];
  /**
   * Live heap growth per piece: over the invocations of two pieces or more, the largest of
   * (live after its last piece − live after its first) / (its pieces − 1). Null when no
   * invocation ran two pieces (or in a full run).
   */
  liveHeapGrowthPerPieceBytes: number | null;
  /**
   * Graph requests of discovery (directory pages, probes, folder listings): counted in a
   * planning-only run; a full run, whose streams overlap discovery, counts the planning-only rate.
   */
  discoveryRequests: number;
  stateRequests: {
    planning: number;
    backupAndFinalizing: number;
    total: number;
    byCommand: Record<string, number>;
  };
  stateRequestsPerMailbox: number;
  /** The coordinator's share: discovery, planning, the plan written. */
  planningStateRequestsPerMailbox: number;
  /** LB of the streams' work alone (as the other sections). */
  backupLowerBoundSeconds: number;
  /**
   * LB with discovery: each mailbox's share of discovery requests added to its work (probing and
   * listing are per-mailbox requests under the same limits), plus the directory's first page.
   */
  lowerBoundSeconds: number;
  /** Null in a planning-only run. */
  makespanOverLowerBound: number | null;
  /**
   * Users one piece could take within an invocation's timeout less its margin at the measured
   * rate (pieces are 999 users at most: the directory's page).
   */
  largestPiecePerInvocation: number;
  /** The whole job's figures; null in a planning-only run. */
  full: RunFigures | null;
}

export interface ScaleFigures {
  latencyMs: number;
  limits: typeof SCALE_LIMITS;
  streams: number;
  coordinatorTimeoutSeconds: number;
  deadlineMarginMs: number;
  pieceMailboxes: number;
  /**
   * The process's heap limit (V8's heap_size_limit): run with NODE_OPTIONS=--max-old-space-size=400
   * to hold the coordinator to about what a 512 MB Lambda leaves it.
   */
  heapLimitBytes: number;
  rows: ScaleRow[];
  /**
   * Per-mailbox figures at the largest size over the smallest (1.0 = linear growth; target ≤ 1.2).
   */
  growth: {
    planningSeconds: number;
    stateRequests: number;
    coordinatorHeap: number;
    /** Null when either size ran planning only. */
    makespan: number | null;
  } | null;
}

/**
 * A full garbage collection on demand (V8's `gc`, exposed here rather than by a node flag so that
 * `npm run bench` needs none): the live heap after a piece is then what the piece kept.
 */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** A logger that keeps nothing but calls `onEvent` with each event (the bench follows the pieces). */
type Logger = NonNullable<Parameters<typeof startLocalServices>[0]["logger"]>;
function eventLogger(onEvent: (event: string) => void): Logger {
  const logger: Logger = {
    debug: () => {},
    info: (event) => onEvent(event),
    warn: () => {},
    error: () => {},
    child: () => logger,
  };
  return logger;
}

/** Samples the process's heap and RSS until stopped; peaks above the level at start, and the heap's peak. */
function memorySampler(everyMs = 50) {
  const base = process.memoryUsage();
  let heap = base.heapUsed;
  let rss = base.rss;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed);
    rss = Math.max(rss, m.rss);
  }, everyMs);
  return () => {
    clearInterval(timer);
    return { heap: heap - base.heapUsed, rss: rss - base.rss, peakHeap: heap };
  };
}

async function benchScaleOne(
  mailboxes: number,
  planningOnly: boolean,
  ca: { certPem: string; keyPem: string },
  caDir: string,
): Promise<ScaleRow> {
  const spec = scaleTenant(mailboxes);
  const sim = await startSimProcess({
    tenant: spec,
    latency: SCALE_LATENCY,
    limits: SCALE_LIMITS,
    ca,
    certDir: caDir,
  });
  const dir = mkdtempSync(join(tmpdir(), `mailstream-bench-scale-${mailboxes}-`));
  let services: LocalServices | undefined;
  try {
    const truth = await sim.groundTruth();
    const service = {
      perRequestSeconds: (SCALE_LATENCY.baseMs ?? 0) / 1000,
      perByteSeconds: 0,
      pageSize: PAGE_SIZE,
    };
    const content = realContent(truth, service);
    const planLimits = resolvePlanLimits({
      maxStreams: SCALE_STREAMS,
      perMailboxConcurrency: SCALE_LIMITS.concurrentPerMailbox,
      budgetPerWindow: SCALE_LIMITS.budgetPerWindow,
      windowSeconds: SCALE_LIMITS.windowMs / 1000,
      requestLatencySeconds: service.perRequestSeconds,
      perByteSeconds: 0,
    });
    // Planning only: after each piece, a full collection and the live heap, in the running
    // invocation's list (the collection takes a moment of the piece's invocation).
    const gc = planningOnly ? collector() : undefined;
    let livePerPiece: number[] | undefined;
    const liveHeapAfterPieces: number[][] = [];
    const logger = eventLogger((event) => {
      if (event !== "discovery.piece" || !gc || !livePerPiece) return;
      gc();
      livePerPiece.push(process.memoryUsage().heapUsed);
    });
    services = await startLocalServices(
      {
        logger,
        archive: { kind: "local", path: join(dir, "archive") },
        streams: SCALE_STREAMS,
        planLimits,
        functionTimeoutMs: COORDINATOR_TIMEOUT_SECONDS * 1000,
        env: {
          MAILSTREAM_DEADLINE_MARGIN_MS: String(DEADLINE_MARGIN_MS),
          MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: String(PIECE_MAILBOXES),
        },
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    // Every state-table request, by phase and command (the document client sends through this stack).
    let phase: "planning" | "backupAndFinalizing" = "planning";
    const state = { planning: 0, backupAndFinalizing: 0, total: 0, byCommand: {} as Record<string, number> };
    stack.clients.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        state[phase]++;
        state.total++;
        const name = String(context.commandName ?? "unknown");
        state.byCommand[name] = (state.byCommand[name] ?? 0) + 1;
        return next(args);
      },
      { step: "initialize", name: "benchStateRequests" },
    );

    /** Each discovery invocation: its seconds, peak memory growth, pieces. */
    const invocations: Array<{ seconds: number; heap: number; rss: number; peakHeap: number }> = [];
    let largestPiece = 0;
    let longestPieceMs = 0;
    let pieces = 0;
    const invocation = async <T extends { status: string }>(
      work: (remainingMs: () => number) => Promise<T>,
    ): Promise<T> => {
      gc?.();
      const stopSampling = planningOnly ? memorySampler() : () => ({ heap: 0, rss: 0, peakHeap: 0 });
      livePerPiece = [];
      const t0 = Date.now();
      const deadline = t0 + COORDINATOR_TIMEOUT_SECONDS * 1000;
      const out = await work(() => deadline - Date.now());
      const peak = stopSampling();
      if (gc) liveHeapAfterPieces.push(livePerPiece);
      livePerPiece = undefined;
      invocations.push({ seconds: (Date.now() - t0) / 1000, ...peak });
      const run = out as unknown as { largestPiece?: number; longestPieceMs?: number; pieces?: number };
      largestPiece = Math.max(largestPiece, run.largestPiece ?? 0);
      longestPieceMs = Math.max(longestPieceMs, run.longestPieceMs ?? 0);
      pieces += run.pieces ?? 0;
      return out;
    };
    // The controller runs the continuations as invocations of their own.
    const continueDiscovery = stack.app.continueDiscovery.bind(stack.app);
    stack.app.continueDiscovery = (task) => invocation((remainingMs) => continueDiscovery(task, remainingMs));

    // Planning only: no controller runs; the continuations are run here, one after another, as
    // the controller would run them (the stream tasks the pieces send stay in the queue).
    if (planningOnly) await stack.source.stop();
    const c0 = await counters(sim);
    const started = await invocation((remainingMs) =>
      stack.app.startJob({ kind: "on-demand", time: new Date().toISOString() }, remainingMs),
    );
    const jobId = started.jobId;
    const discovered = async () => (await stack.app.state.getDiscovery(jobId))?.done === true;
    let full: RunFigures | undefined;
    if (planningOnly) {
      while (!(await discovered())) {
        const piece = (await stack.app.state.getDiscovery(jobId))?.piece ?? 0;
        await stack.app.continueDiscovery({ kind: "discover", jobId, piece }, () => 0);
      }
    } else {
      phase = "backupAndFinalizing";
      const report = await stack.waitForJob(jobId, { refreshMs: 2000 });
      full = figures(report, c0, await counters(sim), SCALE_STREAMS);
    }
    const c1 = await counters(sim);
    const job = await stack.app.state.getJob(jobId);
    const seconds = (from: string | undefined, to: string | undefined) =>
      from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : 0;
    const planningSeconds = seconds(job?.createdAt, job?.discoveredAt);
    const longestInvocationSeconds = Math.max(...invocations.map((i) => i.seconds));

    // A full run's streams start on the first piece, so its requests mix discovery's and the
    // backup's: it counts discovery at the rate the planning-only runs measured.
    const discoveryRequests = planningOnly
      ? c1.requests - c0.requests
      : Math.round(PLANNING_ONLY_DISCOVERY_REQUESTS_PER_MAILBOX * content.works.length);
    // The directory's first page comes before any probe; every other discovery request (pages,
    // probes, folder listings) is spread over the mailboxes backed up (they are alike here).
    const perMailbox = (discoveryRequests - 1) / Math.max(1, content.works.length);
    const withDiscovery: WorkEstimate[] = content.works.map((w) => ({
      requests: w.requests + perMailbox,
      serialSeconds: w.serialSeconds + perMailbox * service.perRequestSeconds,
    }));
    const backupLb = lowerBound(content.works, SCALE_STREAMS, planLimits);
    const lb = service.perRequestSeconds + lowerBound(withDiscovery, SCALE_STREAMS, planLimits);
    return {
      mailboxes: content.works.length,
      folders: content.folders,
      items: content.items,
      planningSeconds,
      firstStreamsSeconds: seconds(job?.createdAt, job?.plannedAt),
      coordinatorInvocations: invocations.length,
      longestInvocationSeconds,
      pieces,
      largestPiece,
      longestPieceSeconds: longestPieceMs / 1000,
      coordinatorPeakHeapBytes: Math.max(...invocations.map((i) => i.heap)),
      coordinatorPeakRssBytes: Math.max(...invocations.map((i) => i.rss)),
      processPeakHeapBytes: Math.max(...invocations.map((i) => i.peakHeap)),
      liveHeapAfterPieces,
      liveHeapGrowthPerPieceBytes: growthPerPiece(liveHeapAfterPieces),
      discoveryRequests,
      stateRequests: state,
      stateRequestsPerMailbox: state.total / Math.max(1, content.works.length),
      planningStateRequestsPerMailbox: state.planning / Math.max(1, content.works.length),
      backupLowerBoundSeconds: backupLb,
      lowerBoundSeconds: lb,
      makespanOverLowerBound: full && lb > 0 ? full.makespanSeconds / lb : null,
      largestPiecePerInvocation: Math.floor(
        ((COORDINATOR_TIMEOUT_SECONDS - DEADLINE_MARGIN_MS / 1000) / Math.max(1e-9, longestPieceMs / 1000)) *
          largestPiece,
      ),
      full: full ?? null,
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The largest live-heap growth per piece of an invocation that ran two pieces or more. */
function growthPerPiece(invocations: readonly number[][]): number | null {
  const slopes = invocations
    .filter((live) => live.length >= 2)
    .map((live) => ((live.at(-1) as number) - (live[0] as number)) / (live.length - 1));
  return slopes.length > 0 ? Math.max(...slopes) : null;
}

export async function benchScale(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  sizes: readonly number[] = SCALE_SIZES,
  /** After each size, with the figures so far (a long run leaves its rows if interrupted). */
  onRow?: (row: ScaleRow, sofar: ScaleFigures) => void,
  /** Only the coordinator's invocation (discovery and planning) of each size, not the backup. */
  planningOnly = false,
): Promise<ScaleFigures> {
  const rows: ScaleRow[] = [];
  for (const size of sizes) {
    const row = await benchScaleOne(size, planningOnly, ca, caDir);
    rows.push(row);
    onRow?.(row, scaleFigures(rows));
  }
  return scaleFigures(rows);
}

/** The section's figures from the rows measured so far (smallest size first). */
export function scaleFigures(rows: readonly ScaleRow[]): ScaleFigures {
  const first = rows[0];
  const last = rows.at(-1);
  const per = (row: ScaleRow, value: number) => value / row.mailboxes;
  const growth =
    first && last && last !== first
      ? {
          planningSeconds:
            per(last, last.planningSeconds) / Math.max(1e-9, per(first, first.planningSeconds)),
          stateRequests: last.stateRequestsPerMailbox / Math.max(1e-9, first.stateRequestsPerMailbox),
          coordinatorHeap:
            per(last, last.coordinatorPeakHeapBytes) /
            Math.max(1e-9, per(first, first.coordinatorPeakHeapBytes)),
          makespan:
            last.full && first.full
              ? per(last, last.full.makespanSeconds) / Math.max(1e-9, per(first, first.full.makespanSeconds))
              : null,
        }
      : null;
  return {
    latencyMs: SCALE_LATENCY.baseMs ?? 0,
    limits: SCALE_LIMITS,
    streams: SCALE_STREAMS,
    coordinatorTimeoutSeconds: COORDINATOR_TIMEOUT_SECONDS,
    deadlineMarginMs: DEADLINE_MARGIN_MS,
    pieceMailboxes: PIECE_MAILBOXES,
    heapLimitBytes: getHeapStatistics().heap_size_limit,
    rows: [...rows],
    growth,
  };
}
