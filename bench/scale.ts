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
/** The coordinator's configured timeout on AWS (infra: 15 minutes), against which pieces are sized. */
const COORDINATOR_TIMEOUT_SECONDS = 900;

export function scaleTenant(mailboxes: number): TenantSpec {
  return { seed: 17, shape: "many-small", mailboxes, totalMessages: mailboxes, largeFraction: 0 };
}

export interface ScaleRow {
  mailboxes: number;
  folders: number;
  items: number;
  /** Job created → stream tasks sent: discovery, folder listing, planning, plan written. */
  planningSeconds: number;
  coordinatorInvocations: number;
  longestInvocationSeconds: number;
  /** Peak heap growth of the process during the coordinator's invocation (nothing else ran). */
  coordinatorPeakHeapBytes: number;
  coordinatorPeakRssBytes: number;
  /** Graph requests of discovery (directory pages, probes, folder listings). */
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
  /** Mailboxes one coordinator invocation could plan within its timeout at the measured rate. */
  largestTenantPerInvocation: number;
  /** The whole job's figures; null in a planning-only run. */
  full: RunFigures | null;
}

export interface ScaleFigures {
  latencyMs: number;
  limits: typeof SCALE_LIMITS;
  streams: number;
  coordinatorTimeoutSeconds: number;
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

/** Samples the process's heap and RSS until stopped; peaks above the level at start. */
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
    return { heap: heap - base.heapUsed, rss: rss - base.rss };
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
    services = await startLocalServices(
      { archive: { kind: "local", path: join(dir, "archive") }, streams: SCALE_STREAMS, planLimits },
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

    // The coordinator alone: no controller receives a task until planning is done.
    await stack.source.stop();
    const c0 = await counters(sim);
    const stopSampling = memorySampler();
    const t0 = Date.now();
    const started = await stack.app.startJob({ kind: "on-demand", time: new Date().toISOString() });
    const invocationSeconds = (Date.now() - t0) / 1000;
    const peak = stopSampling();
    const c1 = await counters(sim);
    // Planning only: the job is left running unserved (its figures are the coordinator's).
    let full: RunFigures | undefined;
    if (!planningOnly) {
      phase = "backupAndFinalizing";
      stack.source.start();
      const report = await stack.waitForJob(started.jobId, { refreshMs: 2000 });
      full = figures(report, c0, await counters(sim), SCALE_STREAMS);
    }

    const discoveryRequests = c1.requests - c0.requests;
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
      planningSeconds: full?.planningSeconds ?? invocationSeconds,
      coordinatorInvocations: 1,
      longestInvocationSeconds: invocationSeconds,
      coordinatorPeakHeapBytes: peak.heap,
      coordinatorPeakRssBytes: peak.rss,
      discoveryRequests,
      stateRequests: state,
      stateRequestsPerMailbox: state.total / Math.max(1, content.works.length),
      planningStateRequestsPerMailbox: state.planning / Math.max(1, content.works.length),
      backupLowerBoundSeconds: backupLb,
      lowerBoundSeconds: lb,
      makespanOverLowerBound: full && lb > 0 ? full.makespanSeconds / lb : null,
      largestTenantPerInvocation: Math.floor(
        (COORDINATOR_TIMEOUT_SECONDS / Math.max(1e-9, invocationSeconds)) * content.works.length,
      ),
      full: full ?? null,
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
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
    rows: [...rows],
    growth,
  };
}
