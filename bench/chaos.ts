/**
 * The long chaos run (`npm run bench:chaos`; part of `npm run bench`): a local backup SIGKILLed
 * `BENCH_CHAOS_KILLS` times (default 24) at points drawn from a seed — inside planning, during
 * units, inside finalizing — each kill followed by a fresh process that resumes what is open,
 * then one process without a kill. It writes the kill count and the result (archive equal to the
 * ground truth, duplicates, jobs left open, processes left) to bench/results/chaos.json, or to
 * `--out=FILE`. test/e2e/chaos.test.ts is the short version in the suite.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { catalogDuplicates, compareAll } from "../lib/dev/local/archive-truth.js";
import { chaosSchedule, runChaos } from "../lib/dev/local/chaos.js";
import { startLocalStack } from "../lib/dev/local/stack.js";
import { generateTenant } from "../lib/dev/sim/tenant/generate.js";
import { Random } from "../lib/dev/sim/tenant/random.js";
import { trustBenchCa } from "./sim-process.js";

const here = dirname(fileURLToPath(import.meta.url));
const CHILD_PROGRAM = fileURLToPath(new URL("../lib/dev/local/chaos-child.ts", import.meta.url));

export interface ChaosBenchResult {
  ranAt: string;
  seed: number;
  /** Processes killed, and by the phase the kill was aimed at. */
  kills: number;
  killsByPhase: Record<string, number>;
  /** Kill points a process never reached (its job closed first). */
  missed: number;
  jobs: Record<string, number>;
  /** The archive equals the ground truth after the last process. */
  archiveEqualsTruth: boolean;
  /** Mailboxes whose archived messages differ from the ground truth (none when equal). */
  differingMailboxes: string[];
  duplicates: number;
  openJobs: number;
  /** Processes of the chaos child's program still alive at the end. */
  processesLeft: number;
  wallSeconds: number;
  /** The benchmark's steps that ran at the same time (bench/beside.ts); absent: it ran alone. */
  ranBeside?: string[];
}

function processesRunning(text: string): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) count++;
    } catch {
      // ended meanwhile
    }
  }
  return count;
}

/** Runs the long chaos variant on a tenant of its own; the caller's process must trust `ca`. */
export async function benchChaos(
  ca: { certPem: string; keyPem: string },
  options: { kills?: number; seed?: number } = {},
): Promise<ChaosBenchResult> {
  const started = Date.now();
  const kills = options.kills ?? Number(process.env.BENCH_CHAOS_KILLS ?? 24);
  const seed = options.seed ?? 2026;
  const store = generateTenant({ seed: 701, shape: "uniform", mailboxes: 6, totalMessages: 600 });
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-chaos-"));
  const archivePath = join(dir, "archive");
  const stack = await startLocalStack({
    store,
    ca,
    archive: { kind: "local", path: archivePath },
    streams: 4,
    latency: { baseMs: 25 },
    env: { MAILSTREAM_PAGE_SIZE: "10" },
  });
  try {
    await stack.source.stop();
    const random = new Random(seed);
    const schedule = chaosSchedule(kills, () => random.next(), {
      planningRequests: 8,
      promotedStates: 20,
      runningMs: 3_000,
    });
    const outcome = await runChaos({
      stack,
      archivePath,
      schedule,
      onChild: (run) =>
        process.stderr.write(
          `bench chaos: ${run.point.phase} → ${run.outcome}${run.status ? ` (${run.status})` : ""}\n`,
        ),
    });
    const truth = await store.groundTruth();
    const { archived, expected } = await compareAll(stack.app.archive.store, truth);
    let duplicates = 0;
    for (const m of truth.mailboxes) {
      duplicates += (await catalogDuplicates(stack.app.archive.store, m.userId)).duplicates.length;
    }
    const jobs: Record<string, number> = {};
    for (const j of await stack.app.state.listJobs()) jobs[j.status] = (jobs[j.status] ?? 0) + 1;
    return {
      ranAt: new Date().toISOString(),
      seed,
      kills: outcome.kills,
      killsByPhase: outcome.killsByPhase,
      missed: outcome.children.filter((c) => c.point.phase !== "none" && c.outcome === "closed").length,
      jobs,
      archiveEqualsTruth: isDeepStrictEqual(archived, expected),
      differingMailboxes: Object.keys(expected).filter(
        (id) => !isDeepStrictEqual(archived[id], expected[id]),
      ),
      duplicates,
      openJobs: (await stack.app.state.openJobs()).length,
      processesLeft: processesRunning(CHILD_PROGRAM),
      wallSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { ca } = await trustBenchCa();
  const out =
    process.argv.find((a) => a.startsWith("--out="))?.slice("--out=".length) ??
    join(here, "results", "chaos.json");
  const result = await benchChaos(ca);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `chaos: ${result.kills} kills (${Object.entries(result.killsByPhase)
      .map(([p, n]) => `${p} ${n}`)
      .join(
        ", ",
      )}), archive ${result.archiveEqualsTruth ? "equal to" : "DIFFERENT from"} the ground truth, ` +
      `${result.duplicates} duplicates, ${result.openJobs} open jobs, ${result.processesLeft} processes left, ` +
      `${result.wallSeconds.toFixed(0)} s\nwrote ${out}\n`,
  );
  if (
    !result.archiveEqualsTruth ||
    result.duplicates > 0 ||
    result.openJobs > 0 ||
    result.processesLeft > 0
  ) {
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
