/**
 * Start units started before their claim lands, end to end (lib/backup/claim-gate.ts): a stream's
 * first task reads the units it carries, sends their first Graph requests, then claims them. When
 * the claim is refused (the task went stale, or another delivery of the same task claimed first),
 * the requests' answers are dropped and nothing of the units is written; the units are backed up
 * by the task that holds them, and the archive equals the ground truth.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteMessageCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listAll } from "../../lib/archive/store.js";
import { catalogDuplicates, compareAll, truthContents } from "../../lib/dev/local/archive-truth.js";
import { recordingLogger } from "../../lib/dev/local/recording-logger.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant, mutateTenant } from "../../lib/dev/sim/index.js";
import { parseStreamTask } from "../../lib/queue/stream-task.js";
import { loadTestCa } from "../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 75_000 };
const TEST_TIMEOUT_MS = 90_000;
/** An invocation's time left: far more than these jobs take. */
const remainingMs = () => 600_000;

describe("start units started before their claim lands", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  const logged: Array<{ event: string; fields: Record<string, unknown> }> = [];
  const store = generateTenant({
    seed: 1607,
    shape: "uniform",
    mailboxes: 2,
    totalMessages: 80,
    archiveFraction: 0,
    unlicensedFraction: 0,
    sharedFraction: 0,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-early-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 2,
      // Answers within a few ms, so that a unit started early may have its first answers before
      // its claim's outcome (its first requests also wait for a token and a TLS connection, so
      // not always: the unit tests of the gate hold the answers back deterministically).
      latency: { baseMs: 2 },
      env: { MAILSTREAM_PAGE_SIZE: "10" },
      logger: recordingLogger((event, fields = {}) => logged.push({ event, fields })),
    });
    // The test hands the first tasks to the controller itself.
    await stack.source.stop();
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a job with nothing consuming the queue; its first stream tasks, taken off the queue. */
  async function startWithFirstTasks(s: LocalStack): Promise<{ jobId: string; bodies: string[] }> {
    const started = await s.app.startJob({ kind: "on-demand", time: new Date().toISOString() });
    expect(started.status).toBe("started");
    const bodies: string[] = [];
    for (let i = 0; i < 10 && bodies.length < 2; i++) {
      const out = await s.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: s.queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of out.Messages ?? []) {
        const task = parseStreamTask(m.Body!);
        if (task.jobId === started.jobId && task.seq === 0) bodies.push(m.Body!);
        await s.clients.sqs.send(
          new DeleteMessageCommand({ QueueUrl: s.queue.url, ReceiptHandle: m.ReceiptHandle! }),
        );
      }
    }
    bodies.sort((a, b) => parseStreamTask(a).streamId - parseStreamTask(b).streamId);
    expect(bodies.map((b) => parseStreamTask(b))).toMatchObject([
      { jobId: started.jobId, streamId: 0, seq: 0, units: [expect.any(Number)] },
      { jobId: started.jobId, streamId: 1, seq: 0, units: [expect.any(Number)] },
    ]);
    return { jobId: started.jobId, bodies };
  }

  const eventsOf = (jobId: string, event: string) =>
    logged.filter((l) => l.event === event && l.fields.jobId === jobId).map((l) => l.fields);

  /** `full`: the job backed every item up (the first job), so each unit counted them all. */
  async function expectArchiveEqualsTruth(s: LocalStack, jobId: string, full: boolean) {
    const truth = await store.groundTruth();
    const { archived, expected } = await compareAll(s.app.archive.store, truth);
    expect(archived).toEqual(expected);
    for (const m of truth.mailboxes) {
      const scan = await catalogDuplicates(s.app.archive.store, m.userId, jobId);
      expect(scan.duplicates, m.address).toEqual([]);
    }
    for (const u of await s.app.state.listUnits(jobId)) {
      expect(u.status).toBe("done");
      // A full backup's units counted every item once.
      const folders = truthContents(truth, u.mailboxId);
      const items = u.folderIds.reduce((n, f) => n + (folders[f]?.length ?? 0), 0);
      if (full) expect(u.items, `unit ${u.index}`).toBe(items);
    }
  }

  it(
    "drops a stale first task whose unit it started: its requests went out, nothing was written; the re-sent streams back the tenant up",
    async () => {
      const s = stack!;
      const { jobId, bodies } = await startWithFirstTasks(s);
      // The first tasks are late: the sweep re-sends both streams (seq 1, without units).
      const swept = await s.app.sweep({ staleAfterMs: 0 });
      expect(swept.resent.map((t) => t.streamId).sort()).toEqual([0, 1]);
      // What planning wrote (the mailboxes' folder listings): the stale task adds nothing.
      const written = await listAll(s.app.archive.store, "");
      const requestsBefore = s.sim.stats().graph.requests;
      const outcome = await s.app.runStreamTask(bodies[0]!, remainingMs);
      expect(outcome).toEqual({ status: "stale" });
      // Its unit was started on the read: its first requests went out before the claim was refused.
      const [start] = eventsOf(jobId, "unit.start");
      expect(start).toMatchObject({
        streamId: 0,
        seq: 0,
        early: true,
        unit: parseStreamTask(bodies[0]!).units![0],
      });
      expect(eventsOf(jobId, "stream.task.early.refused")).toMatchObject([{ streamId: 0, seq: 0 }]);
      expect(s.sim.stats().graph.requests).toBeGreaterThan(requestsBefore);
      // Nothing of it was written: no body, no catalog part, the unit still pending, never attempted.
      expect(await listAll(s.app.archive.store, "")).toEqual(written);
      for (const u of await s.app.state.listUnits(jobId)) {
        expect(u).toMatchObject({ status: "pending" });
        expect(u.attempts ?? 0).toBe(0);
      }

      s.source.start();
      const report = await s.waitForJob(jobId, WAIT);
      await s.source.stop();
      expect(report.status).toBe("complete");
      await expectArchiveEqualsTruth(s, jobId, true);
    },
    TEST_TIMEOUT_MS,
  );
  it(
    "lets two deliveries of a first task start its unit at once: one claim is refused and dropped, the other delivery completes the unit",
    async () => {
      const s = stack!;
      // The tenant changed since the first job: this one has items to back up.
      mutateTenant(store, { seed: 16, intensity: 0.3 });
      const { jobId, bodies } = await startWithFirstTasks(s);
      // SQS delivers stream 0's first task twice at once; stream 1's once.
      const outcomes = await Promise.all([
        s.app.runStreamTask(bodies[0]!, remainingMs),
        s.app.runStreamTask(bodies[0]!, remainingMs),
        s.app.runStreamTask(bodies[1]!, remainingMs),
      ]);
      const early = eventsOf(jobId, "unit.start").filter((f) => f.early === true);
      expect(early.filter((f) => f.streamId === 0)).toHaveLength(2);
      expect(eventsOf(jobId, "stream.task.early.refused")).toMatchObject([{ streamId: 0, seq: 0 }]);
      // Stream 1's task and one of stream 0's finished or handed on; the refused delivery began as
      // any task and either took the stream over (the other one was then dropped) or was stale.
      expect(outcomes.filter((o) => o.status !== "stale").length).toBeGreaterThanOrEqual(2);

      s.source.start();
      const report = await s.waitForJob(jobId, WAIT);
      await s.source.stop();
      expect(report.status).toBe("complete");
      await expectArchiveEqualsTruth(s, jobId, false);
      // Each unit was claimed once: the refused claim took no attempt.
      for (const u of await s.app.state.listUnits(jobId)) expect(u.attempts, `unit ${u.index}`).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});
