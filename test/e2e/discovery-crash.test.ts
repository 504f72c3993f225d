/**
 * Discovery in pieces end to end: a tenant too big for one coordinator invocation (pieces of 3
 * users, continuations with time for one piece each), the coordinator SIGKILLed in the
 * middle of its discovery, streams backing up the first pieces' mailboxes meanwhile. The sweep
 * re-sends the lost continuation, the controller discovers the rest from the last checkpoint in
 * several invocations, and the job completes equal to the ground truth: every mailbox planned
 * once, nothing lost, nothing twice.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogDuplicates, compareAll } from "../../lib/dev/local/archive-truth.js";
import { stackEnvironment } from "../../lib/dev/local/chaos.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant } from "../../lib/dev/sim/index.js";
import { loadTestCa } from "../support/sim-ca.js";

const CHILD = fileURLToPath(new URL("./fixtures/coordinator-child.ts", import.meta.url));
const MAILBOXES = 11;
const PIECE = 3;
const DISCOVERY_ENV = {
  MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: String(PIECE),
  MAILSTREAM_DISCOVERY_STREAM_WAIT_SECONDS: "1",
  MAILSTREAM_DEADLINE_MARGIN_MS: "5000",
};

let dir: string;
let archivePath: string;
let stack: LocalStack | undefined;
let child: ChildProcess | undefined;
const store = generateTenant({ seed: 1501, shape: "uniform", mailboxes: MAILBOXES, totalMessages: 110 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-discovery-"));
  archivePath = join(dir, "archive");
  stack = await startLocalStack({
    store,
    ca: await loadTestCa(),
    archive: { kind: "local", path: archivePath },
    streams: 2,
    latency: { sample: () => 40 },
    env: DISCOVERY_ENV,
  });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the coordinator child until it kills itself; the job it started. */
async function coordinatorKilledMidDiscovery(s: LocalStack): Promise<void> {
  child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: {
      ...process.env,
      ...stackEnvironment(s, archivePath),
      ...DISCOVERY_ENV,
      DISCOVERY_KILL_AFTER_PIECES: "2",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += String(d);
  });
  child.stderr?.on("data", (d) => {
    output += String(d);
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child!.once("exit", (_c, sig) => resolve(sig)),
  );
  expect(signal, output).toBe("SIGKILL");
  expect(output).toContain('"event":"killing"');
}

describe("a coordinator killed in the middle of discovery", () => {
  it("resumes from the last committed piece in continuations: the job completes equal to the ground truth", async () => {
    const s = stack!;
    // Each discovery continuation the controller runs is an invocation with no time left after
    // its first piece (its deadline already inside the margin): one piece per invocation, the
    // rest handed on, as a tenant far too big for one invocation goes.
    let continuations = 0;
    const run = s.app.continueDiscovery.bind(s.app);
    s.app.continueDiscovery = (task) => {
      continuations++;
      return run(task, () => 0);
    };

    await coordinatorKilledMidDiscovery(s);
    const [open] = await s.app.state.openJobs();
    expect(open).toBeDefined();
    const jobId = open!.jobId;
    // Two pieces committed: their units are claimable (streams started on them); the third's are not.
    expect(await s.app.state.getDiscovery(jobId)).toMatchObject({ piece: 2 });
    const midway = await s.app.state.getJob(jobId);
    expect(midway).toMatchObject({ status: "running", discoveryOpen: true });
    // The units of the mailboxes of the first two pages (a user without a mailbox is skipped):
    // one per mailbox, or a few where the piece's plan gives mailboxes slot shares (≤ C each).
    expect(midway?.discoveredMailboxes).toBeGreaterThan(0);
    expect(midway?.discoveredMailboxes).toBeLessThanOrEqual(2 * PIECE);
    expect(midway?.unitCount).toBeGreaterThanOrEqual(midway!.discoveredMailboxes!);
    expect(midway?.unitCount).toBeLessThanOrEqual(4 * midway!.discoveredMailboxes!);

    // The schedule's sweep finds discovery stalled and re-sends its continuation.
    const swept = await s.app.sweep({ planningStaleAfterMs: 0 });
    expect(swept.discoveryResent).toEqual([{ kind: "discover", jobId, piece: 2 }]);
    const report = await s.waitForJob(jobId, { refreshMs: 200, sweepEveryMs: 60_000, timeoutMs: 150_000 });

    expect(report.status).toBe("complete");
    // The rest of discovery took one invocation per piece, from the piece the kill interrupted.
    const discovery = await s.app.state.getDiscovery(jobId);
    expect(discovery).toMatchObject({ done: true });
    expect(discovery?.piece).toBeGreaterThanOrEqual(Math.ceil(MAILBOXES / PIECE));
    expect(continuations).toBe(discovery!.piece - 2);
    const truth = await store.groundTruth();
    const job = await s.app.state.getJob(jobId);
    expect(job?.discoveryOpen).toBeUndefined();
    expect(job?.discoveredMailboxes).toBe(truth.mailboxes.length);

    // Every mailbox planned once: its units (one, or its folder groups) hold each folder once.
    const units = await s.app.state.listUnits(jobId);
    expect([...new Set(units.map((u) => u.mailboxId))].sort()).toEqual(
      truth.mailboxes.map((m) => m.userId).sort(),
    );
    const folders = units.flatMap((u) => u.folderIds.map((f) => `${u.mailboxId}/${f}`));
    expect(new Set(folders).size).toBe(folders.length);
    expect(units.every((u) => u.status === "done")).toBe(true);
    expect(report.totals.mailboxes).toBe(truth.mailboxes.length);

    const { archived, expected } = await compareAll(s.app.archive.store, truth);
    expect(archived).toEqual(expected);
    for (const m of truth.mailboxes) {
      const scan = await catalogDuplicates(s.app.archive.store, m.userId, jobId);
      expect(scan.unreadable).toBe(0);
      expect(scan.duplicates, m.address).toEqual([]);
    }
  }, 240_000);
});
