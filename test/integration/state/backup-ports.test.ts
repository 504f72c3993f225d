import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { finalizeJob } from "../../../lib/backup/finalize.js";
import type { FinalizeArchivePort, JobPlan, JobTrigger, PieceDiscovery } from "../../../lib/backup/ports.js";
import type { JobReport } from "../../../lib/backup/report.js";
import { runStreamTask, type StreamRunnerDeps } from "../../../lib/backup/stream-runner.js";
import { sweep } from "../../../lib/backup/sweep.js";
import type { StreamTask } from "../../../lib/queue/stream-task.js";
import { createBackupStatePorts } from "../../../lib/state/backup-ports.js";
import { StateStore } from "../../../lib/state/index.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";
import { jobEnds } from "../../support/job-ends.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

const mailboxes = ["m0", "m1", "m2"].map((id) => ({
  userId: id,
  address: `${id}@contoso.test`,
  displayName: id,
  purpose: "user",
}));

/** Four units over three mailboxes (m0 split in two), two folders each. */
function plan(streams: number): JobPlan {
  const units = [
    ["m0", ["a", "b"]],
    ["m0", ["c", "d"]],
    ["m1", ["a", "b"]],
    ["m2", ["a", "b"]],
  ] as const;
  return {
    units: units.map(([mailboxId, folderIds], index) => ({
      index,
      mailboxId,
      folderIds: [...folderIds],
      cost: 100 - index,
      estimatedSeconds: 10 - index,
      concurrency: 2,
    })),
    streams,
    predictedMakespanSeconds: 20,
    lowerBoundSeconds: 18,
  };
}

/** Runner dependencies with a fake mailbox: every folder has `pages` pages of one message. */
function runnerDeps(
  ports: ReturnType<typeof createBackupStatePorts>,
  pages: number,
  remainingMs: () => number,
  seenBases: string[],
) {
  const sent: StreamTask[] = [];
  const finalized: string[] = [];
  const deps: StreamRunnerDeps = {
    state: ports.stream,
    queue: {
      send: async (t) => {
        sent.push(t);
      },
      sendAll: async () => {},
      sendDiscovery: async () => {},
    },
    unitDeps: () => ({
      source: {
        async *folderDelta(mailboxId, folderId, from) {
          if (from?.startsWith("delta:")) seenBases.push(from);
          const start = from && !from.startsWith("delta:") ? Number(from) : 0;
          for (let p = start; p < pages; p++) {
            yield {
              upserts: [{ id: `${mailboxId}-${folderId}-${p}` }],
              removed: [],
              ...(p + 1 < pages
                ? { nextLink: String(p + 1) }
                : { deltaLink: `delta:${mailboxId}/${folderId}` }),
            };
          }
        },
        openMime: async (_u, id) => Readable.from([Buffer.from(id)]),
      },
      archive: {
        storeBlob: async (_kind, s) => {
          let size = 0;
          if (Buffer.isBuffer(s)) size = s.length;
          else for await (const c of s) size += (c as Buffer).length;
          return { sha256: "x", size, existed: false };
        },
        writeCatalogPart: async () => {},
      },
    }),
    remainingMs,
    deadlineMarginMs: 100,
    heartbeatMs: 60_000,
    finalizeJob: async (jobId) => {
      finalized.push(jobId);
    },
  };
  return { deps, sent, finalized };
}

/** Plans a job whole as one discovery piece through the coordinator's ports (lease, units, streams, commit). */
async function planAsOnePiece(
  ports: ReturnType<typeof createBackupStatePorts>,
  jobId: string,
  whole: JobPlan,
  discovery: PieceDiscovery,
): Promise<boolean> {
  const start = await ports.coordinator.beginPiece(jobId, 0, "lease-1");
  if (!start) return false;
  if (!(await ports.coordinator.writePiece(jobId, 0, "lease-1", 0, whole, discovery, start.job)))
    return false;
  await ports.coordinator.addStreams(jobId, start.job, 0, whole.streams);
  return await ports.coordinator.commitPiece(jobId, 0, "lease-1", {
    unitCount: whole.units.length,
    streamCount: whole.streams,
    cost: whole.units.reduce((sum, u) => sum + u.cost, 0),
    mailboxes: discovery.mailboxes.length,
    workStreamSeconds: 0,
    workMailboxSeconds: 0,
    longestUnitSeconds: 0,
    lowerBoundSeconds: whole.lowerBoundSeconds,
    predictedMakespanSeconds: whole.predictedMakespanSeconds,
  });
}

/** A fresh table and a scheduled job planned with {@link plan} and running. */
async function runningJob(time: string, streams: number) {
  const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
  const ports = createBackupStatePorts(store);
  const trigger: JobTrigger = { kind: "schedule", time };
  const jobId = ports.coordinator.jobIdFor(trigger);
  await ports.coordinator.createJob(jobId, trigger);
  await planAsOnePiece(ports, jobId, plan(streams), {
    mailboxes,
    skipped: [],
    syncedFolderIds: new Map(),
  });
  return { store, ports, jobId };
}

/**
 * An archive port for jobs small enough that finalization writes their report in one step: the
 * report's pieces are not expected (each throws), the whole report is what a test records.
 */
const wholeReportsOnly: FinalizeArchivePort = {
  writeReport: async () => {},
  writeManifest: async () => {},
  readReportSummary: async () => undefined,
  writeReportPages: async () => {
    throw new Error("expected the whole report in one step, found a piece of it written");
  },
  writeReportSummary: async () => {
    throw new Error("expected the whole report in one step, found a piece of it written");
  },
  writeManifestPages: async () => {
    throw new Error("expected the whole manifest in one step, found a piece of it written");
  },
  writeManifestSummary: async () => {
    throw new Error("expected the whole manifest in one step, found a piece of it written");
  },
};

describe("backup state ports on DynamoDB", () => {
  it("run a job from trigger to report: continuation, one finalizer, promoted sync state", async () => {
    const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    const ports = createBackupStatePorts(store);
    const trigger: JobTrigger = { kind: "schedule", time: "2026-11-29T04:00:00Z", eventId: "e1" };
    const jobId = ports.coordinator.jobIdFor(trigger);
    expect(ports.coordinator.jobIdFor({ ...trigger, eventId: "e2" })).toBe(jobId);
    expect(await ports.coordinator.createJob(jobId, trigger)).toEqual({ created: true, status: "planning" });
    expect(await ports.coordinator.createJob(jobId, trigger)).toEqual({ created: false, status: "planning" });
    await planAsOnePiece(ports, jobId, plan(2), {
      mailboxes,
      skipped: [{ userId: "m9", reason: "MailboxNotEnabledForRESTAPI" }],
      syncedFolderIds: new Map(),
    });
    // A first backup: no unit reads sync states.
    expect((await store.listUnits(jobId)).map((u) => u.hasSyncStates)).toEqual([false, false, false, false]);
    expect(await store.getJob(jobId)).toMatchObject({ status: "running", unitCount: 4, streamCount: 2 });
    expect((await store.getJob(jobId))?.discoveryOpen).toBeUndefined();

    const bases: string[] = [];
    const ends = vi.spyOn(store, "completeUnit");
    let budget = 5; // stream 0 reaches its deadline after a few pages and continues itself
    const slow = runnerDeps(ports, 3, () => (budget-- > 0 ? 1e9 : 0), bases);
    const fast = runnerDeps(ports, 3, () => 1e9, bases);
    const [first, other] = await Promise.all([
      runStreamTask({ jobId, streamId: 0, seq: 0 }, slow.deps),
      runStreamTask({ jobId, streamId: 1, seq: 0 }, fast.deps),
    ]);
    expect(first.status).toBe("continued");
    expect(slow.sent).toEqual([{ jobId, streamId: 0, seq: 1 }]);
    expect(other.status).toBe("finished");
    // A duplicate of the old task is dropped; the continuation resumes its unit and finishes.
    expect((await runStreamTask({ jobId, streamId: 0, seq: 0 }, fast.deps)).status).toBe("stale");
    const last = await runStreamTask(slow.sent[0]!, fast.deps);
    expect(last).toMatchObject({ status: "finished", finalizedJob: true });
    expect(fast.finalized).toEqual([jobId]);
    // Every unit's end knew its counters (claimed, resumed by the continuation, checkpointed):
    // none read its unit first, and the job's totals below are exact.
    expect(ends).toHaveBeenCalledTimes(4);
    expect(ends.mock.calls.every(([, , end]) => end.known !== undefined)).toBe(true);
    ends.mockRestore();

    let report: JobReport | undefined;
    const archive = {
      ...wholeReportsOnly,
      writeReport: async (r: JobReport) => {
        report = r;
      },
      readReportSummary: async () => report,
    };
    await finalizeJob(jobId, { state: ports.finalize, archive });
    expect(report).toMatchObject({ jobId, status: "complete", totals: { items: 4 * 2 * 3, units: 4 } });
    expect(report?.units.every((u) => u.status === "done")).toBe(true);
    expect(await store.getJob(jobId)).toMatchObject({ status: "complete" });
    expect(await jobEnds(store, jobId)).toMatchObject({ items: 24, units: 4 });
    expect(await ports.coordinator.syncedFolderIds("m0")).toEqual(new Set(["a", "b", "c", "d"]));
    expect((await store.getMailbox("m1"))?.lastSuccessfulJob).toBe(jobId);
    expect(bases).toEqual([]);
    expect((await store.skippedMailboxes(jobId)).map((s) => s.userId)).toEqual(["m9"]);

    // The next job starts every folder from the committed delta links.
    const next = ports.coordinator.jobIdFor({
      kind: "on-demand",
      time: "2026-11-29T05:00:00Z",
      requestId: "r1",
    });
    await ports.coordinator.createJob(next, { kind: "on-demand", time: "2026-11-29T05:00:00Z" });
    const synced = new Map(
      await Promise.all(
        mailboxes.map(async (m) => [m.userId, await ports.coordinator.syncedFolderIds(m.userId)] as const),
      ),
    );
    await planAsOnePiece(ports, next, plan(1), { mailboxes, skipped: [], syncedFolderIds: synced });
    expect((await store.listUnits(next)).every((u) => u.hasSyncStates === true)).toBe(true);
    const again = runnerDeps(ports, 1, () => 1e9, bases);
    expect(await runStreamTask({ jobId: next, streamId: 0, seq: 0 }, again.deps)).toMatchObject({
      status: "finished",
      unitsDone: 4,
    });
    expect(bases.sort()).toEqual(
      ["m0/a", "m0/b", "m0/c", "m0/d", "m1/a", "m1/b", "m2/a", "m2/b"].map((f) => `delta:${f}`),
    );
  });

  it("finalize a job in steps across invocations: each stops at its deadline and hands on, the next goes on from the checkpoint, the end is the same", async () => {
    const { store, ports, jobId } = await runningJob("2026-11-29T04:00:00Z", 2);
    const runner = runnerDeps(ports, 1, () => 1e9, []);
    await Promise.all([0, 1].map((streamId) => runStreamTask({ jobId, streamId, seq: 0 }, runner.deps)));
    expect(runner.finalized).toEqual([jobId]);
    expect(await store.getJob(jobId)).toMatchObject({ status: "finalizing" });
    expect(await store.stagedSyncStates(jobId)).toHaveLength(8);

    const reports: JobReport[] = [];
    const archive = {
      ...wholeReportsOnly,
      writeReport: async (r: JobReport) => void reports.push(r),
      readReportSummary: async () => reports.at(-1),
    };
    const handedOn: string[] = [];
    const checkpoints: Array<string | undefined> = [];
    let invocations = 0;
    for (;;) {
      invocations++;
      // Time for one step in each invocation: the deadline comes before the second (the first
      // reading is the invocation's time when finalization begins, which scales the margin).
      let steps = -1;
      const outcome = await finalizeJob(jobId, {
        state: ports.finalize,
        archive,
        stepSize: 3,
        remainingMs: () => (steps++ === 0 ? 1e9 : 0),
        deadlineMarginMs: 100,
        handOn: async (id) => void handedOn.push(id),
      });
      if (outcome.done) {
        expect(outcome.report).toMatchObject({ jobId, status: "complete" });
        break;
      }
      const progress = (await store.getJob(jobId))?.finalizeProgress;
      expect(progress).toEqual(outcome.progress);
      checkpoints.push(`${progress?.stage} ${progress?.after ?? "-"}`);
      expect(await store.getJob(jobId)).toMatchObject({ status: "finalizing" });
      expect(invocations).toBeLessThan(20);
    }
    // 8 staged sync states in 4 staged sets of 2 (one per unit's end: m0's two units, m1, m2),
    // in pages of 3 states of whole sets (a page takes one set: two would be 4), then 3
    // mailboxes in a page of 3 (a full page: the next, empty, says they are all ended): six
    // invocations.
    expect(checkpoints).toEqual([
      expect.stringMatching(/^sync SYNCSET#m0#/),
      expect.stringMatching(/^sync SYNCSET#m0#/),
      expect.stringMatching(/^sync SYNCSET#m1#/),
      "mailboxes -",
      "mailboxes m2",
    ]);
    expect(invocations).toBe(6);
    expect(handedOn).toEqual([jobId, jobId, jobId, jobId, jobId]);
    // The report was written once, by the first invocation; its status and end close the job.
    expect(reports).toHaveLength(1);
    expect(await store.getJob(jobId)).toMatchObject({ status: "complete", endedAt: reports[0]!.endedAt });
    for (const m of mailboxes) {
      expect((await store.getMailbox(m.userId))?.lastSuccessfulJob).toBe(jobId);
    }
    expect(await ports.coordinator.syncedFolderIds("m0")).toEqual(new Set(["a", "b", "c", "d"]));
    expect(await ports.coordinator.syncedFolderIds("m2")).toEqual(new Set(["a", "b"]));
    // A copy of the last task, once the job is closed: its checkpoint is not written over.
    expect(
      await ports.finalize.saveFinalizeProgress(jobId, { stage: "sync", endedAt: "x", status: "failed" }),
    ).toBe(false);
  });

  it("make a job's folder trees the mailboxes' trees when it finalizes, never an older job's over a newer one's, and tell whether an older job is open", async () => {
    const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    const ports = createBackupStatePorts(store);
    const create = async (time: string) => {
      const trigger: JobTrigger = { kind: "schedule", time };
      const jobId = ports.coordinator.jobIdFor(trigger);
      await ports.coordinator.createJob(jobId, trigger);
      return jobId;
    };
    const older = await create("2026-11-29T04:00:00Z");
    const newer = await create("2026-11-29T08:00:00Z");
    // The older job wrote trees for m0 and m1, the newer one for m0 only (m1, m2 unchanged).
    await planAsOnePiece(ports, older, plan(1), {
      mailboxes,
      skipped: [],
      syncedFolderIds: new Map(),
      folderTreeHashes: new Map([
        ["m0", "4:old-m0"],
        ["m1", "4:old-m1"],
      ]),
    });
    await planAsOnePiece(ports, newer, plan(1), {
      mailboxes,
      skipped: [],
      syncedFolderIds: new Map(),
      folderTreeHashes: new Map([["m0", "4:new-m0"]]),
    });
    expect(await ports.coordinator.olderJobOpen!(newer)).toBe(true);
    expect(await ports.coordinator.olderJobOpen!(older)).toBe(false);
    // Nothing counts before a finalization.
    expect(await ports.coordinator.committedFolderTree!("m0")).toBeUndefined();
    const end = async (jobId: string) =>
      ports.finalize.endMailboxes(jobId, await ports.finalize.mailboxEnds(jobId));
    expect(await ports.finalize.mailboxEnds(newer)).toEqual([
      { mailboxId: "m0", treeHash: "4:new-m0", complete: false },
      { mailboxId: "m1", complete: false },
      { mailboxId: "m2", complete: false },
    ]);
    await end(newer);
    // The older job finalizes late: its m0 tree does not replace the newer one; its m1 tree counts.
    await end(older);
    await end(older);
    expect(await ports.coordinator.committedFolderTree!("m0")).toEqual({
      treeHash: "4:new-m0",
      jobId: newer,
    });
    expect(await ports.coordinator.committedFolderTree!("m1")).toEqual({
      treeHash: "4:old-m1",
      jobId: older,
    });
    expect(await ports.coordinator.committedFolderTree!("m2")).toBeUndefined();
    // A late, complete older job over a newer tree: the tree stays the newer job's, the last
    // success (which the newer job did not record) becomes the older job's; never the other way.
    await ports.finalize.endMailboxes(older, [{ mailboxId: "m0", treeHash: "4:old-m0", complete: true }]);
    expect(await ports.coordinator.committedFolderTree!("m0")).toEqual({
      treeHash: "4:new-m0",
      jobId: newer,
    });
    expect((await store.getMailbox("m0"))?.lastSuccessfulJob).toBe(older);
    await ports.finalize.endMailboxes(newer, [{ mailboxId: "m0", complete: true }]);
    await ports.finalize.endMailboxes(older, [{ mailboxId: "m0", treeHash: "4:old-m0", complete: true }]);
    expect((await store.getMailbox("m0"))?.lastSuccessfulJob).toBe(newer);
    expect(await ports.coordinator.committedFolderTree!("m0")).toEqual({
      treeHash: "4:new-m0",
      jobId: newer,
    });
    // A mailbox record's META keeps its tree when the next piece updates it.
    await planAsOnePiece(ports, await create("2026-11-29T12:00:00Z"), plan(1), {
      mailboxes,
      skipped: [],
      syncedFolderIds: new Map(),
    });
    expect(await ports.coordinator.committedFolderTree!("m0")).toEqual({
      treeHash: "4:new-m0",
      jobId: newer,
    });
    // Closing the older job leaves no older job open for the newer one.
    await store.setJobStatus(older, "failed");
    expect(await ports.coordinator.olderJobOpen!(newer)).toBe(false);
  });

  it("keep a unit's maxConcurrency (stream bins) from the plan to its claim, and refuse one outside its share–4", async () => {
    const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    const ports = createBackupStatePorts(store);
    const trigger: JobTrigger = { kind: "schedule", time: "2026-11-29T06:00:00Z" };
    const jobId = ports.coordinator.jobIdFor(trigger);
    await ports.coordinator.createJob(jobId, trigger);
    // m1 and m2 whole, each on 2 slots that may borrow up to 4; m0's two pieces may not.
    const bins = plan(2);
    bins.units = bins.units.map((u) => (u.mailboxId === "m0" ? u : { ...u, maxConcurrency: 4 }));
    const discovery = { mailboxes, skipped: [], syncedFolderIds: new Map() };
    const tooWide = { ...bins, units: bins.units.map((u, i) => (i === 3 ? { ...u, maxConcurrency: 5 } : u)) };
    const start = await ports.coordinator.beginPiece(jobId, 0, "lease-1");
    await expect(
      ports.coordinator.writePiece(jobId, 0, "lease-1", 0, tooWide, discovery, start!.job),
    ).rejects.toThrow(/unit 3 maxConcurrency an integer from its concurrency to 4/);
    const narrow = { ...bins, units: bins.units.map((u, i) => (i === 3 ? { ...u, maxConcurrency: 1 } : u)) };
    await expect(
      ports.coordinator.writePiece(jobId, 0, "lease-1", 0, narrow, discovery, start!.job),
    ).rejects.toThrow(/unit 3 maxConcurrency/);
    expect(await planAsOnePiece(ports, jobId, bins, discovery)).toBe(true);
    expect((await store.listUnits(jobId)).map((u) => u.maxConcurrency)).toEqual([undefined, undefined, 4, 4]);
    const task = { jobId, streamId: 0, seq: 0, lease: "L" };
    expect(await ports.stream.beginTask(task)).toBe("current");
    const claimed: Array<number | undefined> = [];
    for (let i = 0; i < 4; i++) {
      const unit = await ports.stream.claimUnit(task);
      if (unit && unit !== "later") claimed.push(unit.work.maxConcurrency);
    }
    expect(claimed).toEqual([undefined, undefined, 4, 4]);
  });

  it("let a second delivery of the same task take the stream over: one invocation works it, counts stay exact", async () => {
    const { store, ports, jobId } = await runningJob("2026-11-29T07:00:00Z", 1);
    const { deps } = runnerDeps(ports, 3, () => 1e9, []);
    // SQS hands the same message to two invocations at once.
    const task = { jobId, streamId: 0, seq: 0 };
    const outcomes = await Promise.allSettled([runStreamTask(task, deps), runStreamTask(task, deps)]);
    const finished = outcomes.filter((o) => o.status === "fulfilled" && o.value.status === "finished");
    expect(finished).toHaveLength(1);
    // The other one either found the stream finished (stale) or lost it to the later delivery.
    const other = outcomes.find((o) => !(o.status === "fulfilled" && o.value.status === "finished"))!;
    if (other.status === "rejected") {
      // Its next write failed: on the stream (taken over), or on a unit the later one ended meanwhile.
      expect(["StaleTaskError", "ClaimLostError"]).toContain(other.reason.name);
    } else {
      expect(other.value.status).toBe("stale");
    }
    // Every page counted once: 4 units × 2 folders × 3 pages of one item.
    expect(await jobEnds(store, jobId)).toMatchObject({ items: 24, units: 4 });
    expect((await store.listUnits(jobId)).map((u) => u.items)).toEqual([6, 6, 6, 6]);
  });

  it("let two deliveries of a first task start its units before their claim: the refused one writes nothing until it takes the stream over", async () => {
    const { store, ports, jobId } = await runningJob("2026-11-29T07:30:00Z", 1);
    // Each delivery's own fake mailbox (every page 20 ms) and archive; what each did, in order.
    const delivery = (name: string) => {
      const events: string[] = [];
      const { deps } = runnerDeps(ports, 3, () => 1e9, []);
      const unitDeps = deps.unitDeps;
      deps.unitDeps = (t, u) => {
        const real = unitDeps(t, u);
        return {
          ...real,
          source: {
            ...real.source,
            openMime: async (mailboxId, id) => {
              await new Promise((r) => setTimeout(r, 20));
              return real.source.openMime(mailboxId, id);
            },
          },
          archive: {
            storeBlob: (kind, body, owner) => {
              events.push("write");
              return real.archive.storeBlob(kind, body, owner);
            },
            writeCatalogPart: async (key, entries) => {
              events.push("write");
              return real.archive.writeCatalogPart(key, entries);
            },
          },
        };
      };
      deps.log = (event, fields) => events.push(fields.early ? `${event} early` : event);
      return { name, deps, events };
    };
    const deliveries = [delivery("a"), delivery("b")];
    // SQS hands the stream's first task, with its start units, to two invocations at once.
    const task = { jobId, streamId: 0, seq: 0, units: [0, 1] };
    const outcomes = await Promise.allSettled(deliveries.map((d) => runStreamTask(task, d.deps)));
    expect(outcomes.filter((o) => o.status === "fulfilled" && o.value.status === "finished")).toHaveLength(1);
    // Both read the units pending and started them early; one claim was refused.
    for (const d of deliveries) expect(d.events, d.name).toContain("unit.start early");
    const refused = deliveries.filter((d) => d.events.includes("stream.task.early.refused"));
    expect(refused).toHaveLength(1);
    // The refused delivery wrote nothing before it dropped its early units (then it began as any
    // task, took the stream over and resumed the units the other one held, or found itself stale).
    const { events } = refused[0]!;
    expect(events.slice(0, events.indexOf("stream.task.early.refused"))).not.toContain("write");
    // Every page counted once: 4 units × 2 folders × 3 pages of one item.
    expect(await jobEnds(store, jobId)).toMatchObject({ items: 24, units: 4 });
    expect((await store.listUnits(jobId)).map((u) => u.items)).toEqual([6, 6, 6, 6]);
  });

  it("let the sweep re-send a silent stream with the next seq", async () => {
    const { store, ports, jobId } = await runningJob("2026-11-29T06:00:00Z", 2);
    await store.finishStream({ jobId, streamId: 1, seq: 0 });
    const sent: StreamTask[] = [];
    const outcome = await sweep({
      state: ports.sweep,
      queue: { send: async (t) => void sent.push(t), sendAll: async () => {}, sendDiscovery: async () => {} },
      finalizeJob: async () => {},
      staleAfterMs: 60_000,
      now: () => Date.now() + 3_600_000,
    });
    expect(outcome.resent).toEqual([{ jobId, streamId: 0, seq: 1 }]);
    expect(sent).toEqual(outcome.resent);
    expect(await store.isStaleTask({ jobId, streamId: 0, seq: 0 })).toBe(true);
  });

  it("close a job whose planning was abandoned: the sweep re-sends its discovery three times, then fails it with one line and finalization reports it", async () => {
    const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    const ports = createBackupStatePorts(store);
    const trigger: JobTrigger = { kind: "on-demand", time: "2026-11-29T08:00:00Z", requestId: "stuck" };
    const jobId = ports.coordinator.jobIdFor(trigger);
    await ports.coordinator.createJob(jobId, trigger);
    const reports: JobReport[] = [];
    const archive = {
      ...wholeReportsOnly,
      writeReport: async (r: JobReport) => void reports.push(r),
    };
    const resent: unknown[] = [];
    const sweepLater = () =>
      sweep({
        state: ports.sweep,
        queue: {
          send: async () => {},
          sendAll: async () => {},
          sendDiscovery: async (t) => void resent.push(t),
        },
        finalizeJob: async (id) => void (await finalizeJob(id, { state: ports.finalize, archive })),
        planningStaleAfterMs: 60_000,
        now: () => Date.now() + 3_600_000,
      });
    // The continuation may have been lost: re-sent, at most three times without progress.
    for (let i = 1; i <= 3; i++) {
      expect((await sweepLater()).discoveryResent).toEqual([{ kind: "discover", jobId, piece: 0 }]);
      expect(await store.getDiscovery(jobId)).toMatchObject({ piece: 0, resends: i });
    }
    expect(resent).toHaveLength(3);
    const outcome = await sweepLater();
    expect(outcome.discoveryResent).toEqual([]);
    expect(outcome.abandoned).toEqual([jobId]);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      jobId,
      status: "failed",
      failure: expect.stringMatching(
        /^discovery was interrupted: no progress for \d+ s at piece 0 after 3 re-sent continuations/,
      ),
    });
    expect(await store.getJob(jobId)).toMatchObject({ status: "failed", failure: reports[0]?.failure });
    expect((await store.listJobs()).find((j) => j.jobId === jobId)?.status).toBe("failed");
    // A coordinator that was still at it finds the job closed: its piece does not begin.
    expect(await ports.coordinator.beginPiece(jobId, 0, "late")).toBeUndefined();
    expect(await ports.coordinator.failPlanning(jobId, "again")).toBe(false);
  });
});
