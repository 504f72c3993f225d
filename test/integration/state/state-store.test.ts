import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readJobProgress } from "../../../lib/app/progress.js";
import type { StreamTask } from "../../../lib/queue/stream-task.js";
import {
  ClaimLostError,
  jobIdForTick,
  type PlannedUnit,
  StaleTaskError,
  StateStore,
  type UnitRecord,
} from "../../../lib/state/index.js";
import { streamSk, unitSk } from "../../../lib/state/keys.js";
import { finishStream as finishStreamIn } from "../../../lib/state/streams.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";
import { jobEnds } from "../../support/job-ends.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

/** A fresh table per test, so tests share nothing. */
async function newStore(now?: () => Date): Promise<StateStore> {
  const tableName = await aws.createTable();
  return new StateStore({ ddb: aws.clients.ddb, tableName, ...(now ? { now } : {}) });
}

function plannedUnits(count: number): PlannedUnit[] {
  return Array.from({ length: count }, (_, i) => ({
    mailboxId: `mbx-${i}`,
    folderIds: [`f-${i}-a`, `f-${i}-b`],
    cost: 1000 - i,
    estimatedSeconds: 100 - i / 10,
    concurrency: 2,
  }));
}

/** A stream's finish told the job's stream count (as its claims would have read it). */
const finishStreamWith = (store: StateStore, t: StreamTask, streamCount: number) =>
  finishStreamIn(store.table, t, streamCount);

let tick = 0;
/**
 * A job in `running` with `units` units and `streams` streams, planned as the coordinator plans:
 * one discovery piece (lease, records, streams, commit), the last. Each call a
 * distinct tick.
 */
async function runningJob(
  store: StateStore,
  units: number,
  streams: number,
  firstUnits?: number,
): Promise<string> {
  const jobId = jobIdForTick(new Date(Date.UTC(2026, 10, 29, 4, 0, tick++)), "schedule");
  const { job } = await store.createJob({ jobId, trigger: "schedule" });
  const planned = plannedUnits(units);
  expect(await store.beginPiece(jobId, 0, "lease")).toBeDefined();
  expect(
    await store.writePieceRecords(
      jobId,
      0,
      "lease",
      { base: 0, units: planned, mailboxes: [], skipped: [] },
      job,
    ),
  ).toBe(true);
  await store.addStreams(job, 0, streams);
  expect(
    await store.commitPiece(jobId, 0, "lease", {
      unitCount: units,
      streamCount: streams,
      cost: planned.reduce((sum, u) => sum + u.cost, 0),
      mailboxes: units,
      workStreamSeconds: 0,
      workMailboxSeconds: 0,
      longestUnitSeconds: 0,
      lowerBoundSeconds: 90,
      predictedMakespanSeconds: 100,
      ...(firstUnits !== undefined ? { firstUnits } : {}),
    }),
  ).toBe(true);
  // The commit of a piece with units makes the job `running`.
  expect((await store.getJob(jobId))?.status).toBe("running");
  return jobId;
}

const task = (jobId: string, streamId: number, seq = 0): StreamTask => ({ jobId, streamId, seq });

/** A unit as claimed, without the claim's time (a claim that read the unit first does not know it). */
const withoutClaimTime = ({ claimedAt: _at, ...rest }: UnitRecord & { claimedAt?: string }) => rest;

/** A claim on a job whose plan is whole (written at once): a unit or none, never "later". */
async function claimNow(store: StateStore, t: StreamTask) {
  const unit = await store.claimUnit(t);
  if (unit === "later")
    throw new Error(`job ${t.jobId}: expected a unit or none, found "later" (discovery open)`);
  return unit;
}

describe("jobs", () => {
  it("creates one job for a tick delivered twice, even concurrently", async () => {
    const store = await newStore();
    const time = new Date("2026-11-29T04:38:00Z");
    const ids = [jobIdForTick(time, "schedule"), jobIdForTick(new Date(time), "schedule")];
    expect(ids[0]).toBe(ids[1]);
    const outcomes = await Promise.all(ids.map((jobId) => store.createJob({ jobId, trigger: "schedule" })));
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(outcomes.map((o) => o.job.jobId)).toEqual(ids);
    expect(outcomes.every((o) => o.job.status === "planning")).toBe(true);
    expect((await store.listJobs()).map((j) => j.jobId)).toEqual([ids[0]]);
  });

  it("lists jobs newest first and open jobs until they close", async () => {
    const store = await newStore();
    const older = jobIdForTick(new Date("2026-11-28T04:00:00Z"), "schedule");
    const newer = jobIdForTick(new Date("2026-11-29T04:00:00Z"), "schedule");
    await store.createJob({ jobId: older, trigger: "schedule" });
    await store.createJob({ jobId: newer, trigger: "on-demand" });
    expect((await store.listJobs()).map((j) => j.jobId)).toEqual([newer, older]);
    expect(await store.setJobStatus(older, "complete", { expected: "running" })).toBe(false);
    await store.setJobStatus(older, "complete");
    expect((await store.openJobs()).map((j) => j.jobId)).toEqual([newer]);
    expect((await store.listJobs(1)).map((j) => j.status)).toEqual(["planning"]);
  });
});

describe("claims", () => {
  it("hands 50 units to 8 concurrent streams exactly once each, largest first", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 50, 8);
    const claimedBy = new Map<number, number>();
    const perStream: number[][] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, streamId) => {
        const t = task(jobId, streamId);
        expect(await store.beginTask(t)).toBe("current");
        const mine: number[] = [];
        perStream[streamId] = mine;
        for (let unit = await claimNow(store, t); unit; unit = await claimNow(store, t)) {
          expect(claimedBy.has(unit.index)).toBe(false);
          // The claim's answer (read beside the claim's write) is the record as the claim left it.
          // (claimedAt, untyped, only as far as the read saw it.)
          expect(withoutClaimTime(unit)).toEqual(withoutClaimTime((await store.getUnit(jobId, unit.index))!));
          claimedBy.set(unit.index, streamId);
          mine.push(unit.index);
          await store.completeUnit(t, unit.index, { status: "done" });
        }
      }),
    );
    expect([...claimedBy.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // The cursor only moves forward: every stream got its units in index (= size) order.
    for (const mine of perStream) expect(mine).toEqual([...mine].sort((a, b) => a - b));
    const units = await store.listUnits(jobId);
    expect(units.every((u) => u.status === "done" && u.attempts === 1)).toBe(true);
    expect(units.map((u) => u.claimedBy)).toEqual(units.map((u) => claimedBy.get(u.index)));
    expect(await store.getJob(jobId)).toMatchObject({ nextUnit: 50 });
    expect(await jobEnds(store, jobId)).toMatchObject({ units: 50 });
  });

  it("recovers a unit whose claimer died between taking its ticket and claiming it", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 3, 1);
    // A claimer took ticket 0 and died before the unit write.
    await aws.clients.ddb.send(
      new UpdateCommand({
        TableName: store.table.name,
        Key: { pk: `JOB#${jobId}`, sk: "META" },
        UpdateExpression: "ADD nextUnit :one",
        ExpressionAttributeValues: { ":one": 1 },
      }),
    );
    const t = task(jobId, 0);
    const order: number[] = [];
    for (let unit = await claimNow(store, t); unit; unit = await claimNow(store, t)) {
      order.push(unit.index);
      await store.completeUnit(t, unit.index, { status: "done" });
    }
    expect(order).toEqual([1, 2, 0]);
  });

  it("begins a first task with the unit it carries in one transaction; other streams claim past it, and a lost task's unit is still claimed", async () => {
    const store = await newStore();
    // Streams 0 and 1 were given units 0 and 1 in their tasks; the cursor starts after them.
    const jobId = await runningJob(store, 4, 2, 2);
    expect(await store.getJob(jobId)).toMatchObject({ nextUnit: 2 });
    const first = { ...task(jobId, 0), units: [0], lease: "a" };
    const [unit] = (await store.beginTaskWithUnits(first))!;
    expect(withoutClaimTime(unit!)).toEqual(withoutClaimTime((await store.getUnit(jobId, 0))!));
    expect(unit).toMatchObject({ index: 0, status: "running", claimedBy: 0, claimSeq: 0, attempts: 1 });
    expect((await store.listStreams(jobId))[0]).toMatchObject({
      status: "running",
      lease: "a",
      heldUnits: new Set([0]),
    });
    await store.checkpoint(first, 0, { folderIndex: 0, page: 1 }, { items: 1 });

    // A second delivery of the same task finds the unit claimed: it begins as any task, takes
    // the stream over and resumes the unit; the first delivery can write nothing more.
    const again = { ...first, lease: "b" };
    expect(await store.beginTaskWithUnits(again)).toBeUndefined();
    expect(await store.beginTask(again)).toBe("current");
    expect((await store.heldUnits(again)).map((u) => u.index)).toEqual([0]);
    await expect(store.checkpoint(first, 0, { folderIndex: 0, page: 2 }, { items: 1 })).rejects.toThrow(
      /taken over by a later delivery/,
    );
    expect(await store.getUnit(jobId, 0)).toMatchObject({ attempts: 1, items: 1 });

    // Stream 1's first task was lost and the sweep re-sent the stream without its unit: it
    // claims from the cursor on, and unit 1 once the cursor is exhausted.
    const resent = await store.handOn(task(jobId, 1));
    expect(await store.beginTaskWithUnits({ ...task(jobId, 1), units: [1] })).toBeUndefined(); // stale
    expect(await store.beginTask(resent)).toBe("current");
    const order: number[] = [];
    for (let u = await claimNow(store, resent); u; u = await claimNow(store, resent)) {
      order.push(u.index);
      await store.completeUnit(resent, u.index, { status: "done" });
    }
    expect(order).toEqual([2, 3, 1]);
    await store.completeUnit(again, 0, { status: "done" });
    expect(await jobEnds(store, jobId)).toMatchObject({ units: 4 });
    expect((await store.listUnits(jobId)).map((u) => u.attempts)).toEqual([1, 1, 1, 1]);
  });

  it("begins a first task with all its start units in one transaction, all or none; units left pending are still claimed", async () => {
    const store = await newStore();
    // Stream 0 starts on units 0–2, stream 1 on 3–5 (one slot each); the cursor starts at 6.
    const jobId = await runningJob(store, 8, 2, 6);
    expect(await store.getJob(jobId)).toMatchObject({ nextUnit: 6 });
    const first = { ...task(jobId, 0), units: [0, 1, 2], lease: "a" };
    const units = (await store.beginTaskWithUnits(first))!;
    expect(units.map((u) => u.index)).toEqual([0, 1, 2]);
    for (const u of units) {
      expect(u).toMatchObject({ status: "running", claimedBy: 0, claimSeq: 0, attempts: 1 });
      expect(withoutClaimTime(u)).toEqual(withoutClaimTime((await store.getUnit(jobId, u.index))!));
    }
    expect((await store.listStreams(jobId))[0]).toMatchObject({
      status: "running",
      lease: "a",
      heldUnits: new Set([0, 1, 2]),
    });

    // A second delivery finds them claimed: it begins as any task and resumes all three.
    const again = { ...first, lease: "b" };
    expect(await store.beginTaskWithUnits(again)).toBeUndefined();
    expect(await store.beginTask(again)).toBe("current");
    expect((await store.heldUnits(again)).map((u) => u.index)).toEqual([0, 1, 2]);

    // Stream 1's first task is late: stream 0 claims the cursor's units 6 and 7, then sweeps the
    // tail and takes unit 3, the first of stream 1's start units [3, 4, 5].
    const swept: number[] = [];
    for (let k = 0; k < 3; k++) {
      const u = (await claimNow(store, again))!;
      swept.push(u.index);
      if (k < 2) await store.completeUnit(again, u.index, { status: "done" });
    }
    expect(swept).toEqual([6, 7, 3]);
    // Stream 1's transaction claims none of its units (all or none); it begins as usual and
    // claims the two left pending below the cursor at the tail.
    const s1 = { ...task(jobId, 1), units: [3, 4, 5] };
    expect(await store.beginTaskWithUnits(s1)).toBeUndefined();
    expect((await store.listUnits(jobId)).slice(4, 6).map((u) => u.status)).toEqual(["pending", "pending"]);
    expect(await store.beginTask(s1)).toBe("current");
    const order: number[] = [];
    for (let u = await claimNow(store, s1); u; u = await claimNow(store, s1)) {
      order.push(u.index);
      await store.completeUnit(s1, u.index, { status: "done" });
    }
    expect(order).toEqual([4, 5]);
    for (const i of [0, 1, 2, 3]) await store.completeUnit(again, i, { status: "done" });
    expect(await jobEnds(store, jobId)).toMatchObject({ units: 8 });
    expect((await store.listUnits(jobId)).map((u) => u.attempts)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);

    // What caps the list: one transaction of 100 items, the stream's and 99 units.
    await expect(
      store.beginTaskWithUnits({ ...task(jobId, 1), units: Array.from({ length: 100 }, (_, i) => i) }),
    ).rejects.toThrow(/expected 1–99 units, found 100/);
  });

  it("reads a first task's start units before it claims them, for an early start: handed over as the claim leaves them; none, and no claim, when one is taken", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 4, 2, 4);
    const first = { ...task(jobId, 0), units: [0, 1], lease: "a" };
    const handed: number[][] = [];
    const units = await store.beginTaskWithUnits(first, (read) => {
      handed.push(read.map((u) => u.index));
      // Handed over as the claim will leave them, before it is sent.
      for (const u of read)
        expect(u).toMatchObject({ status: "running", claimedBy: 0, claimSeq: 0, attempts: 1 });
    });
    expect(handed).toEqual([[0, 1]]);
    expect(units!.map((u) => u.index)).toEqual([0, 1]);
    for (const u of units!) {
      expect(withoutClaimTime(u)).toEqual(withoutClaimTime((await store.getUnit(jobId, u.index))!));
    }
    // A second delivery finds the units claimed: nothing handed over, no transaction (the
    // stream's lease stays the first delivery's), and it begins as any task.
    const again = { ...first, lease: "b" };
    const late: number[][] = [];
    expect(
      await store.beginTaskWithUnits(again, (read) => late.push(read.map((u) => u.index))),
    ).toBeUndefined();
    expect(late).toEqual([]);
    expect((await store.listStreams(jobId))[0]).toMatchObject({ lease: "a", heldUnits: new Set([0, 1]) });
  });

  it("lists the job's units at its tail once: later claimers skip the listing, and a released unit is still claimed", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 2);
    const [a, b] = [task(jobId, 0), task(jobId, 1)];
    expect((await claimNow(store, a))?.index).toBe(0);
    expect((await claimNow(store, b))?.index).toBe(1);
    await store.completeUnit(a, 0, { status: "done" });
    // The cursor is exhausted and unit 1 runs elsewhere: the first claimer at the tail lists the
    // units, finds none pending and marks the job.
    const unitListings = vi.spyOn(store.table, "queryPage");
    expect(await claimNow(store, a)).toBeNull();
    expect(unitListings.mock.calls.filter(([, prefix]) => prefix === "UNIT#")).toHaveLength(1);
    expect(await store.getJob(jobId)).toMatchObject({ tailSweptUnits: 2 });
    // The sweep is free again once its listing is done.
    expect(await store.getJob(jobId)).not.toHaveProperty("tailSweeper");
    // Another claimer at the tail does not list again.
    unitListings.mockClear();
    expect(await claimNow(store, { ...a, streamId: 2 })).toBeNull();
    expect(unitListings.mock.calls.filter(([, prefix]) => prefix === "UNIT#")).toHaveLength(0);
    unitListings.mockRestore();
    // Stream 1 dies: the sweep releases its unit through the orphaned set, claimed after the mark.
    await store.markStreamOrphaned(b);
    expect((await claimNow(store, a))?.index).toBe(1);
  });

  it("lets one stream at a time sweep the tail: the others neither list nor wait for it, and a sweep a minute old is taken over", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 3, 3);
    const [a, b, c] = [task(jobId, 0), task(jobId, 1), task(jobId, 2)];
    expect((await claimNow(store, a))?.index).toBe(0);
    expect((await claimNow(store, b))?.index).toBe(1);
    expect((await claimNow(store, c))?.index).toBe(2);
    // Stream 2 released unit 2 as a claimer that died between ticket and claim leaves it:
    // pending below the exhausted cursor, in no orphaned set.
    await store.table.updateReturning({
      Key: { pk: `JOB#${jobId}`, sk: "UNIT#000002" },
      UpdateExpression: "SET #status = :pending REMOVE claimedBy",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":pending": "pending" },
    });
    await store.completeUnit(a, 0, { status: "done" });
    // Stream 5 is sweeping the tail (began just now): stream 0 ends without listing.
    const sweepBy = (stream: number, at: number) =>
      store.table.updateReturning({
        Key: { pk: `JOB#${jobId}`, sk: "META" },
        UpdateExpression: "SET tailSweeper = :s, tailSweepAt = :at",
        ExpressionAttributeValues: { ":s": stream, ":at": at },
      });
    await sweepBy(5, Date.now());
    const unitListings = vi.spyOn(store.table, "queryPage");
    const listings = () => unitListings.mock.calls.filter(([, prefix]) => prefix === "UNIT#").length;
    const requests = vi.spyOn(store.table, "send");
    expect(await claimNow(store, a)).toBeNull();
    expect(listings()).toBe(0);
    // One request: the refused ticket answers with the job record, which shows the sweep taken.
    expect(requests).toHaveBeenCalledTimes(1);
    requests.mockRestore();
    // The sweeper died a minute ago: stream 0 takes the sweep over, finds unit 2 and claims it.
    await sweepBy(5, Date.now() - 61_000);
    expect((await claimNow(store, a))?.index).toBe(2);
    expect(listings()).toBe(1);
    expect(await store.getJob(jobId)).not.toHaveProperty("tailSweeper");
    expect(await store.getJob(jobId)).not.toHaveProperty("tailSweptUnits");
    unitListings.mockRestore();
  });

  it("hands back the ticket of a stale task, so the unit is not skipped", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 2);
    const old = task(jobId, 0);
    await store.handOn(old);
    await expect(claimNow(store, old)).rejects.toBeInstanceOf(StaleTaskError);
    expect((await store.getJob(jobId))?.orphanedUnits).toEqual([0]);
    expect((await claimNow(store, task(jobId, 1)))?.index).toBe(0);
    expect(await store.getUnit(jobId, 0)).toMatchObject({ status: "running", claimedBy: 1, attempts: 1 });
  });

  it("rejects a checkpoint from a stream that lost its unit", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 2);
    const first = task(jobId, 0);
    const unit = (await claimNow(store, first))!;
    await store.checkpoint(
      first,
      unit.index,
      { folderIndex: 0, link: "https://g/next1", page: 1 },
      { items: 3 },
    );
    const { next } = await store.markStreamOrphaned(first);
    const other = task(jobId, 1);
    expect((await claimNow(store, other))?.index).toBe(unit.index);

    const late = store.checkpoint(
      first,
      unit.index,
      { folderIndex: 0, link: "https://g/next2", page: 2 },
      { items: 5 },
    );
    await expect(late).rejects.toBeInstanceOf(ClaimLostError);
    await expect(late).rejects.toThrow(/found status running, claimed by stream 1/);
    // The revived stream (next seq) does not hold it either: stream 1 does.
    await expect(
      store.checkpoint(next, unit.index, { folderIndex: 0, page: 2 }, { items: 1 }),
    ).rejects.toBeInstanceOf(ClaimLostError);
    await expect(store.completeUnit(first, unit.index, { status: "done" })).rejects.toBeInstanceOf(
      ClaimLostError,
    );
    const stored = await store.getUnit(jobId, unit.index);
    expect(stored).toMatchObject({
      items: 3,
      claimedBy: 1,
      checkpoint: { link: "https://g/next1", page: 1 },
    });
  });

  it("reclaims an orphaned unit with its checkpoint before the next pending unit", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 3, 2);
    const dead = task(jobId, 0);
    await store.beginTask(dead);
    const unit = (await claimNow(store, dead))!;
    expect(unit.index).toBe(0);
    const checkpoint = { folderIndex: 1, folderId: "f-0-b", link: "https://g/skip=7", page: 7 };
    await store.checkpoint(dead, 0, checkpoint, { items: 70, bytes: 7000 });

    const { next, orphanedUnits } = await store.markStreamOrphaned(dead);
    expect(orphanedUnits).toEqual([0]);
    expect(next).toEqual({ jobId, streamId: 0, seq: 1 });
    expect((await store.getJob(jobId))?.orphanedUnits).toEqual([0]);
    expect(await store.heldUnits(next)).toEqual([]);

    const rescuer = task(jobId, 1);
    const reclaimed = (await claimNow(store, rescuer))!;
    expect(reclaimed).toMatchObject({
      index: 0,
      status: "running",
      claimedBy: 1,
      attempts: 2,
      checkpoint,
      items: 70,
    });
    expect(await store.heldUnits(rescuer)).toMatchObject([{ index: 0 }]);
    // The revived stream goes on with the next pending unit; the orphan is gone from the job.
    expect((await claimNow(store, next))?.index).toBe(1);
    expect((await store.getJob(jobId))?.orphanedUnits).toEqual([]);
    // Work resumes from the checkpoint: the next page counts once more.
    await store.checkpoint(rescuer, 0, { ...checkpoint, page: 8 }, { items: 10 });
    expect((await store.getUnit(jobId, 0))?.items).toBe(80);
  });

  it("lets a stream hold two units: a continuation resumes both, the sweep releases what is left", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 3, 2);
    const first = task(jobId, 0);
    await store.beginTask(first);
    expect((await claimNow(store, first))?.index).toBe(0);
    expect((await claimNow(store, first))?.index).toBe(1);
    const next = await store.handOn(first);
    expect((await store.heldUnits(next)).map((u) => u.index)).toEqual([0, 1]);
    await store.checkpoint(next, 1, { folderIndex: 1, page: 3 }, { items: 30 });
    await store.completeUnit(next, 0, { status: "done" });
    expect((await store.heldUnits(next)).map((u) => u.index)).toEqual([1]);
    expect((await store.listStreams(jobId))[0]).toMatchObject({ unitsDone: 1, heldUnits: new Set([1]) });

    const { orphanedUnits } = await store.markStreamOrphaned(next);
    expect(orphanedUnits).toEqual([1]);
    expect((await store.getUnit(jobId, 0))?.status).toBe("done");
    const rescuer = task(jobId, 1);
    expect(await claimNow(store, rescuer)).toMatchObject({
      index: 1,
      claimedBy: 1,
      checkpoint: { folderIndex: 1, page: 3 },
      items: 30,
    });
  });

  it("writes a unit's last checkpoint with its end: counters on unit, stream and job, staged sync states, once", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 1, 1);
    const t = task(jobId, 0);
    await store.beginTask(t);
    await claimNow(store, t);
    await store.checkpoint(t, 0, { folderIndex: 1, page: 1 }, { items: 2, bytes: 20 });
    const end = {
      status: "done" as const,
      last: {
        checkpoint: { folderIndex: 2, page: 2 },
        counters: { items: 3, bytes: 30 },
        staged: [{ mailboxId: "mbx-0", folderId: "f-0-b", deltaLink: "https://g/delta-b" }],
      },
    };
    await store.completeUnit(t, 0, end);
    await store.completeUnit(t, 0, end); // a repeat adds nothing
    expect(await store.getUnit(jobId, 0)).toMatchObject({
      status: "done",
      items: 5,
      bytes: 50,
      checkpoint: { folderIndex: 2, page: 2 },
    });
    expect((await store.listStreams(jobId))[0]).toMatchObject({ items: 5, bytes: 50, unitsDone: 1 });
    expect(await jobEnds(store, jobId)).toMatchObject({ items: 5, bytes: 50, units: 1 });
    await store.promoteSyncStates(jobId);
    expect((await store.committedSyncStates("mbx-0")).get("f-0-b")?.deltaLink).toBe("https://g/delta-b");
  });

  it("ends a unit without reading it when the task knows its cost, counting it on its stream, not the job record", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 1);
    const t = task(jobId, 0);
    await store.beginTask(t);
    const first = (await claimNow(store, t))!;
    await store.checkpoint(t, first.index, { folderIndex: 1, page: 1 }, { items: 2, bytes: 20, requests: 4 });
    const before = await store.getJob(jobId);
    const get = vi.spyOn(store.table, "get");
    await store.completeUnit(t, first.index, {
      status: "done",
      known: { cost: first.cost },
      errors: [{ subject: "message m1", name: "MessageFailedError", message: "expected MIME, found 404" }],
      last: { checkpoint: { folderIndex: 2, page: 2 }, counters: { items: 1, bytes: 10 }, staged: [] },
    });
    expect(get).not.toHaveBeenCalled();
    get.mockRestore();
    // The job record, which every stream's tickets write, is no item of a unit's end.
    expect(await store.getJob(jobId)).toEqual(before);
    expect((await store.listStreams(jobId))[0]).toMatchObject({
      items: 3,
      bytes: 30,
      requests: 4,
      unitsDone: 1,
      unitsEnded: 1,
      costEnded: first.cost,
      errorsEnded: 1,
    });

    // Without what the task knows, the end reads the unit's cost first; a repeat adds nothing.
    const second = (await claimNow(store, t))!;
    await store.checkpoint(t, second.index, { folderIndex: 1, page: 1 }, { items: 5 });
    await store.completeUnit(t, second.index, { status: "failed" });
    await store.completeUnit(t, second.index, { status: "failed", known: { cost: second.cost } });
    expect(await store.getUnit(jobId, second.index)).toMatchObject({ status: "failed", items: 5 });
    expect(await jobEnds(store, jobId)).toMatchObject({
      units: 2,
      cost: first.cost + second.cost,
      errors: 1,
      items: 8,
      bytes: 30,
    });
  });

  it("lets a later delivery of the same task take the stream over; the earlier one can write nothing more", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 1);
    const first = { ...task(jobId, 0), lease: "first" };
    expect(await store.beginTask(first)).toBe("current");
    const unit = (await claimNow(store, first))!;
    await store.checkpoint(first, unit.index, { folderIndex: 0, page: 1 }, { items: 1 });
    const second = { ...task(jobId, 0), lease: "second" };
    expect(await store.beginTask(second)).toBe("current");
    // Every write of the first delivery now fails, naming the takeover.
    const late = store.checkpoint(first, unit.index, { folderIndex: 0, page: 2 }, { items: 1 });
    await expect(late).rejects.toThrow(/taken over by a later delivery/);
    await expect(store.heartbeat(first)).rejects.toBeInstanceOf(StaleTaskError);
    await expect(claimNow(store, first)).rejects.toBeInstanceOf(StaleTaskError);
    await expect(store.completeUnit(first, unit.index, { status: "done" })).rejects.toBeInstanceOf(
      StaleTaskError,
    );
    await expect(store.handOn(first)).rejects.toBeInstanceOf(StaleTaskError);
    // The second resumes the unit from the first's checkpoint and ends it; counts are exact.
    expect((await store.heldUnits(second)).map((u) => u.index)).toEqual([unit.index]);
    await store.checkpoint(second, unit.index, { folderIndex: 1, page: 2 }, { items: 1 });
    await store.completeUnit(second, unit.index, { status: "done" });
    expect(await store.getUnit(jobId, unit.index)).toMatchObject({ status: "done", items: 2 });
    // The sweep, which holds no lease, can still move the stream on.
    expect((await store.handOn(task(jobId, 0))).seq).toBe(1);
  });

  it("lets a continuation resume the unit its stream holds", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 1);
    const first = task(jobId, 0);
    const unit = (await claimNow(store, first))!;
    const next = await store.handOn(first);
    expect((await store.heldUnits(next)).map((u) => u.index)).toEqual([unit.index]);
    await store.checkpoint(next, unit.index, { folderIndex: 0, page: 1 }, { items: 1 });
    await store.completeUnit(next, unit.index, { status: "done" });
    await store.completeUnit(next, unit.index, { status: "done" }); // a repeat is harmless
    expect(await store.heldUnits(next)).toEqual([]);
    expect(await jobEnds(store, jobId)).toMatchObject({ units: 1 });
  });

  it("records a failed unit's error and attempts", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 1, 1);
    const t = task(jobId, 0);
    await claimNow(store, t);
    await store.failUnit(t, 0, new TypeError("expected a folder list, found null"));
    expect(await store.getUnit(jobId, 0)).toMatchObject({
      status: "failed",
      attempts: 1,
      errors: [{ subject: "unit 0", name: "TypeError", message: "expected a folder list, found null" }],
    });
    expect(await jobEnds(store, jobId)).toMatchObject({ units: 1, errors: 1 });
  });
});

describe("streams", () => {
  it("detects a stale task once the stream moved to the next seq", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 1, 2);
    const old = task(jobId, 0);
    expect(await store.beginTask(old)).toBe("current");
    const next = await store.handOn(old);
    expect(next.seq).toBe(1);
    expect(await store.isStaleTask(old)).toBe(true);
    expect(await store.isStaleTask(next)).toBe(false);
    expect(await store.beginTask(old)).toBe("stale");
    // A task newer than its stream breaks the rule that the seq moves before a task is sent; a
    // stream without a record drops its task.
    await expect(store.beginTask({ ...next, seq: 2 })).rejects.toThrow(
      /expected a task seq ≤ the stream's 1, found 2/,
    );
    expect(await store.beginTask({ ...next, streamId: 9 })).toBe("stale");
    await expect(store.heartbeat(old)).rejects.toBeInstanceOf(StaleTaskError);
    await expect(store.handOn(old)).rejects.toThrow(/expected the current task to have seq 0, found seq 1/);
    await expect(claimNow(store, old)).rejects.toBeInstanceOf(StaleTaskError);
    await expect(store.finishStream(old)).rejects.toBeInstanceOf(StaleTaskError);
    // Finished streams drop every task, current seq included.
    await store.finishStream(next);
    await store.finishStream(next);
    expect(await store.isStaleTask(next)).toBe(true);
    expect((await store.getJob(jobId))?.streamsFinished).toBe(1);
  });

  it("stops an old task that is still running after the sweep re-sent its stream", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 1);
    const old = task(jobId, 0);
    const unit = (await claimNow(store, old))!;
    await store.checkpoint(old, unit.index, { folderIndex: 0, link: "https://g/1", page: 1 }, { items: 1 });
    const resent = await store.handOn(old); // what the sweep does to a silent stream
    const late = store.checkpoint(
      old,
      unit.index,
      { folderIndex: 0, link: "https://g/2", page: 2 },
      { items: 1 },
    );
    await expect(late).rejects.toBeInstanceOf(StaleTaskError);
    await expect(store.completeUnit(old, unit.index, { status: "done" })).rejects.toBeInstanceOf(
      StaleTaskError,
    );
    // The re-sent task resumes the unit from the last checkpoint that went through.
    const [resumed] = await store.heldUnits(resent);
    expect(resumed).toMatchObject({
      index: unit.index,
      items: 1,
      checkpoint: { link: "https://g/1", page: 1 },
    });
    await store.checkpoint(
      resent,
      unit.index,
      { folderIndex: 0, link: "https://g/2", page: 2 },
      { items: 1 },
    );
    await store.completeUnit(resent, unit.index, { status: "done" });
    expect(await jobEnds(store, jobId)).toMatchObject({ items: 2, units: 1 });
  });

  it("reports streams without a sign of life", async () => {
    let now = new Date("2026-11-29T05:00:00Z");
    const store = await newStore(() => now);
    const jobId = await runningJob(store, 1, 3);
    now = new Date("2026-11-29T05:10:00Z");
    await store.heartbeat(task(jobId, 1));
    await store.finishStream(task(jobId, 2));
    now = new Date("2026-11-29T05:12:00Z");
    expect((await store.staleStreams(jobId, 5 * 60_000)).map((s) => s.streamId)).toEqual([0]);
  });

  it("finalizes a job exactly once, only after every stream finished", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 3);
    await store.finishStream(task(jobId, 0));
    await store.finishStream(task(jobId, 1));
    expect(await store.tryFinalizeJob(jobId)).toBe(false);
    await store.finishStream(task(jobId, 2));
    const results = await Promise.all(Array.from({ length: 10 }, () => store.tryFinalizeJob(jobId)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.tryFinalizeJob(jobId)).toBe(false);
    expect(await store.getJob(jobId)).toMatchObject({ status: "finalizing" });
    expect((await store.openJobs()).map((j) => j.status)).toEqual(["finalizing"]);
  });
});

describe("stream ends", () => {
  it("lets only a job's last stream try its finalization, each stream finishing in one request, counted once", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 3);
    const streams = [task(jobId, 0), task(jobId, 1), task(jobId, 2)];
    const claimed = await Promise.all(streams.map((t) => claimNow(store, t)));
    for (const [i, unit] of claimed.entries())
      if (unit) await store.completeUnit(streams[i]!, unit.index, { status: "done" });
    // Each stream's tail claim reads the job (its stream count is final: discovery done).
    for (const t of streams) expect(await claimNow(store, t)).toBeNull();
    const requests = vi.spyOn(store.table, "send");
    expect(await store.finishStream(streams[0]!)).toEqual({ othersLeft: true });
    expect(await store.finishStream(streams[1]!)).toEqual({ othersLeft: true });
    expect(requests).toHaveBeenCalledTimes(2);
    expect(await store.tryFinalizeJob(jobId)).toBe(false);
    // The last one: the conditional finish is refused, the plain one counts it.
    expect(await store.finishStream(streams[2]!)).toEqual({ othersLeft: false });
    expect(await store.finishStream(streams[2]!)).toEqual({ othersLeft: false }); // a repeat
    requests.mockRestore();
    expect((await store.getJob(jobId))?.streamsFinished).toBe(3);
    expect(await store.tryFinalizeJob(jobId)).toBe(true);
  });

  it("shares what one task's claims learnt with the store's other deadline views (one per task)", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 2, 2);
    const streams = [task(jobId, 0), task(jobId, 1)];
    const far = () => Date.now() + 60_000;
    // Each task's claims go through a view of its own (the stream runner's stateUntil).
    const views = streams.map(() => store.withRetryDeadline(far));
    const claimed = await Promise.all(streams.map((t, i) => claimNow(views[i]!, t)));
    for (const [i, unit] of claimed.entries())
      if (unit) await views[i]!.completeUnit(streams[i]!, unit.index, { status: "done" });
    for (const [i, t] of streams.entries()) expect(await claimNow(views[i]!, t)).toBeNull();
    // A later task's view (and the store itself) knows the job's stream count: the first finish
    // is one request and says the other stream is still to finish.
    expect(await store.withRetryDeadline(far).finishStream(streams[0]!)).toEqual({ othersLeft: true });
    expect(await store.finishStream(streams[1]!)).toEqual({ othersLeft: false });
    expect(await store.tryFinalizeJob(jobId)).toBe(true);
  });

  it("finishes as before without the job's stream count, or with one that is not the job's", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 1, 2);
    // No claim read the job in this store: nothing is known of the others.
    expect(await store.finishStream(task(jobId, 0))).toEqual({ othersLeft: false });
    expect(await finishStreamWith(store, task(jobId, 1), 5)).toEqual({ othersLeft: false });
    await expect(finishStreamWith(store, task(jobId, 1, 3), 5)).rejects.toBeInstanceOf(StaleTaskError);
    expect((await store.getJob(jobId))?.streamsFinished).toBe(2);
    expect(await store.tryFinalizeJob(jobId)).toBe(true);
  });
});

describe("counters", () => {
  it("add up on unit and stream under concurrent checkpoints and ends", async () => {
    const store = await newStore();
    const streams = 6;
    const pages = 15;
    const jobId = await runningJob(store, streams, streams);
    const held: Array<{ t: StreamTask; unit: UnitRecord }> = [];
    for (let s = 0; s < streams; s++)
      held.push({ t: task(jobId, s), unit: (await claimNow(store, task(jobId, s)))! });
    await Promise.all(
      held.map(async ({ t, unit }) => {
        for (let page = 1; page <= pages; page++) {
          const cp = { folderIndex: 0, link: `https://g/${page}`, page };
          await store.checkpoint(t, unit.index, cp, { items: 2, bytes: 100, requests: 3, throttled: 1 });
          // A repeated write (a retry after a lost answer) counts nothing twice.
          if (page % 5 === 0) await store.checkpoint(t, unit.index, cp, { items: 2, bytes: 100 });
        }
      }),
    );
    // Neither checkpoints nor unit ends write the job record: its streams sum its units.
    await Promise.all(held.map(({ t, unit }) => store.completeUnit(t, unit.index, { status: "done" })));
    expect(await store.getJob(jobId)).toMatchObject({ items: 0, bytes: 0, unitsDone: 0 });
    expect(await jobEnds(store, jobId)).toMatchObject({
      units: streams,
      items: 2 * pages * streams,
      bytes: 100 * pages * streams,
      requests: 3 * pages * streams,
      throttled: pages * streams,
    });
    for (const u of await store.listUnits(jobId)) {
      expect(u).toMatchObject({ items: 2 * pages, bytes: 100 * pages, checkpoint: { page: pages } });
    }
    for (const s of await store.listStreams(jobId))
      expect(s).toMatchObject({ items: 2 * pages, throttled: pages });
  });
});

describe("sync state", () => {
  const mailboxId = "mbx-sync";

  it("promotes only the folders a job completed, and never backwards", async () => {
    const store = await newStore();
    const older = await runningJob(store, 1, 1);
    const newer = await runningJob(store, 1, 1);
    expect(older < newer).toBe(true);
    // The newer job completed f1 and f2 (f3 failed: not staged); the older one staged f1 and f3.
    await store.stagePendingSyncState(newer, {
      mailboxId,
      folderId: "f1",
      deltaLink: "new-1",
      path: "Inbox",
    });
    await store.stagePendingSyncState(newer, { mailboxId, folderId: "f2", deltaLink: "new-2" });
    await store.stagePendingSyncState(older, { mailboxId, folderId: "f1", deltaLink: "old-1" });
    await store.stagePendingSyncState(older, { mailboxId, folderId: "f3", deltaLink: "old-3" });
    expect(await store.committedSyncStates(mailboxId)).toEqual(new Map());

    expect(await store.promoteSyncStates(newer)).toEqual({ promoted: 2, superseded: 0 });
    expect(await store.promoteSyncStates(newer)).toEqual({ promoted: 2, superseded: 0 });
    // The older job finalizes late: f1 keeps the newer state, f3 (new to the map) is taken.
    expect(await store.promoteSyncStates(older)).toEqual({ promoted: 1, superseded: 1 });

    const committed = await store.committedSyncStates(mailboxId);
    expect([...committed.keys()].sort()).toEqual(["f1", "f2", "f3"]);
    expect(committed.get("f1")).toMatchObject({ deltaLink: "new-1", lastJob: newer, path: "Inbox" });
    expect(committed.get("f2")).toMatchObject({ deltaLink: "new-2", lastJob: newer });
    expect(committed.get("f3")).toMatchObject({ deltaLink: "old-3", lastJob: older });
    expect(await store.committedSyncState(mailboxId, "f4")).toBeUndefined();
  });

  it("promotes many folders a hundred to a request, each refused alone when a newer job has it", async () => {
    const store = await newStore();
    const older = await runningJob(store, 1, 1);
    const newer = await runningJob(store, 1, 1);
    // 250 folders of 25 mailboxes (3 transactions); the newer job already committed 4 of them,
    // 3 in the first hundred and 1 in the third.
    const folders = Array.from({ length: 250 }, (_, i) => ({
      mailboxId: `mbx-many-${Math.floor(i / 10)}`,
      folderId: `f${i % 10}`,
      i,
    }));
    const newerHas = new Set([5, 17, 99, 230]);
    for (const f of folders) {
      await store.stagePendingSyncState(older, {
        mailboxId: f.mailboxId,
        folderId: f.folderId,
        deltaLink: `old-${f.i}`,
      });
      if (newerHas.has(f.i)) {
        await store.stagePendingSyncState(newer, {
          mailboxId: f.mailboxId,
          folderId: f.folderId,
          deltaLink: `new-${f.i}`,
        });
      }
    }
    expect(await store.promoteSyncStates(newer)).toEqual({ promoted: 4, superseded: 0 });

    const transact = vi.spyOn(store.table, "transact");
    const single = vi.spyOn(store.table, "updateReturning");
    expect(await store.promoteSyncStates(older)).toEqual({ promoted: 246, superseded: 4 });
    // 3 transactions, and repeats of the two that held a refused folder: one per refusal at most
    // (DynamoDB names every failed condition of a refused transaction; DynamoDB Local may name
    // fewer at once). The first sends carry 100, 100 and 50 folders.
    expect(transact.mock.calls.length).toBeGreaterThanOrEqual(5);
    expect(transact.mock.calls.length).toBeLessThanOrEqual(3 + newerHas.size);
    expect(transact.mock.calls.slice(0, 3).map((c) => c[0].length)).toEqual([100, 100, 50]);
    expect(single).not.toHaveBeenCalled();
    transact.mockRestore();
    single.mockRestore();

    for (let m = 0; m < 25; m++) {
      const committed = await store.committedSyncStates(`mbx-many-${m}`);
      expect(committed.size).toBe(10);
      for (const [folderId, state] of committed) {
        const i = m * 10 + Number(folderId.slice(1));
        expect(state).toMatchObject(
          newerHas.has(i)
            ? { deltaLink: `new-${i}`, lastJob: newer }
            : { deltaLink: `old-${i}`, lastJob: older },
        );
      }
    }
  });

  it("ends many mailboxes a hundred to a request, never backwards, each attribute alone when a newer job holds one", async () => {
    const store = await newStore();
    const older = await runningJob(store, 1, 1);
    const newer = await runningJob(store, 1, 1);
    const ids = Array.from({ length: 150 }, (_, i) => `mbx-ok-${i}`);
    // A newer job already ended mailbox 120 (complete, no tree of its own).
    await store.endMailboxes(newer, [{ mailboxId: ids[120]!, complete: true }]);
    const transact = vi.spyOn(store.table, "transact");
    const single = vi.spyOn(store.table, "updateReturning");
    await store.endMailboxes(
      older,
      ids.map((mailboxId, i) => ({
        mailboxId,
        complete: true,
        ...(i % 2 === 0 ? { treeHash: `T${i}` } : {}),
      })),
    );
    // 100 and 50, the 50 again without the refused one, then its two attributes alone.
    expect(transact).toHaveBeenCalledTimes(5);
    expect(single).not.toHaveBeenCalled();
    transact.mockRestore();
    single.mockRestore();
    expect(await store.getMailbox(ids[0]!)).toMatchObject({
      mailboxId: ids[0],
      lastSuccessfulJob: older,
      folderTreeHash: "T0",
      folderTreeJob: older,
    });
    expect(await store.getMailbox(ids[1]!)).toMatchObject({ lastSuccessfulJob: older });
    // The newer job's success stays; the older job's tree (the newer wrote none) is taken.
    expect(await store.getMailbox(ids[120]!)).toMatchObject({
      lastSuccessfulJob: newer,
      folderTreeHash: "T120",
      folderTreeJob: older,
    });
    expect(await store.getMailbox(ids[149]!)).toMatchObject({ lastSuccessfulJob: older });
  });

  it("reads a mailbox's sync states of both kinds and its folder tree in one query, from records older versions wrote", async () => {
    const store = await newStore();
    const table = store.table.name;
    const put = (item: Record<string, unknown>) =>
      aws.clients.ddb.send(new PutCommand({ TableName: table, Item: item }));
    // As versions before this one left them: promoted folders (message and item links), the
    // mailbox's META with its folder tree and last success, and another mailbox beside it.
    const pk = "MBX#mbx-old";
    await put({
      pk,
      sk: "META",
      mailboxId: "mbx-old",
      address: "o@contoso.test",
      displayName: "O",
      type: "user",
      updatedAt: "2026-11-01T00:00:00.000Z",
      lastSuccessfulJob: "2026-11-01T04-00-00Z-aaaa",
      folderTreeHash: "tree-1",
      folderTreeJob: "2026-11-01T04-00-00Z-aaaa",
    });
    await put({
      pk,
      sk: "FOLDER#inbox",
      mailboxId: "mbx-old",
      folderId: "inbox",
      deltaLink: "d-inbox",
      lastJob: "2026-11-01T04-00-00Z-aaaa",
      updatedAt: "2026-11-01T05:00:00.000Z",
      path: "Inbox",
    });
    await put({
      pk,
      sk: "FOLDER#sent",
      mailboxId: "mbx-old",
      folderId: "sent",
      deltaLink: "d-sent",
      lastJob: "2026-11-01T04-00-00Z-aaaa",
      updatedAt: "2026-11-01T05:00:00.000Z",
    });
    await put({
      pk,
      sk: "ITEMS#cal",
      mailboxId: "mbx-old",
      folderId: "cal",
      deltaLink: "i-cal",
      lastJob: "2026-11-01T04-00-00Z-aaaa",
      updatedAt: "2026-11-01T05:00:00.000Z",
      via: "items",
    });
    await put({
      pk: "MBX#mbx-other",
      sk: "FOLDER#inbox",
      mailboxId: "mbx-other",
      folderId: "inbox",
      deltaLink: "x",
      lastJob: "j",
      updatedAt: "t",
    });

    const query = vi.spyOn(store.table, "query");
    const get = vi.spyOn(store.table, "get");
    const state = await store.committedMailboxState("mbx-old");
    expect(query).toHaveBeenCalledTimes(1);
    expect(get).not.toHaveBeenCalled();
    query.mockRestore();
    get.mockRestore();
    expect([...state.messages.keys()].sort()).toEqual(["inbox", "sent"]);
    expect(state.messages.get("inbox")).toMatchObject({
      deltaLink: "d-inbox",
      path: "Inbox",
      updatedAt: "2026-11-01T05:00:00.000Z",
    });
    expect([...state.items.keys()]).toEqual(["cal"]);
    expect(state.items.get("cal")).toMatchObject({ deltaLink: "i-cal", via: "items" });
    expect(state.tree).toEqual({ treeHash: "tree-1", jobId: "2026-11-01T04-00-00Z-aaaa" });
    // The same as the three reads it replaces.
    expect(state.messages).toEqual(await store.committedSyncStates("mbx-old"));
    expect(state.items).toEqual(await store.committedSyncStates("mbx-old", "items"));
    expect(state.tree).toEqual(await store.committedFolderTree("mbx-old"));
    // A mailbox never backed up, and one whose META has no tree (older versions wrote none).
    expect(await store.committedMailboxState("mbx-new")).toEqual({ messages: new Map(), items: new Map() });
    await put({
      pk: "MBX#mbx-plain",
      sk: "META",
      mailboxId: "mbx-plain",
      address: "p@contoso.test",
      displayName: "P",
      type: "user",
      updatedAt: "t",
    });
    expect((await store.committedMailboxState("mbx-plain")).tree).toBeUndefined();
  });

  it("keeps mailbox facts and never moves the last successful job backwards", async () => {
    const store = await newStore();
    const older = await runningJob(store, 0 + 1, 1);
    const newer = await runningJob(store, 1, 1);
    await store.putMailbox({ mailboxId, address: "a@contoso.test", displayName: "A", type: "user" });
    await store.endMailboxes(newer, [{ mailboxId, complete: true }]);
    await store.endMailboxes(older, [{ mailboxId, complete: true }]);
    await store.putMailbox({ mailboxId, address: "a@contoso.test", displayName: "A B", type: "shared" });
    expect(await store.getMailbox(mailboxId)).toMatchObject({
      displayName: "A B",
      type: "shared",
      lastSuccessfulJob: newer,
    });
  });
});

describe("live progress", () => {
  it("reads the job, its streams and held units only, and agrees with a read of every unit", async () => {
    const store = await newStore();
    const jobId = await runningJob(store, 6, 2);
    const [s0, s1] = [task(jobId, 0), task(jobId, 1)];
    // Stream 0 ends units 0 (an error recorded) and 2; stream 1 ends unit 1 and holds unit 3
    // with one of its two folders done.
    const u0 = (await claimNow(store, s0))!;
    await store.checkpoint(s0, u0.index, { folderIndex: 1, page: 1 }, { items: 4, bytes: 400 });
    await store.completeUnit(s0, u0.index, {
      status: "done",
      errors: [{ subject: "message m1", name: "MessageFailedError", message: "expected MIME, found 404" }],
      last: { checkpoint: { folderIndex: 2, page: 2 }, counters: { items: 1, bytes: 100 }, staged: [] },
    });
    const u1 = (await claimNow(store, s1))!;
    await store.completeUnit(s1, u1.index, { status: "done" });
    const u2 = (await claimNow(store, s0))!;
    await store.completeUnit(s0, u2.index, { status: "done" });
    const u3 = (await claimNow(store, s1))!;
    await store.checkpoint(s1, u3.index, { folderIndex: 1, page: 3 }, { items: 7, bytes: 700, throttled: 2 });

    // Every unit read is refused: the figures come from the job record, streams and held units.
    let unitReads = 0;
    const bounded = new Proxy(store, {
      get(target, name, receiver) {
        if (name === "listUnits") throw new Error("expected no read of every unit");
        if (name === "getUnit") unitReads++;
        return Reflect.get(target, name, receiver);
      },
    });
    const progress = await readJobProgress(bounded, jobId);
    expect(unitReads).toBe(1);
    const cost = (i: number) => 1000 - i;
    expect(progress).toMatchObject({
      unitsTotal: 6,
      unitsDone: 3,
      costTotal: [0, 1, 2, 3, 4, 5].reduce((n, i) => n + cost(i), 0),
      costDone: cost(0) + cost(1) + cost(2) + cost(3) / 2,
      items: 12,
      bytes: 1200,
      errors: 1,
      throttled: 2,
    });
    expect(progress?.streams.find((s) => s.streamId === 1)).toMatchObject({ unit: u3.index, unitsDone: 1 });

    // A job record written by older code (no sums) is read unit by unit, to the same figures.
    await aws.clients.ddb.send(
      new UpdateCommand({
        TableName: store.table.name,
        Key: { pk: `JOB#${jobId}`, sk: "META" },
        UpdateExpression: "REMOVE costDone, errorsRecorded",
      }),
    );
    expect(await readJobProgress(store, jobId)).toEqual(progress);
  });

  it("sums a job in flight across the upgrade: ends of the version before on the job record, later ones on their streams; its streams still finish and one finalizes", async () => {
    const store = await newStore();
    const t = store.table;
    const jobId = await runningJob(store, 4, 2);
    const [s0, s1] = [task(jobId, 0), task(jobId, 1)];
    /** A unit's end as the version before 2026-12-07 (session 14) wrote it: the job record a fourth item. */
    const endAsBefore = async (
      st: StreamTask,
      unit: UnitRecord,
      status: "done" | "mailbox-skipped",
      items: number,
      errors: number,
    ) => {
      const pk = `JOB#${jobId}`;
      const errorList = Array.from({ length: errors }, (_, i) => ({
        subject: `message m${i}`,
        name: "MessageFailedError",
        message: "expected MIME, found 404",
      }));
      const counter = status === "done" ? "unitsDone" : "unitsSkipped";
      const outcome = await t.transact([
        t.update(
          pk,
          unitSk(unit.index),
          "SET #status = :end, endedAt = :now, #errors = :errors, incompleteFolders = :none ADD #c_items :items",
          { ":end": status, ":now": t.nowIso(), ":errors": errorList, ":none": [], ":items": items },
          undefined,
          { "#status": "status", "#errors": "errors", "#c_items": "items" },
        ),
        t.update(
          pk,
          "META",
          `ADD ${counter} :one, costDone :cost, errorsRecorded :errs, #c_items :items`,
          { ":one": 1, ":cost": unit.cost, ":errs": errors, ":items": items },
          "attribute_exists(pk)",
          { "#c_items": "items" },
        ),
        t.update(
          pk,
          streamSk(st.streamId),
          "REMOVE currentUnit DELETE heldUnits :held ADD unitsDone :one, #c_items :items",
          { ":one": 1, ":held": new Set([unit.index]), ":items": items },
          undefined,
          { "#c_items": "items" },
        ),
      ]);
      expect(outcome.ok).toBe(true);
    };
    const u0 = (await claimNow(store, s0))!;
    const u1 = (await claimNow(store, s1))!;
    await endAsBefore(s0, u0, "done", 4, 1);
    const u2 = (await claimNow(store, s0))!;
    await endAsBefore(s0, u2, "mailbox-skipped", 0, 0);
    // The upgrade lands: the later ends are counted on their streams.
    await store.completeUnit(s1, u1.index, {
      status: "done",
      known: { cost: u1.cost },
      last: { checkpoint: { folderIndex: 2, page: 1 }, counters: { items: 3 }, staged: [] },
    });
    const u3 = (await claimNow(store, s1))!;
    await store.completeUnit(s1, u3.index, {
      status: "done",
      errors: [{ subject: "folder f-3-a", name: "FolderFailedError", message: "expected 200, found 500" }],
    });
    expect(await store.getJob(jobId)).toMatchObject({
      unitsDone: 1,
      unitsSkipped: 1,
      costDone: u0.cost + u2.cost,
    });

    const progress = await readJobProgress(store, jobId);
    expect(progress).toMatchObject({
      unitsDone: 4,
      costDone: u0.cost + u1.cost + u2.cost + u3.cost,
      costTotal: u0.cost + u1.cost + u2.cost + u3.cost,
      items: 7,
      errors: 2,
    });
    // The same figures as a read of every unit (a job record without the sums is read so).
    const { streams: _rows, ...figures } = progress!;
    await aws.clients.ddb.send(
      new UpdateCommand({
        TableName: t.name,
        Key: { pk: `JOB#${jobId}`, sk: "META" },
        UpdateExpression: "REMOVE costDone, errorsRecorded",
      }),
    );
    expect(await readJobProgress(store, jobId)).toMatchObject(figures);

    // The job record counts 2 of 4 ended: the streams find the rest ended at the tail and finish.
    expect(await claimNow(store, s0)).toBeNull();
    expect(await claimNow(store, s1)).toBeNull();
    await store.finishStream(s0);
    await store.finishStream(s1);
    expect(await store.tryFinalizeJob(jobId)).toBe(true);
  });
});
