/**
 * The runs of one tenant shape: its rig (the simulator in a process of its own, the AWS
 * emulators) and, per stream count N, a full backup (and at N = 16 a mutation round, an
 * incremental backup and one with nothing changed), with their figures.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobReport } from "../lib/backup/report.js";
import { ControllerProcessPool } from "../lib/dev/local/controllers.js";
import { type RunningEmulators, startEmulators } from "../lib/dev/local/emulators.js";
import { type LocalServices, type ServicesOptions, startLocalServices } from "../lib/dev/local/stack.js";
import { stateRequestSite } from "../lib/dev/local/state-request-site.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { lowerBound, type MailContent } from "../lib/plan/index.js";
import { figures, type GraphCounters, type RunFigures, realContent } from "./figures.js";
import {
  type ComponentCpu,
  cpuBetween,
  type MainThreadWait,
  sampleComponentCpu,
  sampleMainThreadWait,
  waitBetween,
} from "./process-cpu.js";
import { archiveRoot, LATENCY, LIMITS, planLimitsFor, SERVICE, SHAPES } from "./settings.js";
import { type SimProcess, startSimProcess } from "./sim-process.js";

export interface BenchRow {
  shape: string;
  streams: number;
  /** The content mode for mail the stack ran in (the configuration's `mailContent`). */
  mailContent: MailContent;
  mailboxes: number;
  folders: number;
  tenantItems: number;
  lowerBoundSeconds: number;
  plannedMakespanSeconds: number;
  planUnits: number;
  /** The plan's streams (≤ N: the fewest that reach its best predicted makespan). */
  planStreams: number;
  /**
   * The full backup's Graph requests by unit, as planned (the plan's estimate) and as made (the
   * unit's own count): Σ of each, and the unit farthest from its estimate (made / planned).
   */
  unitRequests: { planned: number; made: number; worstMadeOverPlanned: number };
  full: RunFigures & { makespanOverLowerBound: number; backupOverLowerBound: number };
  /** Where the controllers ran: 0 in the harness process, K in K processes of their own. */
  controllerProcesses?: number;
  /**
   * CPU seconds of the full backup by process (job start to report): the harness (S3/SQS
   * emulator, coordinator, sweep, and the controllers when in process), the controller
   * processes, the simulator, DynamoDB Local. Absent in rows measured before they were counted.
   */
  fullCpuSeconds?: ComponentCpu;
  /** The full backup's main threads' run-queue waits (s): how much the machine's load held the run up. */
  fullRunQueueWaitSeconds?: MainThreadWait;
  /**
   * The full backup's state-table requests by `command site` (lib/dev/local/state-request-site.ts),
   * when asked for (`countStateRequests`: reading a stack per request costs the harness CPU).
   */
  stateRequestsBySite?: Record<string, number>;
  /** Only at N = 16. */
  incremental?: RunFigures & { changedItems: number; requestsPerChangedItem: number };
  /** Only at N = 16. */
  unchanged?: RunFigures & { folders: number; mailboxes: number; requestsPerFolder: number };
}

export async function counters(sim: SimProcess): Promise<GraphCounters> {
  const g = (await sim.stats()).graph;
  return {
    requests: g.requests,
    throttled: g.throttled,
    earlyRetries: g.earlyRetries,
    batchedRequests: g.batchedRequests,
    batches: g.batches,
  };
}

/** What the runs of one shape share: the simulator (its own process) and the AWS emulators. */
export interface ShapeRig {
  shape: string;
  spec: TenantSpec;
  subset: Partial<Record<number, number>> | undefined;
  sim: SimProcess;
  emulators: RunningEmulators;
  /** False when the emulators are shared with other rigs (stopped by whoever started them). */
  ownsEmulators: boolean;
  dir: string;
}

export async function startRig(
  shape: string,
  ca: { certPem: string; keyPem: string },
  caDir: string,
  /** The tenant, when not the shape's of SHAPES (a shape at another scale). */
  tenant?: TenantSpec & { subset?: Partial<Record<number, number>> },
  /** AWS emulators shared with other shapes (each run has tables and queues of its own). Default: a pair of its own. */
  shared?: RunningEmulators,
): Promise<ShapeRig> {
  const { subset, ...spec } = tenant ?? SHAPES[shape]!;
  // The simulator runs in a process of its own: Graph is another machine for a controller.
  const sim = await startSimProcess({ tenant: spec, latency: LATENCY, limits: LIMITS, ca, certDir: caDir });
  const dir = mkdtempSync(join(archiveRoot(), `mailstream-bench-${shape}-`));
  try {
    const emulators = shared ?? (await startEmulators({}));
    return { shape, spec, subset, sim, emulators, ownsEmulators: !shared, dir };
  } catch (error) {
    await sim.close();
    throw error;
  }
}

/**
 * The controller processes of the runs that put them in processes of their own, by count K, kept
 * from one run to the next (lib/dev/local/controllers.ts `ControllerProcessPool`): a child forked
 * per run interprets the controller path anew in every run, where the harness process running
 * them itself is warm after its first run. `BENCH_WARM_CONTROLLERS=0` forks them per run again.
 */
const controllerPools = new Map<number, ControllerProcessPool>();

function controllerPoolFor(processes: number): ControllerProcessPool | undefined {
  if (processes < 1 || process.env.BENCH_WARM_CONTROLLERS === "0") return undefined;
  let pool = controllerPools.get(processes);
  if (!pool) {
    pool = new ControllerProcessPool(processes);
    controllerPools.set(processes, pool);
  }
  return pool;
}

/** Ends the kept controller processes (each entry point's runs are over). */
export async function closeControllerPools(): Promise<void> {
  const pools = [...controllerPools.values()];
  controllerPools.clear();
  await Promise.all(pools.map((pool) => pool.close()));
}

export async function stopRig(rig: ShapeRig): Promise<void> {
  // A rig with emulators of its own is an entry point's only one: its runs are over. Rigs that
  // share emulators leave the kept controllers to whoever stops the emulators.
  if (rig.ownsEmulators) await closeControllerPools();
  if (rig.ownsEmulators) await rig.emulators.stop();
  await rig.sim.close();
  rmSync(rig.dir, { recursive: true, force: true });
}

export interface BenchOneOptions {
  /** Where each full backup's job report is written (none by default). */
  reportsDir?: string | undefined;
  /** The stack's content mode for mail, and the work model of LB. Default `fidelity` (the configuration's default). */
  mailContent?: MailContent;
  /** Only the full backup, also at N = 16 (no mutation round): the tenant stays as it is. Default false. */
  fullOnly?: boolean;
  /** The stack's logger (bench/timeline.ts reads the streams' events from it). Default none. */
  logger?: ServicesOptions["logger"];
  /** The stack's `controllerProcesses` (0: the controllers in this process). Default 0. */
  controllerProcesses?: number;
  /** Count the full backup's state requests by call site (`BenchRow.stateRequestsBySite`). Default false. */
  countStateRequests?: boolean;
}

/** Planned against made requests per unit of a job (see `BenchRow.unitRequests`). */
export function unitRequests(report: JobReport): BenchRow["unitRequests"] {
  const planned = new Map(report.plan.units.map((u) => [u.index, u.cost]));
  let sumPlanned = 0;
  let sumMade = 0;
  let worst = 1;
  for (const u of report.units) {
    const p = planned.get(u.index) ?? 0;
    const made = u.requests ?? 0;
    sumPlanned += p;
    sumMade += made;
    const ratio = p > 0 ? made / p : 1;
    if (Math.abs(Math.log(ratio)) > Math.abs(Math.log(worst))) worst = ratio;
  }
  return { planned: sumPlanned, made: sumMade, worstMadeOverPlanned: worst };
}

/** One N of a shape: a fresh state table, queue and archive in the shape's emulators. */
export async function benchOne(
  rig: ShapeRig,
  streams: number,
  options: BenchOneOptions = {},
): Promise<BenchRow> {
  const { shape, spec, subset, sim } = rig;
  const { reportsDir } = options;
  const mailContent = options.mailContent ?? "fidelity";
  const dir = join(rig.dir, `n${streams}-${mailContent}`);
  let services: LocalServices | undefined;
  try {
    const truth = await sim.groundTruth();
    const k = subset?.[streams];
    const only = k === undefined ? undefined : new Set(truth.mailboxes.slice(0, k).map((m) => m.address));
    const content = realContent(truth, { ...SERVICE, only, mailContent });
    const planLimits = planLimitsFor(streams);
    const lb = lowerBound(content.works, streams, planLimits);
    const pool = controllerPoolFor(options.controllerProcesses ?? 0);
    services = await startLocalServices(
      {
        // `BENCH_ARCHIVE_S3=1`: a fresh bucket in the S3 emulator instead of the local folder
        // (packs on at the config's default threshold, as a deployed archive).
        archive:
          process.env.BENCH_ARCHIVE_S3 === "1"
            ? { kind: "s3", bucket: `bench-${shape}-n${streams}-${randomUUID().slice(0, 8)}` }
            : { kind: "local", path: join(dir, "archive") },
        emulators: rig.emulators,
        // Unique in the run: the emulators may serve every shape and step (giant-modes runs
        // the giant shape at N = 16 again), and a table or queue found would be reused.
        resourceSuffix: `-${shape}-n${streams}-${mailContent}-${randomUUID().slice(0, 8)}`,
        streams,
        planLimits,
        ...(options.controllerProcesses ? { controllerProcesses: options.controllerProcesses } : {}),
        ...(pool ? { controllerPool: pool } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        env: {
          MAILSTREAM_MAIL_CONTENT: mailContent,
          ...(process.env.BENCH_ARCHIVE_PACKS
            ? { MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: process.env.BENCH_ARCHIVE_PACKS }
            : {}),
          // `BENCH_FIRST_PAGE_BATCH=1`: every first item delta page alone (as before session 15).
          ...(process.env.BENCH_FIRST_PAGE_BATCH
            ? { MAILSTREAM_FIRST_PAGE_BATCH: process.env.BENCH_FIRST_PAGE_BATCH }
            : {}),
          ...(only ? { MAILSTREAM_INCLUDE: JSON.stringify([...only]) } : {}),
        },
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    const bySite: Record<string, number> = {};
    if (options.countStateRequests) {
      stack.clients.dynamodb.middlewareStack.add(
        (next, context) => async (args) => {
          const site = `${String(context.commandName ?? "unknown")} ${stateRequestSite()}`;
          bySite[site] = (bySite[site] ?? 0) + 1;
          return next(args);
        },
        { step: "initialize", name: "benchStateRequestSites" },
      );
    }
    const c0 = await counters(sim);
    const pids = stack.controllerProcesses?.pids ?? [];
    const cpu0 = sampleComponentCpu(sim.pid, pids);
    const wait0 = sampleMainThreadWait(sim.pid, pids);
    const full = await stack.runJob({ refreshMs: 500 });
    const fullCpuSeconds = cpuBetween(cpu0, sampleComponentCpu(sim.pid, pids));
    const fullRunQueueWaitSeconds = waitBetween(wait0, sampleMainThreadWait(sim.pid, pids));
    const c1 = await counters(sim);
    const fullFigures = figures(full.report, c0, c1, streams);
    if (reportsDir) {
      // The whole job report, for `mailstream report`-style timelines of the run.
      writeFileSync(
        join(reportsDir, `${shape}-n${streams}-${mailContent}-full.json`),
        `${JSON.stringify(full.report, null, 2)}\n`,
      );
    }
    const row: BenchRow = {
      shape,
      streams,
      mailContent,
      mailboxes: content.works.length,
      folders: content.folders,
      tenantItems: content.items,
      lowerBoundSeconds: lb,
      plannedMakespanSeconds: full.report.plan.predictedMakespanSeconds,
      planUnits: full.report.plan.units.length,
      planStreams: full.report.plan.streams,
      unitRequests: unitRequests(full.report),
      controllerProcesses: options.controllerProcesses ?? 0,
      fullCpuSeconds,
      fullRunQueueWaitSeconds,
      ...(options.countStateRequests ? { stateRequestsBySite: { ...bySite } } : {}),
      full: {
        ...fullFigures,
        makespanOverLowerBound: lb > 0 ? fullFigures.makespanSeconds / lb : 0,
        backupOverLowerBound: lb > 0 ? fullFigures.backupSeconds / lb : 0,
      },
    };
    // The incremental run (requests per change) and the run with nothing changed (requests
    // only) are made once per shape, at N = 16, to keep the benchmark within its time.
    if (streams === 16 && !options.fullOnly) {
      const mutation = await sim.mutate({ seed: spec.seed * 7 + streams, intensity: 0.05 });
      const changedItems =
        mutation.newMessages + mutation.deletes + mutation.moves + mutation.propertyChanges;
      const c2 = await counters(sim);
      const incremental = await stack.runJob({ refreshMs: 500 });
      const c3 = await counters(sim);
      const incFigures = figures(incremental.report, c2, c3, streams);
      row.incremental = {
        ...incFigures,
        changedItems,
        requestsPerChangedItem: changedItems > 0 ? incFigures.requests / changedItems : 0,
      };
      const unchanged = await stack.runJob({ refreshMs: 500 });
      const c4 = await counters(sim);
      const unchangedFigures = figures(unchanged.report, c3, c4, streams);
      const foldersAfter = realContent(await sim.groundTruth(), { ...SERVICE, mailContent }).folders;
      row.unchanged = {
        ...unchangedFigures,
        folders: foldersAfter,
        mailboxes: content.works.length,
        requestsPerFolder: foldersAfter > 0 ? unchangedFigures.requests / foldersAfter : 0,
      };
    }
    return row;
  } finally {
    await services?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
