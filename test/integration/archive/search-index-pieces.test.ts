/**
 * The index task's build in pieces against the S3 emulator (fauxqs) and DynamoDB Local (the
 * build lease): each task does what its invocation's time allows, hands on at a checkpoint and
 * gives the lease back; a task that crashed is taken up by its redelivery from the checkpoint
 * (the lease freed by its holder, or past its time when the holder died); the index answers
 * every search exactly as one built in one go.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";
import type { ObjectStore } from "../../../lib/archive/store.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { type SearchResult, searchArchive } from "../../../lib/catalog-index/search.js";
import {
  type IndexAfterJobOutcome,
  type IndexLease,
  indexAfterJob,
  SearchIndexBusyError,
} from "../../../lib/catalog-index/search-index/after-job.js";
import { buildSearchIndex } from "../../../lib/catalog-index/search-index/build.js";
import { buildUnderWay } from "../../../lib/catalog-index/search-index/build-progress.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import { StateStore } from "../../../lib/state/index.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";
import { CRITERIA, item, JOB1, JOB2, writeJob } from "../../support/search-archive.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

const MAILBOXES = 9;

const all = Array.from({ length: MAILBOXES }, (_, m) => m);

/** Job 1: nine mailboxes of 10 to 18 items. */
async function writeFirst(store: ObjectStore): Promise<void> {
  const first = new Map(all.map((m) => [m, Array.from({ length: 10 + m }, (_, i) => item(m, i))]));
  await writeJob(store, JOB1, "2026-12-01T07:00:00.000Z", first, all);
}

/** Job 2: two mailboxes changed, one new. */
async function writeSecond(store: ObjectStore): Promise<void> {
  const changes = new Map([
    [2, [item(2, 1, 2), { kind: "removed" as const, messageId: "m2-item4", folderId: item(2, 4).folderId }]],
    [6, [item(6, 30, 2)]],
    [9, Array.from({ length: 8 }, (_, i) => item(9, i))],
  ]);
  await writeJob(store, JOB2, "2026-12-02T07:00:00.000Z", changes, [...all, 9]);
}

const answer = (r: SearchResult) => ({
  hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
  total: r.total,
});

async function answers(store: ObjectStore, at: string) {
  const mailboxes = mailboxesOf(await requireJobs(store));
  return Promise.all(
    CRITERIA.map(async (criteria) => {
      const indexed = await searchArchive(store, mailboxes, criteria, { at });
      if (!criteria.subjectWords?.some((w) => /\s/.test(w)))
        expect(indexed.index?.mailboxes).toBeGreaterThan(0);
      return answer(indexed);
    }),
  );
}

/** A store whose n-th put under a prefix fails once (the invocation dies there). */
function crashing(store: ObjectStore) {
  let failAt: { prefix: string; left: number } | undefined;
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    if (failAt && key.startsWith(failAt.prefix) && failAt.left-- === 0) {
      failAt = undefined;
      throw new Error(`crash before writing ${key}`);
    }
    return put(key, body, opts);
  };
  return (prefix: string, skip: number) => {
    failAt = { prefix, left: skip };
  };
}

describe("the index task in pieces, on S3 with the lease in DynamoDB", () => {
  it("hands on at checkpoints, survives crashes, and answers as a build in one go", async () => {
    const whole = new S3ObjectStore({ client: aws.clients.s3, bucket: await aws.createBucket() });
    await writeFirst(whole);
    await writeSecond(whole);
    await buildSearchIndex(whole, { at: JOB1 });
    await buildSearchIndex(whole);

    const store = new S3ObjectStore({ client: aws.clients.s3, bucket: await aws.createBucket() });
    await writeFirst(store);
    const crashAt = crashing(store);
    const state = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    const queue: string[] = [];
    // Every invocation nears its deadline once a piece of 2 mailboxes is done.
    let left = 0;
    const task = (lease: IndexLease = state) => {
      left = 60_000;
      return indexAfterJob(store, {
        lease,
        mailboxesPerPiece: 2,
        remainingMs: () => left,
        deadlineMarginMs: 1_000,
        onPiece: () => {
          left = 0;
        },
        handOn: async () => {
          queue.push("index");
        },
      });
    };

    // Job 1's build: a piece, handed on; then the invocation crashes writing its piece's record.
    expect(await task()).toMatchObject({ status: "continued", jobId: JOB1, mailboxesDone: 2 });
    expect(queue).toHaveLength(1);
    // Job 2 is finalized meanwhile: job 1's build, under way, goes on first.
    await writeSecond(store);
    crashAt("index/search/pieces/", 0);
    await expect(task()).rejects.toThrow(/crash before writing/);
    // Its holder gave the lease back on the way out: the redelivery goes on from the checkpoint.
    expect((await buildUnderWay(store))?.pieces).toBe(1);
    const outcomes: IndexAfterJobOutcome[] = [];
    do outcomes.push(await task());
    while (outcomes.at(-1)!.status === "continued");
    expect(outcomes.at(-1)).toMatchObject({
      status: "built",
      jobId: JOB1,
      build: { rebuilt: MAILBOXES, pieces: 5 },
    });
    // The build was as of job 1 while job 2 is finalized too: handed on, for job 2's build.
    expect(queue).toHaveLength(1 + outcomes.length);

    // Job 2's build; its invocation dies after its first piece without giving the lease back.
    expect(await task()).toMatchObject({ status: "continued", jobId: JOB2 });
    const dead = "a-controller-that-died";
    expect(await state.acquireIndexLease(dead, Date.now() + 60_000)).toBe(true);
    await expect(task()).rejects.toBeInstanceOf(SearchIndexBusyError);
    expect(await readIndexManifest(store, JOB2)).toBeUndefined();
    // The redelivery after the dead holder's time: it takes the lease and goes on.
    const later = new StateStore({
      ddb: aws.clients.ddb,
      tableName: state.table.name,
      now: () => new Date(Date.now() + 61_000),
    });
    let outcome = await task(later);
    while (outcome.status === "continued") outcome = await task();
    expect(outcome).toMatchObject({ status: "built", jobId: JOB2, build: { updated: 2, rebuilt: 1 } });
    expect(await task()).toEqual({ status: "current", jobId: JOB2 });
    // The lease is free again.
    expect(await state.acquireIndexLease("next", Date.now() + 1_000)).toBe(true);

    expect(await answers(store, JOB1)).toEqual(await answers(whole, JOB1));
    expect(await answers(store, JOB2)).toEqual(await answers(whole, JOB2));
    const mailboxes = mailboxesOf(await requireJobs(store));
    for (const criteria of CRITERIA) {
      const scanned = await searchArchive(store, mailboxes, criteria, { at: JOB2, useIndex: false });
      const indexed = await searchArchive(store, mailboxes, criteria, { at: JOB2 });
      expect(answer(indexed), JSON.stringify(criteria)).toEqual(answer(scanned));
    }
  }, 300_000);
});
