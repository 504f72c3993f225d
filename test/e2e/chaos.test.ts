/**
 * Chaos: a local backup SIGKILLed again and again — while planning, while its units run, while
 * finalizing — each time followed by a fresh process that resumes what is open. In the end the
 * archive equals the simulator's ground truth, no job holds a message twice, no job is left open
 * (the sweep closed or resumed each one), and none of the killed processes lives on.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../../lib/archive/manifest.js";
import { catalogDuplicates, compareAll } from "../../lib/dev/local/archive-truth.js";
import { type KillPoint, runChaos } from "../../lib/dev/local/chaos.js";
import { processAlive } from "../../lib/dev/local/process-alive.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant } from "../../lib/dev/sim/index.js";
import { loadTestCa } from "../support/sim-ca.js";

const store = generateTenant({ seed: 501, shape: "uniform", mailboxes: 3, totalMessages: 150 });
let dir: string;
let archivePath: string;
let stack: LocalStack | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-chaos-"));
  archivePath = join(dir, "archive");
  stack = await startLocalStack({
    store,
    ca: await loadTestCa(),
    archive: { kind: "local", path: archivePath },
    streams: 2,
    // Enough service time that a unit spans a few seconds, so a kill lands mid-unit.
    latency: { baseMs: 25 },
    env: { MAILSTREAM_PAGE_SIZE: "10" },
  });
  // Only the processes of the chaos run consume the stream queue.
  await stack.source.stop();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Processes whose command line mentions `text` (from /proc, as pgrep -f reads it). */
function processesRunning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

describe("a local backup killed at random points", () => {
  it("ends with the archive equal to the ground truth, no message twice, no job open, no process left", async () => {
    const s = stack!;
    // Planning and finalizing kills land at a state-table request chosen inside the phase; the
    // running kills at times drawn once (a fixed seed keeps the run reproducible). The finalizing
    // kill comes first: the first job is a full backup, whose finalization promotes every
    // folder's sync state, so it lands whatever the speed of the units (placed after running
    // kills, it missed whenever the job they aimed at had closed first and the next one, with
    // nothing changed, promoted none). Each planning kill lands too: a process that finds a job
    // open finishes it, then plans the next.
    const schedule: KillPoint[] = [
      { phase: "finalizing", at: 3 },
      { phase: "planning", at: 2 },
      { phase: "running", afterMs: 700 },
      { phase: "running", afterMs: 1_900 },
      { phase: "planning", at: 4 },
      { phase: "running", afterMs: 1_300 },
      { phase: "none" },
    ];
    const outcome = await runChaos({ stack: s, archivePath, schedule, childTimeoutMs: 90_000 });

    // Every planning and finalizing kill landed where it was aimed; a running kill lands when its
    // job is still running at its time (not asserted: that depends on the machine's speed); the
    // last process brought its job home.
    expect(outcome.killsByPhase.planning).toBe(2);
    expect(outcome.killsByPhase.finalizing).toBe(1);
    expect(outcome.kills).toBeGreaterThanOrEqual(3);
    const last = outcome.children.at(-1);
    expect(last).toMatchObject({ outcome: "closed", status: "complete" });
    for (const child of outcome.children) expect(processAlive(child.pid), `process ${child.pid}`).toBe(false);
    // Nor any other process running the chaos child's program.
    const childProgram = fileURLToPath(new URL("../../lib/dev/local/chaos-child.ts", import.meta.url));
    expect(processesRunning(childProgram)).toEqual([]);

    // No job left open: the ones killed while planning resumed their discovery from its last
    // checkpoint (the sweep re-sent it) and completed like the others.
    expect(await s.app.state.openJobs()).toEqual([]);
    const jobs = await s.app.state.listJobs();
    expect(jobs.filter((j) => j.status !== "complete")).toEqual([]);
    for (const j of jobs) expect((await readManifest(s.app.archive.store, j.jobId))?.status).toBe("complete");
    expect(jobs.length).toBeGreaterThanOrEqual(2);

    // The archive equals the ground truth, message by message.
    const truth = await store.groundTruth();
    const { archived, expected } = await compareAll(s.app.archive.store, truth);
    expect(archived).toEqual(expected);

    // No job holds a message twice: a page stored again after a kill replaced its own part.
    for (const m of truth.mailboxes) {
      const scan = await catalogDuplicates(s.app.archive.store, m.userId);
      expect(scan.unreadable).toBe(0);
      expect(scan.duplicates, m.address).toEqual([]);
    }
  }, 240_000);
});
