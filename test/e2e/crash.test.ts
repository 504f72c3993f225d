/**
 * Crash and resume end to end: a controller in a child process is SIGKILLed in the middle of a
 * unit (the process ends without warning, its SQS message stays invisible). The sweep re-sends
 * the stream, the parent's controller resumes the unit from its checkpoint, and the job ends with
 * nothing lost, nothing stored or counted twice, and sync states committed only at finalization.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAll } from "../../lib/archive/store.js";
import { catalogDuplicates, compareAll, truthContents } from "../../lib/dev/local/archive-truth.js";
import { stackEnvironment } from "../../lib/dev/local/chaos.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant } from "../../lib/dev/sim/index.js";
import type { UnitRecord } from "../../lib/state/records.js";
import { verifyArchive } from "../../lib/verify/verify-blobs.js";
import { loadTestCa } from "../support/sim-ca.js";

const CHILD = fileURLToPath(new URL("./fixtures/controller-child.ts", import.meta.url));
const PAGE_SIZE = 10;

let dir: string;
let archivePath: string;
let stack: LocalStack | undefined;
let child: ChildProcess | undefined;
let killed = false;
// 200 messages a mailbox: 20 pages of 10. In fidelity mode a page costs about two requests (its
// delta page and one export of its 10 items), so at 150 ms a unit of 120 messages could end about
// 2 s after it began, inside one or two 1 s page holds, and a loaded machine's poll missed it.
const store = generateTenant({ seed: 401, shape: "uniform", mailboxes: 2, totalMessages: 400 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-crash-"));
  archivePath = join(dir, "archive");
  stack = await startLocalStack({
    store,
    ca: await loadTestCa(),
    archive: { kind: "local", path: archivePath },
    streams: 1,
    // Latency stretches each page over many requests, so a kill after a few pages lands mid-unit.
    // Checkpoints are written at most once a second (and only once a held page's part is written):
    // at 150 ms a page of 10 messages takes about 0.3 s and a unit of 20 pages about 6 s, so a
    // checkpoint at page 2 or later is seen seconds before the unit ends however fast the machine is.
    // After the kill the recovery runs at 20 ms, so the test stays short.
    latency: { sample: () => (killed ? 20 : 150) },
    // Pages are held for their pack at most 1 s (default 20 s, longer than a unit here): the kill
    // lands with pages held and a pack open, which are read again; checkpoints still come mid-unit.
    // Small bodies in packs, compressed where it pays, as on S3: the kill lands in the middle of a pack.
    env: {
      MAILSTREAM_PAGE_SIZE: String(PAGE_SIZE),
      MAILSTREAM_PAGE_HOLD_SECONDS: "1",
      MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: String(128 * 1024),
      MAILSTREAM_ARCHIVE_COMPRESSION: "gzip",
    },
  });
  // Until the crash, only the child consumes the stream queue.
  await stack.source.stop();
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startChild(s: LocalStack): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: {
      ...process.env,
      // The stack's streams (1) and page size (PAGE_SIZE), as its own controller would run.
      ...stackEnvironment(s, archivePath),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Polls the unit records until one is running with at least `pages` stored pages. */
async function unitMidway(
  s: LocalStack,
  jobId: string,
  pages: number,
  proc: ChildProcess,
): Promise<UnitRecord> {
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const started = Date.now();
  for (;;) {
    const units = await s.app.state.listUnits(jobId);
    const midway = units.find((u) => u.status === "running" && (u.checkpoint?.page ?? 0) >= pages);
    if (midway) return midway;
    if (units.length > 0 && units.every((u) => u.status === "done")) {
      throw new Error("crash test: expected to catch a unit midway, found every unit done (raise latency)");
    }
    if (proc.exitCode !== null)
      throw new Error(`controller child exited early (${proc.exitCode}): ${stderr}`);
    if (Date.now() - started > 60_000)
      throw new Error(`crash test: no unit reached page ${pages}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a controller killed mid-unit", () => {
  it("is resumed by the sweep from its checkpoint: nothing lost, nothing twice, sync states promoted at the end", async () => {
    const s = stack!;
    const started = await s.app.startJob({ kind: "on-demand", time: new Date().toISOString() });
    expect(started.status).toBe("started");
    const { jobId } = started;
    child = startChild(s);
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child!.once("exit", (_c, sig) => resolve(sig)),
    );

    const victim = await unitMidway(s, jobId, 2, child);
    child.kill("SIGKILL");
    killed = true;
    expect(await exited).toBe("SIGKILL");

    // At the crash: nothing committed yet; every staged folder is fully in this job's catalog.
    const truth = await store.groundTruth();
    for (const m of truth.mailboxes) {
      expect((await s.app.state.committedSyncStates(m.userId)).size).toBe(0);
      expect((await s.app.state.committedSyncStates(m.userId, "items")).size).toBe(0);
    }
    const staged = await s.app.state.stagedSyncStates(jobId);
    for (const st of staged) {
      const stored = await catalogMessages(s, st.mailboxId, jobId);
      const expected = truthContents(truth, st.mailboxId)[st.folderId] ?? [];
      for (const line of expected) expect(stored.get(st.folderId)?.has(line.split(" ")[0]!)).toBe(true);
    }
    const beforeResume = await s.app.state.getUnit(jobId, victim.index);
    expect(beforeResume?.status).toBe("running");

    // The schedule's sweep finds the stream stale and re-sends it; the parent's controller resumes.
    s.source.start();
    await s.app.sweep({ staleAfterMs: 0 });
    const report = await s.waitForJob(jobId, { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 75_000 });

    expect(report.status).toBe("complete");
    const { archived, expected } = await compareAll(s.app.archive.store, truth);
    expect(archived).toEqual(expected);
    // Every body the catalog names reads back whole (decompressed, its hash checked), packed or not.
    const verified = await verifyArchive(s.app.archive.store, { jobId });
    expect(verified).toMatchObject({ problems: [], catalogErrors: [], countProblems: [] });
    expect(verified.blobsChecked).toBeGreaterThan(0);
    let compressed = 0;
    for (const { key } of await listAll(s.app.archive.store, "catalog/"))
      if ((await s.app.archive.store.getBytes(key)).includes('"encoding":"gzip"')) compressed++;
    expect(compressed).toBeGreaterThan(0);

    // The sweep handed the dead stream on (a newer task seq), which resumed its held unit; since
    // unit counters grow per stored page, a restart from scratch would have counted pages twice.
    const stream = await s.app.state.getStream(jobId, victim.claimedBy!);
    expect(stream?.seq).toBeGreaterThan(victim.claimSeq!);
    const units = await s.app.state.listUnits(jobId);
    for (const u of units) {
      const folders = truthContents(truth, u.mailboxId);
      const messages = u.folderIds.reduce((n, f) => n + (folders[f]?.length ?? 0), 0);
      expect(u.status).toBe("done");
      expect(u.items, `unit ${u.index}`).toBe(messages);
    }

    // No message in two catalog parts of the job (a rewritten page replaced its part).
    for (const m of truth.mailboxes) {
      const { duplicates } = await catalogScan(s, m.userId, jobId);
      expect(duplicates, m.address).toEqual([]);
    }

    // Sync states: committed at finalization, exactly the job's staged links.
    const finalStaged = await s.app.state.stagedSyncStates(jobId);
    expect(finalStaged.length).toBeGreaterThan(0);
    for (const st of finalStaged) {
      const committed = await s.app.state.committedSyncState(st.mailboxId, st.folderId, st.via);
      expect(committed?.lastJob).toBe(jobId);
      expect(committed?.deltaLink).toBe(st.deltaLink);
    }
  }, 90_000);
});

async function catalogScan(s: LocalStack, mailboxId: string, jobId: string) {
  const scan = await catalogDuplicates(s.app.archive.store, mailboxId, jobId);
  expect(scan.unreadable).toBe(0);
  return scan;
}

async function catalogMessages(s: LocalStack, mailboxId: string, jobId: string) {
  return (await catalogScan(s, mailboxId, jobId)).byFolder;
}
