import { Readable } from "node:stream";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { manifestFrom, manifestMailboxes, readManifest } from "../../../lib/archive/manifest.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import { readReport, readReportSummary } from "../../../lib/archive/reports.js";
import { type FinalizePiece, finalizeJob } from "../../../lib/backup/finalize.js";
import type { FinalizeArchivePort, JobPlan, JobTrigger } from "../../../lib/backup/ports.js";
import { buildJobReport, type JobReport } from "../../../lib/backup/report.js";
import { runStreamTask, type StreamRunnerDeps } from "../../../lib/backup/stream-runner.js";
import { createBackupStatePorts } from "../../../lib/state/backup-ports.js";
import { StateStore } from "../../../lib/state/index.js";
import { jobPk, unitSk } from "../../../lib/state/keys.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

const ids = ["m0", "m1", "m2", "m3", "m4", "m5", "m6"];
const mailboxes = ids.map((id) => ({
  userId: id,
  address: `${id}@contoso.test`,
  displayName: id,
  purpose: "user",
}));
const skipped = ["s0", "s1", "s2", "s3", "s4"].map((id) => ({
  userId: id,
  address: `${id}@contoso.test`,
  reason: "no mailbox",
}));

/** Ten units over seven mailboxes, m0 split in three and m3 in two, their units far apart in index order. */
const units = [
  ["m0", ["a", "b"]],
  ["m3", ["a"]],
  ["m0", ["c"]],
  ["m1", ["a"]],
  ["m3", ["b"]],
  ["m2", ["a"]],
  ["m4", ["a"]],
  ["m5", ["a"]],
  ["m6", ["a"]],
  ["m0", ["d"]],
] as const;

const plan = (streams: number): JobPlan => ({
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
});

function runnerDeps(ports: ReturnType<typeof createBackupStatePorts>): StreamRunnerDeps {
  return {
    state: ports.stream,
    queue: { send: async () => {}, sendAll: async () => {}, sendDiscovery: async () => {} },
    unitDeps: () => ({
      source: {
        async *folderDelta(mailboxId, folderId) {
          yield {
            upserts: [{ id: `${mailboxId}-${folderId}` }],
            removed: [],
            deltaLink: `delta:${mailboxId}/${folderId}`,
          };
        },
        openMime: async (_u, id) => Readable.from([Buffer.from(id)]),
      },
      archive: {
        storeBlob: async () => ({ sha256: "x", size: 7, existed: false }),
        writeCatalogPart: async () => {},
      },
    }),
    remainingMs: () => 1e9,
    deadlineMarginMs: 100,
    heartbeatMs: 60_000,
    finalizeJob: async () => {},
  };
}

/** A job of {@link units} backed up by two streams and waiting to be finalized, with a failed, a partial and a noticed unit. */
async function finalizingJob(time: string) {
  const tableName = await aws.createTable();
  const store = new StateStore({ ddb: aws.clients.ddb, tableName });
  const ports = createBackupStatePorts(store);
  const trigger: JobTrigger = { kind: "schedule", time };
  const jobId = ports.coordinator.jobIdFor(trigger);
  await ports.coordinator.createJob(jobId, trigger);
  const whole = plan(2);
  const start = await ports.coordinator.beginPiece(jobId, 0, "lease-1");
  const discovery = { mailboxes, skipped, syncedFolderIds: new Map() };
  expect(await ports.coordinator.writePiece(jobId, 0, "lease-1", 0, whole, discovery, start!.job)).toBe(true);
  await ports.coordinator.addStreams(jobId, start!.job, 0, whole.streams);
  await ports.coordinator.commitPiece(jobId, 0, "lease-1", {
    unitCount: whole.units.length,
    streamCount: whole.streams,
    cost: whole.units.reduce((sum, u) => sum + u.cost, 0),
    mailboxes: mailboxes.length,
    workStreamSeconds: 0,
    workMailboxSeconds: 0,
    longestUnitSeconds: 0,
    lowerBoundSeconds: whole.lowerBoundSeconds,
    predictedMakespanSeconds: whole.predictedMakespanSeconds,
  });
  const deps = runnerDeps(ports);
  await Promise.all([0, 1].map((streamId) => runStreamTask({ jobId, streamId, seq: 0 }, deps)));
  expect(await store.getJob(jobId)).toMatchObject({ status: "finalizing" });
  // What a real job may end with: a failed unit (m5), a recorded error (m2: partial), a folder
  // left incomplete (m6: partial), a notice only (m3: still complete).
  const set = (index: number, expression: string, values: Record<string, unknown>) =>
    aws.clients.ddb.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: jobPk(jobId), sk: unitSk(index) },
        UpdateExpression: expression,
        ExpressionAttributeValues: values,
        ExpressionAttributeNames: { "#s": "status" },
        ConditionExpression: "attribute_exists(#s)",
      }),
    );
  await set(7, "SET #s = :s", { ":s": "failed" });
  await set(5, "SET errors = :e, #s = #s", {
    ":e": [{ subject: "message x", name: "ItemTooLargeError", message: "too large" }],
  });
  await set(8, "SET incompleteFolders = :f, #s = #s", { ":f": ["a"] });
  await set(4, "SET errors = :e, #s = #s", {
    ":e": [{ subject: "folder b", name: "SyncStateLostError", message: "resynced", notice: true }],
  });
  return { store, ports, jobId, tableName };
}

const endedAt = "2026-11-29T06:30:00.000Z";

/** The report a one-step finalization builds from every record at once: what the pieces must give. */
async function wholeReport(
  ports: ReturnType<typeof createBackupStatePorts>,
  jobId: string,
): Promise<JobReport> {
  return buildJobReport({ ...(await ports.finalize.reportInput(jobId)), endedAt });
}

describe("finalization's report in pieces (DynamoDB Local, archive in memory)", () => {
  it("gives the same report and manifest as the one-step report, though it crashes mid-piece and hands on between pieces; report.json appears only at the end", async () => {
    const { store, ports, jobId } = await finalizingJob("2026-11-29T06:00:00Z");
    const expected = await wholeReport(ports, jobId);
    expect(expected.status).toBe("failed");
    expect(expected.mailboxes.map((m) => m.status)).toEqual([
      "complete",
      "complete",
      "partial",
      "complete",
      "complete",
      "failed",
      "partial",
    ]);

    const objects = new MemoryObjectStore();
    const archive = createArchive(objects) as unknown as FinalizeArchivePort;
    // Every fifth write of a page fails once: the invocation dies mid-piece (some of its pages
    // written, no checkpoint), and the task comes back.
    let writes = 0;
    const crashing: FinalizeArchivePort = {
      ...archive,
      writeReportPages: async (...args) => {
        if (++writes % 5 === 0) throw new Error("invocation killed");
        return archive.writeReportPages(...args);
      },
      writeManifestPages: async (...args) => {
        if (++writes % 5 === 0) throw new Error("invocation killed");
        return archive.writeManifestPages(...args);
      },
    };
    const pieces: FinalizePiece[] = [];
    const stages: string[] = [];
    let crashes = 0;
    let handOns = 0;
    let outcome: Awaited<ReturnType<typeof finalizeJob>> | undefined;
    for (let invocation = 0; invocation < 60 && !outcome?.done; invocation++) {
      // Two pieces per invocation: the deadline comes before the third (the first reading is
      // the time the invocation has when finalization begins).
      let calls = 0;
      try {
        outcome = await finalizeJob(jobId, {
          state: ports.finalize,
          archive: crashing,
          now: () => new Date(endedAt),
          reportPieceSize: 2,
          stepSize: 4,
          remainingMs: () => (calls++ <= 2 ? 1e9 : 0),
          deadlineMarginMs: 100,
          handOn: async () => void handOns++,
          onPiece: (p) => void pieces.push(p),
        });
      } catch (error) {
        expect((error as Error).message).toBe("invocation killed");
        crashes++;
      }
      const progress = (await store.getJob(jobId))?.finalizeProgress;
      if (progress)
        stages.push(progress.stage === "report" ? `report ${progress.report.records}` : progress.stage);
      // While the report is in pieces, no report.json and no manifest.json: nothing looks finished.
      if (progress?.stage === "report") {
        expect(await readReportSummary(objects, jobId)).toBeUndefined();
        expect(await readManifest(objects, jobId)).toBeUndefined();
      }
    }
    expect(outcome?.done).toBe(true);
    expect(crashes).toBeGreaterThan(2);
    expect(handOns).toBeGreaterThan(2);
    expect(new Set(stages)).toEqual(
      new Set(["report units", "report mailboxes", "report skipped", "sync", "mailboxes"]),
    );
    // Ten units, seven mailboxes, five skipped, two a piece.
    const count = (kind: FinalizePiece["kind"]) =>
      pieces.filter((p) => p.kind === kind && p.records > 0).length;
    expect(count("report-units")).toBeGreaterThanOrEqual(5);
    expect(count("report-mailboxes")).toBeGreaterThanOrEqual(4);
    expect(pieces.every((p) => p.records <= 4)).toBe(true);

    const written = await readReport<JobReport>(objects, jobId);
    expect(written?.version).toBe(2);
    expect(written?.pages).toEqual({
      "plan.units": { parts: 5, entries: 10 },
      units: { parts: 5, entries: 10 },
      mailboxes: { parts: 4, entries: 7 },
      skippedMailboxes: { parts: 3, entries: 5 },
    });
    expect(written?.report).toEqual(expected);
    // The outcome carries report.json as stored: the totals, the lists in pages.
    expect(outcome?.done && outcome.report.totals).toEqual(expected.totals);

    const manifest = await readManifest(objects, jobId);
    expect(manifest).toMatchObject({
      version: 2,
      status: "failed",
      endedAt,
      mailboxPages: { parts: 4, entries: 7 },
    });
    const listed = await manifestMailboxes(objects, manifest!);
    expect([...listed.values()]).toEqual(manifestFrom(expected).mailboxes);

    expect(await store.getJob(jobId)).toMatchObject({ status: "failed", endedAt });
    for (const id of ids.filter((m) => !["m2", "m5", "m6"].includes(m))) {
      expect((await store.getMailbox(id))?.lastSuccessfulJob).toBe(jobId);
    }
  });

  it("keeps a small job's report in one step, lists inline, as before", async () => {
    const { ports, jobId } = await finalizingJob("2026-11-29T07:00:00Z");
    const expected = await wholeReport(ports, jobId);
    const objects = new MemoryObjectStore();
    const pieces: FinalizePiece[] = [];
    const outcome = await finalizeJob(jobId, {
      state: ports.finalize,
      archive: createArchive(objects) as unknown as FinalizeArchivePort,
      now: () => new Date(endedAt),
      onPiece: (p) => void pieces.push(p),
    });
    expect(outcome).toEqual({ done: true, report: expected });
    expect(pieces.filter((p) => p.kind.startsWith("report")).map((p) => [p.kind, p.records])).toEqual([
      ["report", 10 + 7 + 5],
    ]);
    const summary = await readReportSummary<JobReport>(objects, jobId);
    expect(summary?.pages).toEqual({});
    expect(summary?.report.units).toHaveLength(10);
    expect((await readManifest(objects, jobId))?.version).toBe(1);
  });

  it("reads a job planned by older code (mailbox records without their units) whole, whatever the piece size", async () => {
    const { ports, jobId, tableName } = await finalizingJob("2026-11-29T08:00:00Z");
    await aws.clients.ddb.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: jobPk(jobId), sk: "META" },
        UpdateExpression: "REMOVE mailboxUnitsListed",
      }),
    );
    const expected = await wholeReport(ports, jobId);
    const objects = new MemoryObjectStore();
    const archive = createArchive(objects) as unknown as FinalizeArchivePort;
    const outcome = await finalizeJob(jobId, {
      state: ports.finalize,
      archive: {
        ...archive,
        writeReportPages: async () => {
          throw new Error("expected an older job's report in one step, found a piece");
        },
      },
      now: () => new Date(endedAt),
      reportPieceSize: 2,
    });
    expect(outcome).toEqual({ done: true, report: expected });
    expect((await readReport<JobReport>(objects, jobId))?.report).toEqual(expected);
  });

  it("does steps in an invocation shorter than the configured margin (30 s against 60 s), keeping a quarter of it", async () => {
    const { store, ports, jobId } = await finalizingJob("2026-11-29T09:00:00Z");
    const objects = new MemoryObjectStore();
    // Each reading of the clock finds 4 s gone: 30, 26, 22, … s left.
    let calls = 0;
    const pieces: FinalizePiece[] = [];
    const handedOn: string[] = [];
    const outcome = await finalizeJob(jobId, {
      state: ports.finalize,
      archive: createArchive(objects) as unknown as FinalizeArchivePort,
      reportPieceSize: 2,
      remainingMs: () => 30_000 - 4_000 * calls++,
      deadlineMarginMs: 60_000,
      handOn: async (id) => void handedOn.push(id),
      onPiece: (p) => void pieces.push(p),
    });
    expect(outcome.done).toBe(false);
    expect(handedOn).toEqual([jobId]);
    // Margin 7.5 s: pieces at 26, 22, 18, 14 and 10 s left; none at 6 s.
    expect(pieces.filter((p) => p.kind !== "report")).toHaveLength(5);
    const progress = (await store.getJob(jobId))?.finalizeProgress;
    expect(progress?.stage === "report" && progress.report.pieces).toBe(5);
  });
});
