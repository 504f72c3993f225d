/**
 * Discovery pieces on DynamoDB Local: the lease that makes a piece's redelivery do nothing twice,
 * claims while discovery is open, and a job an older version left in planning.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PieceCommit } from "../../../lib/state/discovery.js";
import { StateStore } from "../../../lib/state/index.js";
import type { PlannedUnit } from "../../../lib/state/records.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
}, 120_000);
afterAll(() => aws?.stop());

async function newStore(): Promise<StateStore> {
  return new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
}

const units = (mailboxes: string[]): PlannedUnit[] =>
  mailboxes.map((m) => ({
    mailboxId: m,
    folderIds: ["inbox"],
    cost: 1,
    estimatedSeconds: 1,
    concurrency: 4,
  }));

const commit = (unitCount: number, streamCount: number, next?: string): PieceCommit => ({
  unitCount,
  streamCount,
  cost: 1,
  mailboxes: 1,
  ...(next !== undefined ? { next } : {}),
  workStreamSeconds: 1,
  workMailboxSeconds: 1,
  longestUnitSeconds: 1,
  lowerBoundSeconds: 1,
  predictedMakespanSeconds: 2,
});

const info = (m: string) => ({ mailboxId: m, address: `${m}@contoso.test`, displayName: m, type: "user" });

describe("discovery pieces in the state table", () => {
  it("a second delivery of a piece takes its lease over: the first one's writes and commit fail, the second's count once", async () => {
    const store = await newStore();
    const { job } = await store.createJob({ jobId: "J1", trigger: "on-demand" });
    expect(job.discoveryOpen).toBe(true);
    const first = await store.beginPiece("J1", 0, "A");
    expect(first?.cursor).toBeUndefined();
    expect(first?.redo).toBeUndefined();
    // The second delivery learns that the piece began before (its first may have written objects).
    const second = await store.beginPiece("J1", 0, "B");
    expect(second).toBeDefined();
    expect(second?.redo).toBe(true);
    const records = { base: 0, units: units(["m0", "m1"]), mailboxes: [info("m0"), info("m1")], skipped: [] };
    expect(await store.writePieceRecords("J1", 0, "A", records, job)).toBe(false);
    expect(await store.writePieceRecords("J1", 0, "B", records, job)).toBe(true);
    await store.addStreams(job, 0, 2);
    expect(await store.commitPiece("J1", 0, "A", commit(2, 2, "page-2"))).toBe(false);
    expect(await store.commitPiece("J1", 0, "B", commit(2, 2, "page-2"))).toBe(true);
    // A late copy of piece 0 finds it done; piece 1 starts at the next page.
    expect(await store.beginPiece("J1", 0, "C")).toBeUndefined();
    const next = await store.beginPiece("J1", 1, "D");
    expect(next).toMatchObject({ cursor: "page-2", job: { unitCount: 2 } });
    expect(next?.redo).toBeUndefined();
    expect(await store.getJob("J1")).toMatchObject({
      status: "running",
      unitCount: 2,
      streamCount: 2,
      totalCost: 1,
      discoveryOpen: true,
    });
    expect((await store.listJobs()).find((j) => j.jobId === "J1")?.status).toBe("running");
    expect((await store.jobMailboxes("J1")).map((m) => m.mailboxId)).toEqual(["m0", "m1"]);
    expect((await store.getMailbox("m1"))?.address).toBe("m1@contoso.test");
  });

  it("streams wait ('later') while discovery is open and the job is not finalized; the last piece's units are claimed before any stream finishes", async () => {
    const store = await newStore();
    const { job } = await store.createJob({ jobId: "J2", trigger: "on-demand" });
    await store.beginPiece("J2", 0, "A");
    await store.writePieceRecords(
      "J2",
      0,
      "A",
      { base: 0, units: units(["m0"]), mailboxes: [], skipped: [] },
      job,
    );
    await store.addStreams(job, 0, 1);
    await store.commitPiece("J2", 0, "A", commit(1, 1, "page-2"));
    const task = { jobId: "J2", streamId: 0, seq: 0 };
    expect(await store.beginTask(task)).toBe("current");
    const unit = await store.claimUnit(task);
    expect(unit).toMatchObject({ index: 0, mailboxId: "m0" });
    await store.completeUnit(task, 0, { status: "done" });
    expect(await store.claimUnit(task)).toBe("later");

    // Written but not committed: not claimable.
    await store.beginPiece("J2", 1, "B");
    await store.writePieceRecords(
      "J2",
      1,
      "B",
      { base: 1, units: units(["m1"]), mailboxes: [], skipped: [] },
      job,
    );
    expect(await store.claimUnit(task)).toBe("later");
    expect(await store.commitPiece("J2", 1, "B", commit(2, 1))).toBe(true);
    expect((await store.getJob("J2"))?.discoveryOpen).toBeUndefined();
    expect(await store.claimUnit(task)).toMatchObject({ index: 1, mailboxId: "m1" });
    await store.completeUnit(task, 1, { status: "done" });
    expect(await store.claimUnit(task)).toBeNull();
    await store.finishStream(task);
    expect(await store.tryFinalizeJob("J2")).toBe(true);
  });

  it("does not finalize a job whose streams all finished while discovery is open", async () => {
    const store = await newStore();
    const { job } = await store.createJob({ jobId: "J3", trigger: "on-demand" });
    await store.beginPiece("J3", 0, "A");
    await store.writePieceRecords(
      "J3",
      0,
      "A",
      { base: 0, units: units(["m0"]), mailboxes: [], skipped: [] },
      job,
    );
    await store.addStreams(job, 0, 1);
    await store.commitPiece("J3", 0, "A", commit(1, 1, "page-2"));
    const task = { jobId: "J3", streamId: 0, seq: 0 };
    await store.beginTask(task);
    await store.claimUnit(task);
    await store.completeUnit(task, 0, { status: "done" });
    await store.finishStream(task); // a stream stopped by a fatal error
    expect(await store.tryFinalizeJob("J3")).toBe(false);
    // Discovery given up: the job may now be finalized, with the reason.
    expect(await store.abandonDiscovery("J3", "discovery was interrupted")).toBe(true);
    expect(await store.tryFinalizeJob("J3")).toBe(true);
    expect((await store.getJob("J3"))?.failure).toBe("discovery was interrupted");
  });

  it("resumes a job an older version left in planning (no discovery attributes) from piece 0, and counts the sweep's re-sends once", async () => {
    const store = await newStore();
    await store.createJob({ jobId: "J4", trigger: "schedule" });
    // As an older version left it: no discoveryOpen, no discovery record.
    await store.table.transact([store.table.update("JOB#J4", "META", "REMOVE discoveryOpen", {})]);
    const job = (await store.getJob("J4"))!;
    expect(job.discoveryOpen).toBeUndefined();
    expect(await store.markContinuationResent(job, 0, 0)).toBe(true);
    expect(await store.markContinuationResent(job, 0, 0)).toBe(false); // the other sweep's
    expect(await store.getDiscovery("J4")).toMatchObject({ piece: 0, resends: 1 });
    const start = await store.beginPiece("J4", 0, "A");
    expect(start?.job.status).toBe("planning");
    await store.writePieceRecords(
      "J4",
      0,
      "A",
      { base: 0, units: units(["m0"]), mailboxes: [], skipped: [] },
      job,
    );
    await store.addStreams(job, 0, 1);
    expect(await store.commitPiece("J4", 0, "A", commit(1, 1))).toBe(true);
    expect(await store.getJob("J4")).toMatchObject({ status: "running", unitCount: 1, streamCount: 1 });
    expect(await store.getDiscovery("J4")).toMatchObject({ piece: 1, done: true, resends: 0 });
  });
});
