/**
 * `npm run bench`: the multi-streaming benchmark (issue 4). For each tenant shape and stream
 * count N it runs a full backup against the simulator with its limits on, a mutation round and an
 * incremental backup, then an incremental backup with nothing changed; it also measures the peak
 * RSS of a process backing up a mailbox that holds a 100 MB message. Prints a table and writes
 * bench/results/latest.json. Figures are explained in bench/README.md.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningEmulators, startEmulators } from "../lib/dev/local/emulators.js";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import { reexecTrustingCa } from "../lib/dev/local/trust-ca.js";
import { ensureSimulatorCa, type LatencyOptions, type LimitOptions } from "../lib/dev/sim/server/index.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { lowerBound, type PlanLimits, resolvePlanLimits } from "../lib/plan/index.js";
import { benchChaos, type ChaosBenchResult } from "./chaos.js";
import type { ControllerRssResult } from "./controller-rss.js";
import { figures, type GraphCounters, type RunFigures, realContent, type ServiceModel } from "./figures.js";
import { type SimProcess, startSimProcess } from "./sim-process.js";
import { rightAlignedTable } from "./table.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Simulated service, scaled so that a small tenant behaves like a large one under Graph's limits. */
const LATENCY: LatencyOptions = {
  baseMs: Number(process.env.BENCH_LATENCY_MS ?? 400),
  jitterMs: 0,
  perMimeByteNs: 20,
};
const LIMITS: Required<Pick<LimitOptions, "concurrentPerMailbox" | "budgetPerWindow" | "windowMs">> = {
  concurrentPerMailbox: 4,
  budgetPerWindow: 600,
  windowMs: 20_000,
};
/** The planner's model of the same service (so its estimates, and LB, match the simulator). */
function planLimitsFor(streams: number): PlanLimits {
  return resolvePlanLimits({
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
const SHAPES: Record<string, TenantSpec & { subset?: Partial<Record<number, number>> }> = {
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
const DENSE: TenantSpec = {
  seed: 15,
  shape: "uniform",
  mailboxes: 2,
  totalMessages: 1200,
  maxUserFolders: 2,
};
const STREAM_COUNTS = [1, 4, 16, 64];
/** Delta page size (the configuration's default, `Prefer: odata.maxpagesize`). */
const PAGE_SIZE = 100;

/** The simulated service in the work model's terms (LB's input). */
const SERVICE: ServiceModel = {
  perRequestSeconds: (LATENCY.baseMs ?? 0) / 1000,
  perByteSeconds: (LATENCY.perMimeByteNs ?? 0) * 1e-9,
  pageSize: PAGE_SIZE,
};

interface BenchRow {
  shape: string;
  streams: number;
  mailboxes: number;
  folders: number;
  tenantItems: number;
  lowerBoundSeconds: number;
  plannedMakespanSeconds: number;
  planUnits: number;
  full: RunFigures & { makespanOverLowerBound: number; backupOverLowerBound: number };
  /** Only at N = 16. */
  incremental?: RunFigures & { changedItems: number; requestsPerChangedItem: number };
  /** Only at N = 16. */
  unchanged?: RunFigures & { folders: number; mailboxes: number; requestsPerFolder: number };
}

async function counters(sim: SimProcess): Promise<GraphCounters> {
  const g = (await sim.stats()).graph;
  return { requests: g.requests, throttled: g.throttled, earlyRetries: g.earlyRetries };
}

/** What the runs of one shape share: the simulator (its own process) and the AWS emulators. */
interface ShapeRig {
  shape: string;
  spec: TenantSpec;
  subset: Partial<Record<number, number>> | undefined;
  sim: SimProcess;
  emulators: RunningEmulators;
  dir: string;
}

async function startRig(
  shape: string,
  ca: { certPem: string; keyPem: string },
  caDir: string,
): Promise<ShapeRig> {
  const { subset, ...spec } = SHAPES[shape]!;
  // The simulator runs in a process of its own: Graph is another machine for a controller.
  const sim = await startSimProcess({ tenant: spec, latency: LATENCY, limits: LIMITS, ca, certDir: caDir });
  const dir = mkdtempSync(join(tmpdir(), `mailstream-bench-${shape}-`));
  try {
    const emulators = await startEmulators({});
    return { shape, spec, subset, sim, emulators, dir };
  } catch (error) {
    await sim.close();
    throw error;
  }
}

async function stopRig(rig: ShapeRig): Promise<void> {
  await rig.emulators.stop();
  await rig.sim.close();
  rmSync(rig.dir, { recursive: true, force: true });
}

/** `--reports=DIR`: where each full backup's job report is written (none by default). */
const reportsDir = process.argv.find((a) => a.startsWith("--reports="))?.slice("--reports=".length);
if (reportsDir) mkdirSync(reportsDir, { recursive: true });

/** One N of a shape: a fresh state table, queue and archive in the shape's emulators. */
async function benchOne(rig: ShapeRig, streams: number): Promise<BenchRow> {
  const { shape, spec, subset, sim } = rig;
  const dir = join(rig.dir, `n${streams}`);
  let services: LocalServices | undefined;
  try {
    const truth = await sim.groundTruth();
    const k = subset?.[streams];
    const only = k === undefined ? undefined : new Set(truth.mailboxes.slice(0, k).map((m) => m.address));
    const content = realContent(truth, { ...SERVICE, only });
    const planLimits = planLimitsFor(streams);
    const lb = lowerBound(content.works, streams, planLimits);
    services = await startLocalServices(
      {
        archive: { kind: "local", path: join(dir, "archive") },
        emulators: rig.emulators,
        resourceSuffix: `-n${streams}`,
        streams,
        planLimits,
        ...(only ? { env: { MAILSTREAM_INCLUDE: JSON.stringify([...only]) } } : {}),
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    const c0 = await counters(sim);
    const full = await stack.runJob({ refreshMs: 500 });
    const c1 = await counters(sim);
    const fullFigures = figures(full.report, c0, c1, streams);
    if (reportsDir) {
      // The whole job report, for `mailstream report`-style timelines of the run.
      writeFileSync(
        join(reportsDir, `${shape}-n${streams}-full.json`),
        `${JSON.stringify(full.report, null, 2)}\n`,
      );
    }
    const row: BenchRow = {
      shape,
      streams,
      mailboxes: content.works.length,
      folders: content.folders,
      tenantItems: content.items,
      lowerBoundSeconds: lb,
      plannedMakespanSeconds: full.report.plan.predictedMakespanSeconds,
      planUnits: full.report.plan.units.length,
      full: {
        ...fullFigures,
        makespanOverLowerBound: lb > 0 ? fullFigures.makespanSeconds / lb : 0,
        backupOverLowerBound: lb > 0 ? fullFigures.backupSeconds / lb : 0,
      },
    };
    // The incremental run (requests per change) and the run with nothing changed (requests
    // only) are made once per shape, at N = 16, to keep the benchmark within its time.
    if (streams === 16) {
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
      const foldersAfter = realContent(await sim.groundTruth(), SERVICE).folders;
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

/**
 * The controller RSS measurement (bench/controller-rss.ts) run as a process of its own, so that
 * nothing this long benchmark left behind (emulators, sockets, heap) touches it.
 */
async function controllerRssInItsOwnProcess(): Promise<ControllerRssResult> {
  const out = join(mkdtempSync(join(tmpdir(), "mailstream-bench-rss-")), "rss.json");
  const child = spawn(
    process.execPath,
    [...process.execArgv, join(here, "controller-rss.ts"), `--out=${out}`],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: process.env,
    },
  );
  const code: number = await new Promise((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`controller RSS: expected exit 0, found exit ${code}`);
  return JSON.parse(readFileSync(out, "utf8")) as ControllerRssResult;
}

/** Requests per item of a full backup and of a run with nothing changed, on mailboxes of realistic density. */
async function benchDense(ca: { certPem: string; keyPem: string }, caDir: string): Promise<DenseFigures> {
  const latency: LatencyOptions = { baseMs: 25, jitterMs: 0, perMimeByteNs: 0 };
  const sim = await startSimProcess({ tenant: DENSE, latency, limits: LIMITS, ca, certDir: caDir });
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-dense-"));
  let services: LocalServices | undefined;
  try {
    const content = realContent(await sim.groundTruth(), SERVICE);
    services = await startLocalServices(
      { archive: { kind: "local", path: join(dir, "archive") }, streams: 4 },
      sim.info.tenantEnv,
    );
    const c0 = await counters(sim);
    const full = await services.runJob({ refreshMs: 500 });
    const c1 = await counters(sim);
    await services.runJob({ refreshMs: 500 });
    const c2 = await counters(sim);
    return {
      mailboxes: content.works.length,
      folders: content.folders,
      items: full.report.totals.items,
      fullRequests: c1.requests - c0.requests,
      requestsPerItem: (c1.requests - c0.requests) / Math.max(1, full.report.totals.items),
      unchangedRequests: c2.requests - c1.requests,
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface DenseFigures {
  mailboxes: number;
  folders: number;
  items: number;
  fullRequests: number;
  requestsPerItem: number;
  unchangedRequests: number;
}

const f = (n: number, d = 2) => n.toFixed(d);

function printTable(rows: BenchRow[]): void {
  const head = [
    "shape",
    "N",
    "makespan s",
    "plan s",
    "backup s",
    "final s",
    "LB s",
    "mk/LB",
    "bk/LB",
    "items/s",
    "MB/s",
    "req/item",
    "429s",
    "early",
    "idle%",
    "inc bk s",
    "inc req/chg",
    "unchg req",
    "folders+mbx",
  ];
  const lines = rows.map((r) => [
    r.shape,
    String(r.streams),
    f(r.full.makespanSeconds),
    f(r.full.planningSeconds),
    f(r.full.backupSeconds),
    f(r.full.finalizingSeconds),
    f(r.lowerBoundSeconds),
    f(r.full.makespanOverLowerBound),
    f(r.full.backupOverLowerBound),
    f(r.full.itemsPerSecond, 1),
    f(r.full.megabytesPerSecond),
    f(r.full.requestsPerItem, 3),
    String(r.full.throttled + (r.incremental?.throttled ?? 0)),
    String(r.full.earlyRetries + (r.incremental?.earlyRetries ?? 0)),
    f(100 * r.full.streamIdleShare, 0),
    r.incremental ? f(r.incremental.backupSeconds) : "-",
    r.incremental ? f(r.incremental.requestsPerChangedItem) : "-",
    r.unchanged ? String(r.unchanged.requests) : "-",
    r.unchanged ? `${r.unchanged.folders}+${r.unchanged.mailboxes}` : "-",
  ]);
  process.stdout.write(`${rightAlignedTable(head, lines)}\n`);
}

async function main(): Promise<void> {
  const caDir = join(tmpdir(), "mailstream-bench-ca");
  mkdirSync(caDir, { recursive: true });
  const sim = await ensureSimulatorCa(caDir);
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at start: run again trusting the simulator's.
  await reexecTrustingCa(sim.caCertPath, caDir);
  const ca = { certPem: sim.caCertPem, keyPem: sim.caKeyPem };
  const only = process.argv
    .find((a) => a.startsWith("--shapes="))
    ?.slice("--shapes=".length)
    .split(",")
    .filter(Boolean);
  const counts = process.argv
    .find((a) => a.startsWith("--streams="))
    ?.slice("--streams=".length)
    .split(",")
    .map(Number);
  const started = Date.now();
  const rows: BenchRow[] = [];
  const out =
    process.argv.find((a) => a.startsWith("--out="))?.slice("--out=".length) ??
    join(here, "results", "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  // Written after every run, so that an interrupted benchmark still leaves its figures.
  let dense: DenseFigures | undefined;
  let chaos: ChaosBenchResult | undefined;
  const save = (rss?: ControllerRssResult) => {
    const uniform1 = rows.find((r) => r.shape === "uniform" && r.streams === 1);
    const uniform16 = rows.find((r) => r.shape === "uniform" && r.streams === 16);
    const result = {
      ranAt: new Date().toISOString(),
      complete: rss !== undefined,
      wallSeconds: (Date.now() - started) / 1000,
      node: process.version,
      cpus: cpus().length,
      latency: LATENCY,
      limits: LIMITS,
      shapes: SHAPES,
      rows,
      speedupUniform16Over1:
        uniform1 && uniform16 ? uniform16.full.itemsPerSecond / uniform1.full.itemsPerSecond : null,
      dense: dense ? { spec: DENSE, ...dense } : null,
      controllerRss: rss ?? null,
      chaos: chaos ?? null,
    };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  for (const shape of only ?? Object.keys(SHAPES)) {
    const rig = await startRig(shape, ca, caDir);
    try {
      for (const streams of counts ?? STREAM_COUNTS) {
        process.stderr.write(`bench: ${shape} N=${streams} …\n`);
        rows.push(await benchOne(rig, streams));
        printTable(rows.slice(-1));
        save();
      }
    } finally {
      await stopRig(rig);
    }
  }
  process.stderr.write("bench: requests per item on mailboxes of realistic density …\n");
  dense = await benchDense(ca, caDir);
  save();
  process.stderr.write("bench: controller RSS with a 100 MB message …\n");
  const rss = await controllerRssInItsOwnProcess();
  save(rss);
  process.stderr.write("bench: chaos, a local backup killed again and again …\n");
  chaos = await benchChaos(ca);
  const result = save(rss);
  process.stdout.write("\n");
  printTable(rows);
  process.stdout.write(
    `\nuniform items/s N=16 / N=1: ${result.speedupUniform16Over1?.toFixed(2) ?? "n/a"} (target ≥ 12)\n` +
      `dense tenant (${dense.mailboxes} mailboxes, ${dense.folders} folders, ${dense.items} items): ` +
      `${dense.requestsPerItem.toFixed(3)} requests per item (target ≤ 1.05), ${dense.unchangedRequests} requests with nothing changed\n` +
      `controller peak RSS with a ${(rss.messageBytes / 1024 / 1024).toFixed(0)} MiB message: ${(rss.maxRssBytes / 1024 / 1024).toFixed(0)} MiB ` +
      `(target ≤ 200 MB), ${rss.status}\n` +
      `chaos: ${chaos.kills} kills, archive ${chaos.archiveEqualsTruth ? "equal to" : "DIFFERENT from"} the ground truth, ` +
      `${chaos.duplicates} duplicates, ${chaos.openJobs} open jobs, ${chaos.processesLeft} processes left\n` +
      `wall time ${result.wallSeconds.toFixed(0)} s\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
