/**
 * `npm run bench`: the multi-streaming benchmark (issue 4). For each tenant shape and stream
 * count N it runs a full backup against the simulator with its limits on, a mutation round and an
 * incremental backup, then an incremental backup with nothing changed; it also measures the peak
 * RSS of a process backing up a mailbox that holds a 100 MB message. Prints a table and writes
 * bench/results/latest.json. Figures are explained in bench/README.md.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JobReport } from "../lib/backup/report.js";
import { startLocalStack } from "../lib/local/stack.js";
import { reexecTrustingCa } from "../lib/local/trust-ca.js";
import {
  lowerBound,
  mailboxWork,
  type PlanLimits,
  type PlanMailbox,
  resolvePlanLimits,
} from "../lib/plan/index.js";
import type { TenantStore } from "../lib/sim/model.js";
import { ensureSimulatorCa, type LatencyOptions, type LimitOptions } from "../lib/sim/server/index.js";
import { generateTenant, type TenantSpec } from "../lib/sim/tenant/generate.js";
import { mutateTenant } from "../lib/sim/tenant/mutate.js";

const here = dirname(fileURLToPath(import.meta.url));

/** Simulated service, scaled so that a small tenant behaves like a large one under Graph's limits. */
const LATENCY: LatencyOptions = { baseMs: 25, jitterMs: 0, perMimeByteNs: 20 };
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

/** Tenant shapes, scaled to fit the whole benchmark in about 10 minutes on 2 cores. */
const SHAPES: Record<string, TenantSpec> = {
  uniform: { seed: 11, shape: "uniform", mailboxes: 16, totalMessages: 1600 },
  skewed: { seed: 12, shape: "skewed", mailboxes: 24, totalMessages: 1600 },
  giant: { seed: 13, shape: "giant", mailboxes: 8, totalMessages: 1600 },
  "many-small": { seed: 14, shape: "many-small", mailboxes: 240, totalMessages: 720, largeFraction: 0 },
};
const STREAM_COUNTS = [1, 4, 16, 64];

interface GraphCounters {
  requests: number;
  throttled: number;
  earlyRetries: number;
}

interface RunFigures {
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
  requests: number;
  requestsPerItem: number;
  throttled: number;
  throttledShare: number;
  earlyRetries: number;
  /** Σ over streams of seconds without a unit between the job's start and end. */
  streamIdleSeconds: number;
  /** Mean idle share of a stream: idle / (N × makespan). */
  streamIdleShare: number;
  status: string;
}

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
  incremental: RunFigures & { changedItems: number; requestsPerChangedItem: number };
  /** Only at N = 16. */
  unchanged?: RunFigures & { folders: number; requestsPerFolder: number };
}

/** The tenant's real content as the planner sees a first (full) pass. */
async function realContent(
  store: TenantStore,
): Promise<{ mailboxes: PlanMailbox[]; items: number; folders: number }> {
  const truth = await store.groundTruth();
  let items = 0;
  let folders = 0;
  const mailboxes = truth.mailboxes.map((m) => ({
    mailboxId: m.userId,
    address: m.address,
    folders: m.folders.map((f) => {
      if (!f.isSearchFolder) {
        items += f.messages.length;
        folders++;
      }
      return {
        folderId: f.id,
        path: f.path,
        totalItemCount: f.messages.length,
        sizeBytes: f.messages.reduce((s, x) => s + x.size, 0),
        hasSyncState: false,
        isSearchFolder: f.isSearchFolder,
      };
    }),
  }));
  return { mailboxes, items, folders };
}

function counters(stack: { sim: { stats(): { graph: GraphCounters } } }): GraphCounters {
  const g = stack.sim.stats().graph;
  return { requests: g.requests, throttled: g.throttled, earlyRetries: g.earlyRetries };
}

function figures(
  report: JobReport,
  before: GraphCounters,
  after: GraphCounters,
  streams: number,
): RunFigures {
  const makespan = report.makespanSeconds;
  const items = report.totals.items;
  const requests = after.requests - before.requests;
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
    streamIdleSeconds: idle + unusedIdle,
    streamIdleShare: makespan > 0 ? (idle + unusedIdle) / (streams * makespan) : 0,
    status: report.status,
  };
}

async function benchOne(
  shape: string,
  streams: number,
  ca: { certPem: string; keyPem: string },
): Promise<BenchRow> {
  const spec = SHAPES[shape] as TenantSpec;
  const store = generateTenant(spec);
  const content = await realContent(store);
  const planLimits = planLimitsFor(streams);
  const lb = lowerBound(
    content.mailboxes.map((m) => mailboxWork(m, planLimits)),
    streams,
    planLimits,
  );
  const dir = mkdtempSync(join(tmpdir(), `mailstream-bench-${shape}-${streams}-`));
  const stack = await startLocalStack({
    store,
    ca,
    latency: LATENCY,
    limits: LIMITS,
    archive: { kind: "local", path: join(dir, "archive") },
    dynamoDbPath: join(dir, "dynamodb"),
    streams,
    planLimits,
  });
  try {
    const c0 = counters(stack);
    const full = await stack.runJob({ refreshMs: 200 });
    const c1 = counters(stack);
    const mutation = mutateTenant(store, { seed: spec.seed * 7 + streams, intensity: 0.05 });
    const changedItems = mutation.newMessages + mutation.deletes + mutation.moves + mutation.propertyChanges;
    const c2 = counters(stack);
    const incremental = await stack.runJob({ refreshMs: 200 });
    const c3 = counters(stack);
    // A run with nothing changed measures requests, not streams: once per shape (N = 16) keeps
    // the benchmark within its time.
    const unchanged = streams === 16 ? await stack.runJob({ refreshMs: 200 }) : undefined;
    const c4 = counters(stack);
    const fullFigures = figures(full.report, c0, c1, streams);
    const incFigures = figures(incremental.report, c2, c3, streams);
    const unchangedFigures = unchanged ? figures(unchanged.report, c3, c4, streams) : undefined;
    const foldersAfter = (await realContent(store)).folders;
    return {
      shape,
      streams,
      mailboxes: content.mailboxes.length,
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
      incremental: {
        ...incFigures,
        changedItems,
        requestsPerChangedItem: changedItems > 0 ? incFigures.requests / changedItems : 0,
      },
      ...(unchangedFigures
        ? {
            unchanged: {
              ...unchangedFigures,
              folders: foldersAfter,
              requestsPerFolder: foldersAfter > 0 ? unchangedFigures.requests / foldersAfter : 0,
            },
          }
        : {}),
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const HUNDRED_MB = 100 * 1024 * 1024;

/** Child mode: back up one mailbox holding a 100 MB message, print this process's peak RSS. */
async function rssChild(ca: { certPem: string; keyPem: string }): Promise<void> {
  const store = generateTenant({
    seed: 21,
    shape: "uniform",
    mailboxes: 1,
    totalMessages: 20,
    unlicensedFraction: 0,
    sharedFraction: 0,
    largeFraction: 0,
    largeMessages: [{ bytes: HUNDRED_MB, mailbox: 0 }],
  });
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-rss-"));
  const stack = await startLocalStack({
    store,
    ca,
    latency: { baseMs: 5 },
    archive: { kind: "local", path: join(dir, "archive") },
    dynamoDbPath: join(dir, "dynamodb"),
    streams: 1,
  });
  try {
    const { report } = await stack.runJob({ refreshMs: 200 });
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(
      `${JSON.stringify({ maxRssBytes, status: report.status, items: report.totals.items, bytes: report.totals.bytes })}\n`,
    );
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureRss(): Promise<{ maxRssBytes: number; status: string; items: number; bytes: number }> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1), "--rss-child"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: process.env,
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code: number = await new Promise((r) => child.on("exit", (c) => r(c ?? 1)));
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) {
    throw new Error(`RSS child: expected exit 0 and a JSON line, found exit ${code} and "${line}"`);
  }
  return JSON.parse(line);
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
    "inc req/chg",
    "unchg req",
    "folders",
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
    String(r.full.throttled + r.incremental.throttled),
    String(r.full.earlyRetries + r.incremental.earlyRetries),
    f(100 * r.full.streamIdleShare, 0),
    f(r.incremental.requestsPerChangedItem),
    r.unchanged ? String(r.unchanged.requests) : "-",
    r.unchanged ? String(r.unchanged.folders) : "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  process.stdout.write(`${fmt(head)}\n${lines.map(fmt).join("\n")}\n`);
}

async function main(): Promise<void> {
  const caDir = join(tmpdir(), "mailstream-bench-ca");
  mkdirSync(caDir, { recursive: true });
  const sim = await ensureSimulatorCa(caDir);
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at start: run again trusting the simulator's.
  await reexecTrustingCa(sim.caCertPath, caDir);
  const ca = { certPem: sim.caCertPem, keyPem: sim.caKeyPem };
  if (process.argv.includes("--rss-child")) {
    await rssChild(ca);
    return;
  }
  const only = process.argv
    .find((a) => a.startsWith("--shapes="))
    ?.slice("--shapes=".length)
    .split(",");
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
  const save = (rss?: Awaited<ReturnType<typeof measureRss>>) => {
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
      controllerRss: rss ? { ...rss, messageBytes: HUNDRED_MB } : null,
    };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  for (const shape of only ?? Object.keys(SHAPES)) {
    for (const streams of counts ?? STREAM_COUNTS) {
      process.stderr.write(`bench: ${shape} N=${streams} …\n`);
      rows.push(await benchOne(shape, streams, ca));
      printTable(rows.slice(-1));
      save();
    }
  }
  process.stderr.write("bench: controller RSS with a 100 MB message …\n");
  const rss = await measureRss();
  const result = save(rss);
  process.stdout.write("\n");
  printTable(rows);
  process.stdout.write(
    `\nuniform items/s N=16 / N=1: ${result.speedupUniform16Over1?.toFixed(2) ?? "n/a"} (target ≥ 12)\n` +
      `controller peak RSS with a 100 MB message: ${(rss.maxRssBytes / 1024 / 1024).toFixed(0)} MB (target ≤ 200 MB), ${rss.status}\n` +
      `wall time ${result.wallSeconds.toFixed(0)} s\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
