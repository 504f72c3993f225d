/**
 * Staged sync states as sets (one item per unit write, `SYNCSET#`), and the per-folder items
 * (`SYNC#`) that versions before 2026-12-07 wrote and a job in flight across the upgrade still
 * holds: both are promoted, in pages, each folder once.
 */
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { commitOnePiece } from "../../../lib/dev/local/one-piece-job.js";
import type { StreamTask } from "../../../lib/queue/stream-task.js";
import { jobIdForTick, type StagedSyncState, StateStore } from "../../../lib/state/index.js";
import { jobPk, STAGED_SET_PREFIX, STAGED_SYNC_PREFIX, stagedSyncSk } from "../../../lib/state/keys.js";
import { MAX_STATES_PER_STAGED_SET } from "../../../lib/state/sync-states.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

let tick = 0;
/** A running job of `units` units of `folders` folders each (mailbox `mbx-<i>`), one stream per unit. */
async function runningJob(units: number, folders: number): Promise<{ store: StateStore; jobId: string }> {
  const store = new StateStore({ ddb: aws.clients.ddb, tableName: await aws.createTable() });
  const jobId = jobIdForTick(new Date(Date.UTC(2026, 11, 7, 12, 0, tick++)), "schedule");
  const { job } = await store.createJob({ jobId, trigger: "schedule" });
  const planned = Array.from({ length: units }, (_, i) => ({
    mailboxId: `mbx-${i}`,
    folderIds: Array.from({ length: folders }, (_, f) => folderId(i, f)),
    cost: 100 - i,
    estimatedSeconds: 3,
    concurrency: 4,
  }));
  await commitOnePiece(store, job, planned, units, 3);
  return { store, jobId };
}

/** Folder ids and links as long as Graph's. */
const folderId = (unit: number, f: number) => `AAMkAD${String(unit).padStart(4, "0")}${"x".repeat(130)}${f}`;
const state = (unit: number, f: number, link = "a", via?: "items"): StagedSyncState => ({
  mailboxId: `mbx-${unit}`,
  folderId: folderId(unit, f),
  deltaLink: `https://graph.microsoft.com/v1.0/me/mailFolders/${f}/messages/delta?$deltatoken=${link}${"t".repeat(200)}`,
  ...(via ? { via } : {}),
  ...(f === 0 ? { path: "Inbox/Ünïcode" } : {}),
});

/** A staged state as versions before 2026-12-07 wrote it: one item per folder. */
async function stageAsOlderVersions(store: StateStore, jobId: string, s: StagedSyncState): Promise<void> {
  await aws.clients.ddb.send(
    new PutCommand({
      TableName: store.table.name,
      Item: {
        pk: jobPk(jobId),
        sk: stagedSyncSk(s.mailboxId, s.folderId, s.via),
        expiresAt: 1_900_000_000,
        ...s,
        stagedAt: "2026-12-07T11:00:00.000Z",
      },
    }),
  );
}

const keysUnder = async (store: StateStore, jobId: string, prefix: string) =>
  (await store.table.query(jobPk(jobId), prefix)).map((i) => i.sk as string);

async function claimed(
  store: StateStore,
  jobId: string,
  streamId: number,
): Promise<{ task: StreamTask; index: number }> {
  const task: StreamTask = { jobId, streamId, seq: 0 };
  const unit = await store.claimUnit(task);
  if (!unit || unit === "later") throw new Error("expected a unit to claim");
  return { task, index: unit.index };
}

describe("staged sync states as sets", () => {
  it("a unit's end stages its 23 folders as one item, read back and promoted whole; a repeat writes nothing more", async () => {
    const { store, jobId } = await runningJob(1, 23);
    const { task, index } = await claimed(store, jobId, 0);
    const staged = Array.from({ length: 23 }, (_, f) =>
      state(index, f, "u", f % 5 === 1 ? "items" : undefined),
    );
    const transact = vi.spyOn(store.table, "transact");
    const end = {
      status: "done" as const,
      last: { checkpoint: { folderIndex: 23, page: 23 }, counters: { items: 23 }, staged },
    };
    await store.completeUnit(task, index, end);
    // The unit, the stream and one staged set: 3 items where the per-folder layout sent 26 (and,
    // before 2026-12-07's session 14, the job record was a fourth).
    expect(transact.mock.calls.map((c) => c[0].length)).toEqual([3]);
    transact.mockRestore();
    await store.completeUnit(task, index, end); // a repeat (refused: the unit is done) changes nothing

    expect(await keysUnder(store, jobId, STAGED_SYNC_PREFIX)).toEqual([]);
    expect(await keysUnder(store, jobId, STAGED_SET_PREFIX)).toHaveLength(1);
    const read = await store.stagedSyncStates(jobId);
    expect(sorted(read)).toEqual(sorted(staged));

    expect(await store.promoteSyncStates(jobId)).toEqual({ promoted: 23, superseded: 0 });
    const messages = await store.committedSyncStates("mbx-0");
    const items = await store.committedSyncStates("mbx-0", "items");
    expect(messages.size + items.size).toBe(23);
    expect(items.get(folderId(0, 1))).toMatchObject({ via: "items", lastJob: jobId });
    expect(messages.get(folderId(0, 0))).toMatchObject({
      deltaLink: staged[0]!.deltaLink,
      path: "Inbox/Ünïcode",
      lastJob: jobId,
    });
  });

  it("checkpoints stage the folders each finishes; a write of more than a set's worth is cut into sets; writing the same folders again replaces their set", async () => {
    const { store, jobId } = await runningJob(1, 250);
    const { task, index } = await claimed(store, jobId, 0);
    const first = Array.from({ length: 3 }, (_, f) => state(index, f, "old"));
    await store.checkpoint(task, index, { folderIndex: 3, page: 1 }, { items: 3 }, first);
    // The same folders staged again by the same job (their newer links) replace the set.
    await store.checkpoint(
      task,
      index,
      { folderIndex: 3, page: 2 },
      { items: 0 },
      first.map((_, f) => state(index, f, "new")),
    );
    const many = Array.from({ length: 247 }, (_, k) => state(index, k + 3, "b"));
    await store.checkpoint(task, index, { folderIndex: 250, page: 3 }, { items: 247 }, many);

    const sets = await store.table.query(jobPk(jobId), STAGED_SET_PREFIX);
    expect(sets.map((s) => (s.states as unknown[]).length).sort((a, b) => a - b)).toEqual([3, 47, 100, 100]);
    expect(sets.every((s) => (s.states as unknown[]).length <= MAX_STATES_PER_STAGED_SET)).toBe(true);
    const read = await store.stagedSyncStates(jobId);
    expect(read).toHaveLength(250);
    expect(read.filter((s) => s.deltaLink.includes("deltatoken=old"))).toEqual([]);

    expect(await store.promoteSyncStates(jobId)).toEqual({ promoted: 250, superseded: 0 });
    const committed = await store.committedSyncStates("mbx-0");
    expect(committed.size).toBe(250);
    expect(committed.get(folderId(0, 2))?.deltaLink).toContain("deltatoken=new");
  });

  it("long links cut a write into sets of at most 100 KB of strings, each far under DynamoDB's 400 KB item", async () => {
    const { store, jobId } = await runningJob(1, 60);
    const { task, index } = await claimed(store, jobId, 0);
    // 60 links of 2,500 characters: 150 KB, one set's count but two sets' bytes.
    const long = Array.from({ length: 60 }, (_, f) => ({
      ...state(index, f),
      deltaLink: `${f}:${"L".repeat(2500)}`,
    }));
    await store.checkpoint(task, index, { folderIndex: 60, page: 1 }, { items: 60 }, long);
    const sets = await store.table.query(jobPk(jobId), STAGED_SET_PREFIX);
    expect(sets).toHaveLength(2);
    for (const set of sets) expect(JSON.stringify(set.states).length).toBeLessThan(110_000);
    expect(sorted(await store.stagedSyncStates(jobId))).toEqual(sorted(long));
  });

  it("a job in flight across the upgrade: its older per-folder items and its sets are promoted in pages, each folder once, the next page going on from the last one's key", async () => {
    const { store, jobId } = await runningJob(3, 10);
    // Units 0 and 1 ended under the older version (10 per-folder items each, and unit 1's
    // folder 9 an item link too); unit 2 began under it (its folder 3 staged) and ends under
    // this one, in two checkpoints (folders 0–3, then 4–9): folder 3 staged in both layouts.
    for (const unit of [0, 1])
      for (let f = 0; f < 10; f++) await stageAsOlderVersions(store, jobId, state(unit, f, "old"));
    await stageAsOlderVersions(store, jobId, state(1, 9, "old", "items"));
    await stageAsOlderVersions(store, jobId, state(2, 3, "old"));
    const held = [
      await claimed(store, jobId, 0),
      await claimed(store, jobId, 1),
      await claimed(store, jobId, 2),
    ];
    const { task, index } = held[2]!;
    expect(index).toBe(2);
    await store.checkpoint(
      task,
      index,
      { folderIndex: 4, page: 1 },
      { items: 4 },
      [0, 1, 2, 3].map((f) => state(2, f, "new")),
    );
    await store.checkpoint(
      task,
      index,
      { folderIndex: 10, page: 2 },
      { items: 6 },
      [4, 5, 6, 7, 8, 9].map((f) => state(2, f, "new")),
    );
    expect(await store.stagedSyncStates(jobId)).toHaveLength(22 + 10);

    // Pages of 8 states: the 22 older items take 8, 8 and 6 (the first set, 4, would make 10:
    // a page takes whole sets, and more than its states only when it has none), then the sets:
    // 4 (the second, 6, would make 10), 6; folder 3's set comes after its older item.
    const pages: Array<{ records: number; last?: string }> = [];
    let after: string | undefined;
    do {
      const page = await store.promoteSyncStatesPage(jobId, after, 8);
      pages.push({ records: page.records, ...(page.last !== undefined ? { last: page.last } : {}) });
      after = page.last;
      expect(pages.length).toBeLessThan(20);
    } while (after !== undefined);
    expect(pages.map((p) => p.last?.slice(0, p.last.indexOf("#") + 1))).toEqual([
      STAGED_SYNC_PREFIX,
      STAGED_SYNC_PREFIX,
      STAGED_SET_PREFIX,
      STAGED_SET_PREFIX,
      undefined,
    ]);
    expect(pages[2]?.last).toBe(STAGED_SET_PREFIX); // the sets from their first
    expect(pages.map((p) => p.records)).toEqual([8, 8, 6, 4, 6]);

    for (const unit of [0, 1, 2]) {
      const committed = await store.committedSyncStates(`mbx-${unit}`);
      expect(committed.size).toBe(10);
      for (const s of committed.values()) expect(s.lastJob).toBe(jobId);
    }
    const mbx2 = await store.committedSyncStates("mbx-2");
    expect(mbx2.get(folderId(2, 3))?.deltaLink).toContain("deltatoken=new");
    expect(mbx2.get(folderId(2, 7))?.deltaLink).toContain("deltatoken=new");
    expect((await store.committedSyncStates("mbx-1")).get(folderId(1, 7))?.deltaLink).toContain(
      "deltatoken=old",
    );
    expect((await store.committedSyncStates("mbx-1", "items")).size).toBe(1);
    // Promoting again (a finalization repeated) writes the same states again.
    expect(await store.promoteSyncStates(jobId)).toEqual({ promoted: 31, superseded: 0 });
  });

  it("a folder in two sets of one page is promoted once, with the link staged last", async () => {
    let ms = Date.UTC(2026, 11, 7, 12, 30);
    const { store: plain, jobId } = await runningJob(1, 3);
    const store = new StateStore({
      ddb: aws.clients.ddb,
      tableName: plain.table.name,
      now: () => new Date(ms++),
    });
    const { task, index } = await claimed(store, jobId, 0);
    await store.checkpoint(task, index, { folderIndex: 1, page: 1 }, { items: 1 }, [state(0, 1, "first")]);
    await store.checkpoint(task, index, { folderIndex: 3, page: 2 }, { items: 2 }, [
      state(0, 1, "second"),
      state(0, 2, "b"),
    ]);
    expect(await keysUnder(store, jobId, STAGED_SET_PREFIX)).toHaveLength(2);
    expect(await store.promoteSyncStatesPage(jobId, undefined, 256)).toEqual({
      promoted: 2,
      superseded: 0,
      records: 2,
    });
    expect((await store.committedSyncStates("mbx-0")).get(folderId(0, 1))?.deltaLink).toContain(
      "deltatoken=second",
    );
  });

  it("a finalization checkpointed by the older version (after a per-folder key) goes on with the rest of them, then the sets", async () => {
    const { store, jobId } = await runningJob(2, 4);
    for (let f = 0; f < 4; f++) await stageAsOlderVersions(store, jobId, state(0, f, "old"));
    const held = [await claimed(store, jobId, 0), await claimed(store, jobId, 1)];
    await store.completeUnit(held[1]!.task, 1, {
      status: "done",
      last: {
        checkpoint: { folderIndex: 4, page: 4 },
        counters: {},
        staged: [0, 1, 2, 3].map((f) => state(1, f)),
      },
    });
    const older = (await keysUnder(store, jobId, STAGED_SYNC_PREFIX))[1]!; // where the older finalizer stopped
    const page = await store.promoteSyncStatesPage(jobId, older, 256);
    expect(page).toEqual({ promoted: 2 + 4, superseded: 0, records: 6 });
    expect((await store.committedSyncStates("mbx-0")).size).toBe(2);
    expect((await store.committedSyncStates("mbx-1")).size).toBe(4);
  });
});

function sorted(states: StagedSyncState[]): StagedSyncState[] {
  return [...states].sort((a, b) => (`${a.via ?? ""}${a.folderId}` < `${b.via ?? ""}${b.folderId}` ? -1 : 1));
}
