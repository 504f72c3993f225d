/**
 * Two index tasks at once (copies of a task, two jobs finalized close together): the build lease
 * in the state table lets one build while the other fails as busy (to be delivered again), so
 * exactly one manifest is written; the redelivered task then finds the index current. Against
 * DynamoDB Local and the S3 emulator. The first build waits (at its first write) until the second
 * task has asked for the lease, so the two overlap whatever the machine's speed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";
import type { ObjectStore } from "../../../lib/archive/store.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { searchArchive } from "../../../lib/catalog-index/search.js";
import {
  type IndexLease,
  indexAfterJob,
  SearchIndexBusyError,
} from "../../../lib/catalog-index/search-index/after-job.js";
import { StateStore } from "../../../lib/state/index.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";
import { CRITERIA, JOB2, writeFirstJob, writeSecondJob } from "../../support/search-archive.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

/** A store whose writes wait for `gate`, counting the index manifests written. */
function gated(store: ObjectStore, gate: Promise<void>) {
  const manifests: string[] = [];
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    await gate;
    if (/^index\/search\/job=/.test(key)) manifests.push(key);
    return put(key, body, opts);
  };
  return manifests;
}

describe("two index tasks at once", () => {
  it("build one at a time: the other is busy, the manifest is written once, and a redelivery finds it current", async () => {
    const store = new S3ObjectStore({ client: aws.clients.s3, bucket: await aws.createBucket() });
    await writeFirstJob(store);
    await writeSecondJob(store);
    const state = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });

    // Each task's lease request counted; the builds' writes wait until both asked.
    let asked = 0;
    let bothAsked: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      bothAsked = resolve;
    });
    const lease: IndexLease = {
      acquireIndexLease: async (owner, until) => {
        const taken = await state.acquireIndexLease(owner, until);
        if (++asked === 2) bothAsked();
        return taken;
      },
      releaseIndexLease: (owner) => state.releaseIndexLease(owner),
    };
    const manifests = gated(store, gate);
    const outcomes = await Promise.allSettled([
      indexAfterJob(store, { lease }),
      indexAfterJob(store, { lease }),
    ]);

    const built = outcomes.filter((o) => o.status === "fulfilled");
    const busy = outcomes.filter((o) => o.status === "rejected");
    expect(built).toHaveLength(1);
    expect(built[0]).toMatchObject({ value: { status: "built", jobId: JOB2 } });
    expect(busy).toHaveLength(1);
    expect((busy[0] as PromiseRejectedResult).reason).toBeInstanceOf(SearchIndexBusyError);
    expect(manifests).toHaveLength(1);

    // The busy task's redelivery: the lease was given back, and the index is current.
    expect(await indexAfterJob(store, { lease })).toEqual({ status: "current", jobId: JOB2 });
    expect(manifests).toHaveLength(1);
    const mailboxes = mailboxesOf(await requireJobs(store));
    for (const criteria of CRITERIA.slice(0, 4)) {
      const indexed = await searchArchive(store, mailboxes, criteria, { at: "latest" });
      const scanned = await searchArchive(store, mailboxes, criteria, { at: "latest", useIndex: false });
      expect(indexed.hits, JSON.stringify(criteria)).toEqual(scanned.hits);
    }
  });

  it("takes over a lease whose holder died once its time is past", async () => {
    const state = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
    expect(await state.acquireIndexLease("dead", Date.now() + 60_000)).toBe(true);
    expect(await state.acquireIndexLease("next", Date.now() + 60_000)).toBe(false);
    // Releasing someone else's lease does nothing.
    await state.releaseIndexLease("next");
    expect(await state.acquireIndexLease("next", Date.now() + 60_000)).toBe(false);
    const expired = new StateStore({
      ddb: aws.clients.ddb,
      tableName: state.table.name,
      now: () => new Date(Date.now() + 61_000),
    });
    expect(await expired.acquireIndexLease("next", Date.now() + 180_000)).toBe(true);
    await expired.releaseIndexLease("next");
    expect(await state.acquireIndexLease("third", Date.now() + 60_000)).toBe(true);
  });
});
