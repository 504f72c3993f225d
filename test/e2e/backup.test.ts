/**
 * Backups end to end against the simulator's ground truth: a full backup stores every message
 * (bytes, folder, properties), an incremental one fetches only what changed while every earlier
 * point in time stays readable, an incremental with nothing changed costs next to nothing, and
 * the job report says what happened. One stack keeps its archive in a local folder, the other in
 * the S3 emulator; both keep state in an in-memory DynamoDB Local.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listMailboxCatalog } from "../../lib/archive/catalog.js";
import { blobKey } from "../../lib/archive/keys.js";
import { readMailboxPackIndexes } from "../../lib/archive/packs.js";
import { mailboxViewAt } from "../../lib/archive/replay.js";
import type { ObjectStore } from "../../lib/archive/store.js";
import { recordingLogger } from "../../lib/dev/local/recording-logger.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { type GroundTruth, generateTenant, mutateTenant } from "../../lib/dev/sim/index.js";
import { verifyArchive } from "../../lib/verify/verify-blobs.js";
import { loadTestCa } from "../support/sim-ca.js";
import { archivedRecords, changedSince, truthRecords } from "./support.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 80_000 };

/** A mailbox's folders (`id path`, sorted) as the ground truth has them. */
function truthTree(truth: GroundTruth, userId: string): string[] {
  const mailbox = truth.mailboxes.find((m) => m.userId === userId)!;
  return mailbox.folders.map((f) => `${f.id} ${f.path}`).sort();
}

/** A mailbox's folders (`id path`, sorted) as the archive shows them at a job. */
async function archivedTree(store: ObjectStore, userId: string, at: string): Promise<string[]> {
  const view = await mailboxViewAt(store, userId, at, { strict: true });
  return view.folders
    .filter((f) => f.path !== undefined)
    .map((f) => `${f.folderId} ${f.path}`)
    .sort();
}
/** Above WAIT.timeoutMs, so a job that never closes fails with its own message. */
const TEST_TIMEOUT = 150_000;

describe("a local-folder archive: full, incremental, and an incremental with nothing changed", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  // Half as many accounts without a mailbox as mailboxes: the report must name them.
  const store = generateTenant({
    seed: 401,
    shape: "uniform",
    mailboxes: 4,
    totalMessages: 200,
    unlicensedFraction: 0.5,
    // Mail only: this file checks content mode mime (test/e2e/fidelity.test.ts the default).
    itemScale: 0,
  });
  let firstJob: string;
  let firstTruth: GroundTruth;
  let unchangedJob: string;
  let unchangedTruth: GroundTruth;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-backup-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 2,
      env: { MAILSTREAM_PAGE_SIZE: "25", MAILSTREAM_MAIL_CONTENT: "mime" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "a full backup holds every message with its bytes, folder and properties; the report says so",
    async () => {
      const { jobId, report } = await stack!.runJob(WAIT);
      firstJob = jobId;
      firstTruth = await store.groundTruth();
      const expected = truthRecords(firstTruth);
      const ids = Object.keys(expected);
      const total = Object.values(expected).reduce((n, m) => n + Object.keys(m).length, 0);
      expect(total).toBeGreaterThan(0);
      expect(await archivedRecords(stack!.app.archive.store, ids, jobId)).toEqual(expected);

      expect(report.jobId).toBe(jobId);
      expect(report.status).toBe("complete");
      expect(report.totals.mailboxes).toBe(ids.length);
      expect(report.totals.items).toBe(total);
      expect(report.totals.errors).toBe(0);
      expect(report.totals.bytes).toBe(
        firstTruth.mailboxes.reduce(
          (n, m) => n + m.folders.reduce((k, f) => k + f.messages.reduce((s, x) => s + x.size, 0), 0),
          0,
        ),
      );
      expect(report.mailboxes.map((m) => m.mailboxId).sort()).toEqual([...ids].sort());
      for (const m of report.mailboxes) {
        expect(m.status).toBe("complete");
        expect(m.items).toBe(Object.keys(expected[m.mailboxId]!).length);
      }
      // Accounts without a mailbox (unlicensed) are skipped, each with a reason.
      const unlicensed = store
        .listUsers()
        .filter((u) => u.mailbox === null)
        .map((u) => u.id)
        .sort();
      expect(unlicensed.length).toBeGreaterThan(0);
      expect(report.skippedMailboxes.map((s) => s.userId).sort()).toEqual(unlicensed);
      for (const s of report.skippedMailboxes) expect(s.reason.length).toBeGreaterThan(0);
      // The plan beside what happened.
      expect(report.plan.streams).toBe(2);
      expect(report.plan.predictedMakespanSeconds).toBeGreaterThan(0);
      expect(report.plan.lowerBoundSeconds).toBeGreaterThan(0);
      expect(report.plan.units.length).toBe(report.totals.units);
      expect(new Set(report.plan.units.map((u) => u.mailboxId))).toEqual(new Set(ids));
      for (const u of report.plan.units) {
        expect(u.folderIds.length).toBeGreaterThan(0);
        expect(u.concurrency).toBeGreaterThan(0);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "after a mutation, an incremental fetches only what changed; both points in time replay exactly",
    async () => {
      const { sim, app } = stack!;
      const summary = mutateTenant(store, { seed: 41, intensity: 0.15 });
      const truth = await store.groundTruth();
      const before = truthRecords(firstTruth);
      const now = truthRecords(truth);
      const changed = changedSince(before, now);
      expect(changed.length).toBeGreaterThan(0);
      sim.resetStats();

      const { jobId, report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      const ids = Object.keys(now);
      expect(await archivedRecords(app.archive.store, ids, jobId)).toEqual(now);
      expect(await archivedRecords(app.archive.store, ids, firstJob)).toEqual(before);

      // Every fetched message is a delta upsert: new, moved or with changed properties.
      const upperBound = summary.newMessages + summary.moves + summary.propertyChanges;
      expect(report.totals.items).toBeLessThanOrEqual(upperBound);
      expect(report.totals.items).toBeGreaterThanOrEqual(changed.length);
      // MIME bytes served: at least the new and changed messages, at most what the mutation touched.
      const sizeOf = new Map(
        truth.mailboxes.flatMap((m) =>
          m.folders.flatMap((f) => f.messages.map((x) => [x.id, x.size] as const)),
        ),
      );
      const changedBytes = changed.reduce((n, c) => n + sizeOf.get(c.id)!, 0);
      const served = sim.stats().graph.mimeBytesServed;
      expect(served).toBeGreaterThanOrEqual(changedBytes);
      // No more than the `upperBound` largest messages of the tenant now could weigh.
      const largestTouched = [...sizeOf.values()]
        .sort((a, b) => b - a)
        .slice(0, upperBound)
        .reduce((n, x) => n + x, 0);
      expect(served).toBeLessThanOrEqual(largestTouched);
      expect(report.totals.bytes).toBe(served);
    },
    TEST_TIMEOUT,
  );

  it(
    "an incremental with nothing changed fetches no MIME and costs about one request per folder",
    async () => {
      const { sim, app } = stack!;
      const truth = await store.groundTruth();
      sim.resetStats();
      const { jobId, report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      expect(report.totals.items).toBe(0);
      const stats = sim.stats();
      expect(stats.graph.mimeBytesServed).toBe(0);
      for (const mailbox of truth.mailboxes) {
        const folders = mailbox.folders.length;
        // Graph lists a folder tree level by level: one listing per folder that has subfolders.
        const parents = mailbox.folders.filter(
          (f) => store.listChildFolders(mailbox.userId, f.id).length > 0,
        ).length;
        const requests = stats.mailboxes[mailbox.userId]?.requests ?? 0;
        expect(requests).toBeGreaterThanOrEqual(
          folders - mailbox.folders.filter((f) => f.isSearchFolder).length,
        );
        // One delta round per folder, the tree walk, the mailbox probe and the root listing.
        expect(requests).toBeLessThanOrEqual(folders + parents + 2);
      }
      const now = truthRecords(truth);
      expect(await archivedRecords(app.archive.store, Object.keys(now), jobId)).toEqual(now);
      // Nothing changed, nothing written to the catalog: no part and no folder tree of this job in
      // any mailbox; its point in time still shows every folder at its path.
      for (const mailbox of truth.mailboxes) {
        const catalog = await listMailboxCatalog(app.archive.store, mailbox.userId);
        const job = catalog.find((j) => j.jobId === jobId);
        expect(job?.parts ?? []).toEqual([]);
        expect(job?.foldersKey).toBeUndefined();
        expect(await archivedTree(app.archive.store, mailbox.userId, jobId)).toEqual(
          truthTree(truth, mailbox.userId),
        );
      }
      unchangedJob = jobId;
      unchangedTruth = truth;
    },
    TEST_TIMEOUT,
  );

  it(
    "changes after a job that changed nothing are found from the sync states it kept; every point in time still reads back",
    async () => {
      const { app } = stack!;
      const archive = app.archive.store;
      const summary = mutateTenant(store, { seed: 77, intensity: 0.1 });
      const truth = await store.groundTruth();
      const now = truthRecords(truth);
      const { jobId, report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      expect(report.totals.items).toBeGreaterThan(0);
      // A mailbox whose folder tree changed (a new or renamed folder) has a tree of this job; the
      // others keep the one written before, and every point in time shows each folder's path.
      expect(summary.newFolders + summary.renamedFolders).toBeGreaterThan(0);
      let changedTrees = 0;
      for (const mailbox of truth.mailboxes) {
        const changed =
          JSON.stringify(truthTree(truth, mailbox.userId)) !==
          JSON.stringify(truthTree(unchangedTruth, mailbox.userId));
        if (changed) changedTrees++;
        const job = (await listMailboxCatalog(archive, mailbox.userId)).find((j) => j.jobId === jobId);
        expect(job?.foldersKey !== undefined).toBe(changed);
        expect(await archivedTree(archive, mailbox.userId, jobId)).toEqual(truthTree(truth, mailbox.userId));
        expect(await archivedTree(archive, mailbox.userId, unchangedJob)).toEqual(
          truthTree(unchangedTruth, mailbox.userId),
        );
      }
      expect(changedTrees).toBeGreaterThan(0);
      expect(changedTrees).toBeLessThan(truth.mailboxes.length);
      expect(await archivedRecords(archive, Object.keys(now), jobId)).toEqual(now);
      const then = truthRecords(unchangedTruth);
      expect(await archivedRecords(archive, Object.keys(then), unchangedJob)).toEqual(then);
      const first = truthRecords(firstTruth);
      expect(await archivedRecords(archive, Object.keys(first), firstJob)).toEqual(first);
      const verified = await verifyArchive(archive);
      expect(verified.problems).toEqual([]);
      expect(verified.catalogErrors).toEqual([]);
      expect(verified.countProblems).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});

describe("an S3 archive (the S3 emulator)", () => {
  let stack: LocalStack | undefined;
  const store = generateTenant({
    seed: 402,
    shape: "uniform",
    mailboxes: 3,
    totalMessages: 120,
    itemScale: 0,
  });

  beforeAll(async () => {
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "s3", bucket: "mailstream-e2e-backup" },
      streams: 2,
      env: { MAILSTREAM_MAIL_CONTENT: "mime" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(
    "a full backup and an incremental equal the ground truth at each point in time",
    async () => {
      const { jobId: first, report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      const before = truthRecords(await store.groundTruth());
      const ids = Object.keys(before);
      const archive = stack!.app.archive.store;
      expect(await archivedRecords(archive, ids, first)).toEqual(before);

      mutateTenant(store, { seed: 42, intensity: 0.15 });
      const now = truthRecords(await store.groundTruth());
      const { jobId: second, report: next } = await stack!.runJob(WAIT);
      expect(next.status).toBe("complete");
      expect(await archivedRecords(archive, ids, second)).toEqual(now);
      expect(await archivedRecords(archive, ids, first)).toEqual(before);
    },
    TEST_TIMEOUT,
  );

  it(
    "small messages live in packs, each body once across jobs and mailboxes, read back byte for byte",
    async () => {
      const truth = await store.groundTruth();
      const [from, ...others] = truth.mailboxes;
      // The same messages delivered to every other mailbox: the archive must not store them again.
      const copies = from!.folders
        .filter((f) => !f.isSearchFolder)
        .flatMap((f) => f.messages)
        .slice(0, 3);
      for (const mailbox of others) {
        const inbox = store.getFolder(mailbox.userId, "inbox")!;
        for (const m of copies) {
          const {
            id: _id,
            changeKey: _ck,
            parentFolderId: _p,
            size: _s,
            ...fields
          } = store.getMessage(from!.userId, m.id)!;
          store.addMessage(mailbox.userId, inbox.id, fields);
        }
      }
      const { jobId, report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      const now = truthRecords(await store.groundTruth());
      const archive = stack!.app.archive.store;
      expect(await archivedRecords(archive, Object.keys(now), jobId)).toEqual(now);

      // Every small body is in a pack, named by its catalog line; each (kind, sha256) lies in
      // exactly one place in the whole archive, whatever the jobs and mailboxes that met it.
      const places = new Map<string, number>();
      let packed = 0;
      let compressed = 0;
      for (const mailboxId of Object.keys(now)) {
        for (const e of (await readMailboxPackIndexes(archive, mailboxId)).entries)
          places.set(`${e.kind}:${e.sha256}`, (places.get(`${e.kind}:${e.sha256}`) ?? 0) + 1);
        const view = await mailboxViewAt(archive, mailboxId, jobId, { strict: true });
        for (const m of view.folders.flatMap((f) => f.messages)) {
          // Packed when its stored form is below the threshold: every body under 128 KiB, and a
          // larger one that compresses below it (docs/archive-format.md "Packs").
          if (m.size < 128 * 1024) expect(m.pack).toBeDefined();
          if (m.pack) expect(m.pack.length).toBeLessThan(128 * 1024);
          else
            expect(
              (await archive.head(`${blobKey(m.sha256, "mime", m.encoding)}`))?.size,
            ).toBeGreaterThanOrEqual(128 * 1024);
          if (m.pack) packed++;
          // S3's default: MIME text stored gzip-compressed, its pack range the compressed bytes.
          if (m.pack && m.encoding === "gzip") {
            compressed++;
            expect(m.pack.length).toBeLessThan(m.size * 0.9);
          }
        }
      }
      expect(packed).toBeGreaterThan(100);
      expect(compressed).toBeGreaterThan(packed / 2);
      expect([...places.values()].every((n) => n === 1)).toBe(true);

      // verify reads every packed body (a ranged GET each) and finds a damaged one.
      const clean = await verifyArchive(archive);
      expect(clean.problems).toEqual([]);
      expect(clean.blobsChecked).toBeGreaterThan(100);
      const someone = Object.keys(now)[0]!;
      const [index] = (await readMailboxPackIndexes(archive, someone)).entries;
      const pack = await archive.getBytes(index!.pack);
      pack[index!.offset] = pack[index!.offset]! ^ 0xff;
      await archive.put(index!.pack, pack);
      const damaged = await verifyArchive(archive);
      expect(damaged.problems.map((p) => [p.sha256, p.kind])).toContainEqual([index!.sha256, "damaged"]);
    },
    TEST_TIMEOUT,
  );
});

describe("an S3 archive, one controller process meeting more mailboxes than it keeps pack indexes of", () => {
  let stack: LocalStack | undefined;
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  // 30 mailboxes on 8 streams in this process (as the local runtime runs them), read as export
  // streams, pages of 10 items: a unit's pages wait for export batches, bodies go into a pack that
  // an earlier commit writes, and other units' mailboxes come in before their parts are written
  // (on main before session 14's fix: PackWriteError pauses, the pages fetched again).
  const store = generateTenant({
    seed: 414,
    shape: "uniform",
    mailboxes: 30,
    totalMessages: 4_000,
    itemScale: 0,
  });

  beforeAll(async () => {
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "s3", bucket: "mailstream-e2e-many-mailboxes" },
      streams: 8,
      logger: recordingLogger((event, fields = {}) => events.push({ event, fields })),
      env: { MAILSTREAM_MAIL_CONTENT: "fidelity", MAILSTREAM_PAGE_SIZE: "10" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(
    "backs every mailbox up with packs and no unit pauses on a body it packed itself",
    async () => {
      const { report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");
      // Every catalog line names bytes that are there, each body's hash as named.
      const verified = await verifyArchive(stack!.app.archive.store);
      expect(verified.problems).toEqual([]);
      expect(verified.catalogErrors).toEqual([]);
      const paused = events.filter((e) => e.event === "unit.paused").map((e) => e.fields.reason);
      expect(paused).toEqual([]);
      expect(events.filter((e) => e.event === "unit.end")).not.toHaveLength(0);
    },
    TEST_TIMEOUT,
  );
});
