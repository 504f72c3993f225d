/**
 * The search index built in pieces (build.ts `buildSearchIndexInPieces`, build-progress.ts): a
 * piece per call when the deadline is near, the manifest only after the last piece, a crash
 * losing at most the piece in flight, and the index answering exactly as one built in one go.
 */
import { describe, expect, it } from "vitest";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import type { ObjectStore } from "../../../lib/archive/store.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { type SearchResult, searchArchive } from "../../../lib/catalog-index/search.js";
import { indexAfterJob } from "../../../lib/catalog-index/search-index/after-job.js";
import {
  type BuildIndexResult,
  buildSearchIndex,
  buildSearchIndexInPieces,
  type IndexPieceFigures,
} from "../../../lib/catalog-index/search-index/build.js";
import { archivedProgress, buildUnderWay } from "../../../lib/catalog-index/search-index/build-progress.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import { CRITERIA, item, JOB1, JOB2, writeJob } from "../../support/search-archive.js";

const MAILBOXES = 10;
const ITEMS = 12;

/** Job 1: ten mailboxes of twelve items; job 2: three of them changed, two new, one gone. */
async function writeArchive(store: ObjectStore, second: boolean): Promise<void> {
  const all = Array.from({ length: MAILBOXES }, (_, m) => m);
  const first = new Map(all.map((m) => [m, Array.from({ length: ITEMS }, (_, i) => item(m, i))]));
  await writeJob(store, JOB1, "2026-12-01T07:00:00.000Z", first, all);
  if (!second) return;
  const changes = new Map([
    [1, [item(1, 3, 2), { kind: "removed" as const, messageId: "m1-item5", folderId: item(1, 5).folderId }]],
    [4, [item(4, ITEMS + 1, 2)]],
    [7, [item(7, 0, 2), item(7, 1, 2)]],
    ...[10, 11].map((m) => [m, Array.from({ length: ITEMS }, (_, i) => item(m, i))] as const),
  ]);
  await writeJob(store, JOB2, "2026-12-02T07:00:00.000Z", changes, [...all.filter((m) => m !== 9), 10, 11]);
}

const answer = (r: SearchResult) => ({
  hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
  total: r.total,
});

/** Every filter at the job: the index's answer (it must be used) equal to the scan's. */
async function expectIndexAnswers(store: ObjectStore, at: string): Promise<void> {
  const mailboxes = mailboxesOf(await requireJobs(store));
  for (const criteria of CRITERIA) {
    const indexed = await searchArchive(store, mailboxes, criteria, { at });
    const scanned = await searchArchive(store, mailboxes, criteria, { at, useIndex: false });
    if (!criteria.subjectWords?.some((w) => /\s/.test(w))) expect(indexed.index).toBeDefined();
    expect(answer(indexed), `${at} ${JSON.stringify(criteria)}`).toEqual(answer(scanned));
  }
}

/** The answers of the index at the job, for comparing two builds. */
async function indexAnswers(store: ObjectStore, at: string) {
  const mailboxes = mailboxesOf(await requireJobs(store));
  return Promise.all(CRITERIA.map(async (c) => answer(await searchArchive(store, mailboxes, c, { at }))));
}

/** Keys put, and a way to fail the n-th put whose key matches (a crash at that write). */
function recording(store: MemoryObjectStore) {
  const puts: string[] = [];
  let failAt: { pattern: RegExp; left: number } | undefined;
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    if (failAt?.pattern.test(key) && failAt.left-- === 0) {
      failAt = undefined;
      throw new Error(`crash before writing ${key}`);
    }
    puts.push(key);
    return put(key, body, opts);
  };
  return { puts, failOn: (pattern: RegExp, skip = 0) => (failAt = { pattern, left: skip }) };
}

/**
 * Options whose invocation nears its deadline as each piece ends (the piece's callback spends
 * the time left), and that start each call with time again: one piece per call.
 */
function onePieceAtATime(onPiece?: (f: IndexPieceFigures) => void) {
  let left = 0;
  return {
    mailboxesPerPiece: 3,
    deadlineMarginMs: 1_000,
    remainingMs: () => left,
    onPiece: (f: IndexPieceFigures) => {
      left = 0;
      onPiece?.(f);
    },
    /** A new invocation: its time restored. */
    fresh() {
      left = 60_000;
      return this;
    },
  };
}

describe("a search index build in pieces", () => {
  it("does a piece per call near the deadline, writes the manifest after the last, and answers as a build in one go", async () => {
    const whole = new MemoryObjectStore();
    await writeArchive(whole, false);
    const reference = await buildSearchIndex(whole);

    const store = new MemoryObjectStore();
    await writeArchive(store, false);
    const figures: IndexPieceFigures[] = [];
    const clock = onePieceAtATime((f) => figures.push(f));
    const opts = () => ({ ...clock.fresh(), progress: archivedProgress(store) });
    const done: number[] = [];
    let result: BuildIndexResult | undefined;
    for (let call = 0; call < 10 && !result; call++) {
      const outcome = await buildSearchIndexInPieces(store, opts());
      if (outcome.done) result = outcome.result;
      else {
        done.push(outcome.mailboxesDone);
        // No manifest until every piece is done: the search scans meanwhile.
        expect(await readIndexManifest(store, JOB1)).toBeUndefined();
        expect((await buildUnderWay(store))?.pieces).toBe(done.length);
      }
    }
    expect(done).toEqual([3, 6, 9]);
    expect(figures.map((f) => f.mailboxes)).toEqual([3, 3, 3, 1]);
    expect(figures.map((f) => f.rows)).toEqual([36, 36, 36, 12]);
    expect(result).toMatchObject({
      rebuilt: MAILBOXES,
      reused: 0,
      pieces: 4,
      segmentsWritten: 4,
      rows: reference.rows,
    });
    expect(await buildUnderWay(store)).toBeUndefined();
    await expectIndexAnswers(store, JOB1);
    expect(await indexAnswers(store, JOB1)).toEqual(await indexAnswers(whole, JOB1));
  });

  it("builds upon the previous index in pieces, which searches at its job keep using meanwhile", async () => {
    const whole = new MemoryObjectStore();
    await writeArchive(whole, true);
    await buildSearchIndex(whole, { at: JOB1 });
    const reference = await buildSearchIndex(whole);
    // Mailbox 9, which job 2 did not name, keeps its rows as the index holds them.
    expect(reference).toMatchObject({ updated: 3, rebuilt: 2, reused: 7 });

    const store = new MemoryObjectStore();
    await writeArchive(store, true);
    await buildSearchIndex(store, { at: JOB1 });
    const progress = archivedProgress(store);
    const clock = onePieceAtATime();
    let outcome = await buildSearchIndexInPieces(store, { ...clock.fresh(), progress });
    expect(outcome.done).toBe(false);
    // Mid-build: the index as of job 1 still answers at job 1; at job 2 the search scans.
    await expectIndexAnswers(store, JOB1);
    const mailboxes = mailboxesOf(await requireJobs(store));
    expect((await searchArchive(store, mailboxes, {}, { at: JOB2 })).index).toBeUndefined();
    while (!outcome.done) outcome = await buildSearchIndexInPieces(store, { ...clock.fresh(), progress });
    expect(outcome.result).toMatchObject({ updated: 3, rebuilt: 2, reused: 7, pieces: 4 });
    await expectIndexAnswers(store, JOB2);
    expect(await indexAnswers(store, JOB2)).toEqual(await indexAnswers(whole, JOB2));
  });

  it("loses at most the piece in flight to a crash, in a piece or between pieces", async () => {
    const whole = new MemoryObjectStore();
    await writeArchive(whole, false);
    await buildSearchIndex(whole, { mailboxesPerPiece: 3 });

    const store = new MemoryObjectStore();
    await writeArchive(store, false);
    const { puts, failOn } = recording(store);
    const opts = { mailboxesPerPiece: 3, progress: archivedProgress(store) };
    // Crash writing piece 1's record (its segment written), then writing piece 2's checkpoint.
    failOn(/^index\/search\/pieces\//, 1);
    await expect(buildSearchIndexInPieces(store, opts)).rejects.toThrow(/crash before writing/);
    expect((await buildUnderWay(store))?.pieces).toBe(1);
    failOn(/^index\/search\/builds\//, 1);
    await expect(buildSearchIndexInPieces(store, opts)).rejects.toThrow(/crash before writing/);
    expect((await buildUnderWay(store))?.pieces).toBe(2);
    const outcome = await buildSearchIndexInPieces(store, opts);
    expect(outcome).toMatchObject({ done: true, result: { pieces: 4, rebuilt: MAILBOXES } });

    // One segment per piece, the crashed pieces' written again (the same keys: no manifest named them).
    const segments = puts.filter((k) => k.includes("/segments/"));
    expect(segments).toHaveLength(4 + 2);
    expect(new Set(segments).size).toBe(4);
    await expectIndexAnswers(store, JOB1);
    expect(await indexAnswers(store, JOB1)).toEqual(await indexAnswers(whole, JOB1));
  });

  it("starts afresh when its checkpoint is damaged", async () => {
    const store = new MemoryObjectStore();
    await writeArchive(store, false);
    const progress = archivedProgress(store);
    const first = await buildSearchIndexInPieces(store, { ...onePieceAtATime().fresh(), progress });
    expect(first.done).toBe(false);
    const key = "index/search/builds/job=2026-12-01T06-00-00Z-aaaa0001.json";
    expect(await store.getBytes(key)).toBeDefined();
    await store.put(key, Buffer.from('{"format":"mailstream.search-index-build","version":1}\n'));
    const outcome = await buildSearchIndexInPieces(store, { mailboxesPerPiece: 3, progress });
    expect(outcome).toMatchObject({ done: true, result: { pieces: 4, rebuilt: MAILBOXES } });
    await expectIndexAnswers(store, JOB1);
  });
});

describe("the index task in pieces", () => {
  it("hands on near the deadline, finishes the build under way before a newer job's, then builds that", async () => {
    const store = new MemoryObjectStore();
    await writeArchive(store, false);
    let handedOn = 0;
    let tasks = 0;
    const clock = onePieceAtATime();
    const task = () => {
      tasks++;
      return indexAfterJob(store, {
        ...clock.fresh(),
        handOn: async () => {
          handedOn++;
        },
      });
    };
    expect(await task()).toMatchObject({ status: "continued", jobId: JOB1, mailboxes: 10, mailboxesDone: 3 });
    expect(handedOn).toBe(1);
    // Job 2 is finalized while job 1's build is under way: that build goes on to its end first.
    await writeArchive(store, true);
    let outcome = await task();
    while (outcome.status === "continued" && outcome.jobId === JOB1) outcome = await task();
    expect(outcome).toMatchObject({ status: "built", jobId: JOB1, build: { pieces: 4 } });
    // Every task so far handed on: a piece stopped near the deadline, or a build as of an older
    // job than the newest.
    expect(handedOn).toBe(tasks);
    outcome = await task();
    while (outcome.status === "continued") outcome = await task();
    expect(outcome).toMatchObject({ status: "built", jobId: JOB2, build: { updated: 3, rebuilt: 2 } });
    expect(handedOn).toBe(tasks - 1);
    expect(await task()).toEqual({ status: "current", jobId: JOB2 });
    await expectIndexAnswers(store, JOB2);
    await expectIndexAnswers(store, JOB1);
  });
  it("leaves a build under way whose job got a current index meanwhile (`mailstream index`), and builds the newest", async () => {
    const store = new MemoryObjectStore();
    await writeArchive(store, false);
    const clock = onePieceAtATime();
    const task = () => indexAfterJob(store, { ...clock.fresh(), mailboxesPerPiece: 20 });
    const first = await indexAfterJob(store, { ...clock.fresh() });
    expect(first).toMatchObject({ status: "continued", jobId: JOB1 });
    await writeArchive(store, true);
    await buildSearchIndex(store, { at: JOB1 });
    // Job 2's build, upon the index as of job 1: one piece of every mailbox.
    expect(await task()).toMatchObject({ status: "built", jobId: JOB2, build: { updated: 3, pieces: 1 } });
    expect(await task()).toEqual({ status: "current", jobId: JOB2 });
    await expectIndexAnswers(store, JOB2);
  });
});
