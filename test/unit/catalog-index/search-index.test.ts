/**
 * The search index (lib/catalog-index/search-index): its segment format read back with plain
 * gunzip and JSON, and searches answered from it equal to the scan's answer for every filter,
 * at every point in time, through rebuilds that keep unchanged mailboxes, a late-finalized job
 * and damage (both fall back to scanning).
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { LocalObjectStore } from "../../../lib/archive/local-store.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import type { ObjectStore } from "../../../lib/archive/store.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { SearchIndexDamagedError } from "../../../lib/catalog-index/errors.js";
import { senderText } from "../../../lib/catalog-index/match-text.js";
import { messageMatches, type SearchCriteria, searchArchive } from "../../../lib/catalog-index/search.js";
import { buildSearchIndex, segmentBuiltAt } from "../../../lib/catalog-index/search-index/build.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import { SEGMENT_REWRITE_AFTER_DAYS } from "../../../lib/catalog-index/search-index/index-retention.js";
import { matchingRows, readRows } from "../../../lib/catalog-index/search-index/query.js";
import {
  encodeSegment,
  ROWS_PER_BLOCK,
  readDirectory,
} from "../../../lib/catalog-index/search-index/segment.js";
import {
  type IndexRow,
  inTimeRange,
  rowOf,
  termTests,
} from "../../../lib/catalog-index/search-index/terms.js";
import { indexCommand } from "../../../lib/cli/commands/index.js";
import { searchCommand } from "../../../lib/cli/commands/search.js";
import { collectOutput } from "../../../lib/cli/format/output.js";
import {
  CRITERIA,
  item,
  JOB1,
  JOB2,
  JOB3,
  writeFirstJob,
  writeIdleJob,
  writeJob,
  writeSecondJob,
} from "../../support/search-archive.js";

function rows(n: number): IndexRow[] {
  return Array.from({ length: n }, (_, i) => {
    const e = item(i % 5, i);
    if (e.kind !== "upsert") throw new Error("expected an upsert");
    const path = ["Inbox", "Inbox/Finance", "Sent Items", "Calendar"][i % 4]!;
    return rowOf(`mbx-${i % 5}`, path, { ...e, jobId: JOB1 });
  });
}

async function searchBoth(store: ObjectStore, criteria: SearchCriteria, at: string, limit?: number) {
  const mailboxes = mailboxesOf(await requireJobs(store));
  const opts = { at, ...(limit !== undefined ? { limit } : {}) };
  const indexed = await searchArchive(store, mailboxes, criteria, opts);
  const scanned = await searchArchive(store, mailboxes, criteria, { ...opts, useIndex: false });
  return { indexed, scanned };
}

/** What must be equal: the hits (whole), their count, and the items searched. */
const answer = (r: Awaited<ReturnType<typeof searchArchive>>) => ({
  hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
  total: r.total,
  searched: r.messagesScanned,
  errors: r.errors.length,
});

describe("a search index segment", () => {
  const all = rows(1500);
  // Small posting chunks: terms of one test lie in many chunks.
  const { bytes, directory } = encodeSegment(
    JOB1,
    [{ mailboxId: "mbx-0", catalog: [], rows: 1500 }],
    all,
    300,
  );

  it("is gzip members of JSON lines that zcat reads whole: header, mailboxes, terms, rows, directory", () => {
    const lines = gunzipSync(bytes)
      .toString("utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      kind: "segment",
      format: "mailstream.search-segment",
      version: 2,
      rows: 1500,
    });
    expect(lines[1]).toMatchObject({ kind: "mailbox", mailboxId: "mbx-0" });
    expect(lines.at(-1)).toMatchObject({ kind: "directory", jobId: JOB1, rows: 1500 });
    expect(lines.filter((l) => l.msg).length).toBe(1500);
    expect(lines.at(-1).blocks).toHaveLength(Math.ceil(1500 / ROWS_PER_BLOCK));
    expect(lines.at(-1).fields.w.chunks.length).toBeGreaterThan(10);
    const words = lines.find((l) => l.kind === "dictionary" && l.field === "w");
    expect(words.chunks).toHaveLength(lines.at(-1).fields.w.chunks.length);
  });

  it("answers every filter with exactly the rows the scan's test accepts, newest first", async () => {
    const store = new MemoryObjectStore();
    await store.put("seg", bytes);
    const seg = { key: "seg", directory: await readDirectory(store, "seg", directory) };
    const stored = await readRows(
      store,
      seg,
      Array.from({ length: 1500 }, (_, i) => i),
      { reads: 0, bytes: 0 },
    );
    for (const c of CRITERIA) {
      const tests = termTests(c);
      if (!tests) {
        expect(c.subjectWords?.some((w) => /\s/.test(w))).toBe(true);
        continue;
      }
      const ids = await matchingRows(store, seg, tests, c, { reads: 0, bytes: 0 });
      const expected = stored
        .map((r, i) => (messageMatches(r.msg.meta, r.p, c) ? i : -1))
        .filter((i) => i >= 0);
      expect(ids, JSON.stringify(c)).toEqual(expected);
      expect(stored.every((r, i) => i === 0 || (stored[i - 1]!.t ?? 0) >= (r.t ?? 0))).toBe(true);
    }
    expect(inTimeRange(null, { since: 0 })).toBe(false);
  });

  it("is refused as damaged when truncated", async () => {
    const store = new MemoryObjectStore();
    await store.put("seg", bytes.subarray(0, bytes.length - 10));
    await expect(readDirectory(store, "seg", directory)).rejects.toThrow();
    await store.put("seg", Buffer.concat([bytes.subarray(0, directory[0]), Buffer.alloc(directory[1], 7)]));
    await expect(readDirectory(store, "seg", directory)).rejects.toBeInstanceOf(SearchIndexDamagedError);
  });
});

describe("searching with the index", () => {
  it("equals the scan for every filter, with and without a limit, at each job", async () => {
    const store = new MemoryObjectStore();
    await writeFirstJob(store);
    const first = await buildSearchIndex(store);
    expect(first).toMatchObject({ jobId: JOB1, rebuilt: 2, reused: 0, segmentsWritten: 1, puts: 2 });
    await writeSecondJob(store);
    const second = await buildSearchIndex(store, { rowsPerSegment: 30 });
    // Mailbox 1 is unchanged (its folders record written again, the same): its rows stay. Mailbox
    // 0 changed 3 items and gained one: a segment of changes holds those 3 rows, masking 3 old ones.
    expect(second).toMatchObject({
      jobId: JOB2,
      rebuilt: 1,
      updated: 1,
      reused: 1,
      segmentsWritten: 2,
      puts: 3,
      rows: 40 + 3,
    });
    for (const at of [JOB1, JOB2]) {
      for (const c of CRITERIA) {
        for (const limit of [undefined, 0, 3, 10]) {
          const { indexed, scanned } = await searchBoth(store, c, at, limit);
          expect(answer(indexed), `${at} ${JSON.stringify(c)} limit ${limit}`).toEqual(answer(scanned));
          const exact = !c.subjectWords?.some((w) => /\s/.test(w));
          expect(indexed.index?.mailboxes, JSON.stringify(c)).toBe(exact ? (at === JOB1 ? 2 : 3) : undefined);
        }
      }
    }
    const job2 = await readIndexManifest(store, JOB2);
    expect(job2?.version).toBe(2);
    expect(job2?.segments.map((s) => [s.exclude, s.delta ?? false])).toEqual([
      [[], false],
      [[], false],
      [[], true],
    ]);
  });

  it("writes only its manifest for a job that changed nothing, and nothing when current", async () => {
    const store = new MemoryObjectStore();
    await writeFirstJob(store);
    await writeSecondJob(store);
    await buildSearchIndex(store);
    await writeIdleJob(store);
    expect(await buildSearchIndex(store)).toMatchObject({ jobId: JOB3, rebuilt: 0, reused: 3, puts: 1 });
    expect(await buildSearchIndex(store)).toMatchObject({ jobId: JOB3, puts: 0 });
    for (const c of CRITERIA.slice(0, 8)) {
      const { indexed, scanned } = await searchBoth(store, c, JOB3, 5);
      expect(answer(indexed)).toEqual(answer(scanned));
    }
  });

  it("folds a segment less than half of whose rows still count into the new one", async () => {
    const store = new MemoryObjectStore();
    await writeFirstJob(store, 40, 10);
    await buildSearchIndex(store);
    // Job 2 changes 46 of mailbox 0's 50 items: 46 of the segment's 90 rows are masked.
    const changed = Array.from({ length: 46 }, (_, i) => item(0, i, 2));
    await writeJob(store, JOB2, "2026-12-02T07:00:00.000Z", new Map([[0, changed]]), [0, 1]);
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 1, reused: 1, rows: 46 });
    expect((await searchBoth(store, { to: "megan" }, JOB2)).indexed.index?.segments).toBe(2);
    // The next build replays the live mailboxes of the sparse segment (mailbox 1's 40 rows with
    // mailbox 0): the segment of changes, its rows all of mailbox 0, goes with it.
    await writeJob(store, JOB3, "2026-12-03T07:00:00.000Z", new Map(), [0, 1]);
    expect(await buildSearchIndex(store)).toMatchObject({ rebuilt: 2, reused: 0, segmentsWritten: 1 });
    const manifest = await readIndexManifest(store, JOB3);
    expect(manifest?.segments).toHaveLength(1);
    const { indexed, scanned } = await searchBoth(store, { to: "megan" }, JOB3);
    expect(indexed.index?.segments).toBe(1);
    expect(answer(indexed)).toEqual(answer(scanned));
  });

  it("rewrites the live mailboxes of a segment older than the rewrite age, before the lifecycle rule expires it", async () => {
    const store = new MemoryObjectStore();
    await writeFirstJob(store);
    const built = new Date("2026-12-01T07:00:00Z");
    await buildSearchIndex(store, { now: built });
    const [first] = (await readIndexManifest(store, JOB1))!.segments;
    expect(segmentBuiltAt(first!.key)).toBe(built.getTime());
    await writeSecondJob(store);
    // Young enough: the unchanged mailbox keeps its rows in the first segment.
    const young = new Date(built.getTime() + (SEGMENT_REWRITE_AFTER_DAYS - 1) * 86_400_000);
    expect(await buildSearchIndex(store, { now: young })).toMatchObject({ reused: 1 });
    expect((await readIndexManifest(store, JOB2))!.segments.map((s) => s.key)).toContain(first!.key);
    // Past the rewrite age: replayed into a new segment, and the manifest no longer names the old one.
    await writeIdleJob(store);
    const old = new Date(built.getTime() + (SEGMENT_REWRITE_AFTER_DAYS + 1) * 86_400_000);
    // (Mailbox 0's rows of job 2's changes went with it: no segment holds a row of it any more.)
    expect(await buildSearchIndex(store, { now: old })).toMatchObject({ jobId: JOB3, reused: 1, rebuilt: 2 });
    const segments = (await readIndexManifest(store, JOB3))!.segments;
    expect(segments.map((s) => s.key)).not.toContain(first!.key);
    expect(
      segments.every(
        (s) => old.getTime() - segmentBuiltAt(s.key)! <= SEGMENT_REWRITE_AFTER_DAYS * 86_400_000,
      ),
    ).toBe(true);
    for (const c of CRITERIA) {
      const { indexed, scanned } = await searchBoth(store, c, JOB3);
      expect(answer(indexed), JSON.stringify(c)).toEqual(answer(scanned));
    }
    // What the lifecycle rule expires (here: the first segment, gone from the store) no index uses.
    store.objects.delete(first!.key);
    expect((await searchBoth(store, { from: "adele" }, JOB3)).indexed.index?.mailboxes).toBe(3);
    // An index older than that, still naming it, is found damaged: search scans, a build starts afresh.
    const expired = await searchBoth(store, { from: "adele" }, JOB1);
    expect(expired.indexed.index).toBeUndefined();
    expect(expired.indexed.notes.join("\n")).toMatch(/found no such object or range.*searched by scanning/);
    expect(answer(expired.indexed)).toEqual(answer(expired.scanned));
    // Afresh as of job 1: the mailboxes of the jobs up to it (mailbox 2 came with job 2).
    expect(await buildSearchIndex(store, { at: JOB1, now: old })).toMatchObject({ rebuilt: 2, reused: 0 });
    const rebuilt = await searchBoth(store, { from: "adele" }, JOB1);
    expect(rebuilt.indexed.index?.mailboxes).toBe(2);
    expect(answer(rebuilt.indexed)).toEqual(answer(rebuilt.scanned));
  });

  it("is not used once a job up to it was finalized later, or while damaged; the scan answers", async () => {
    const store = new MemoryObjectStore();
    await writeFirstJob(store);
    await writeSecondJob(store);
    // The index as of job 2 is built while job 1 is not finalized yet (the sweep finalizes it later).
    const manifest1 = store.objects.get("jobs/2026-12-01T06-00-00Z-aaaa0001/manifest.json")!;
    store.objects.delete("jobs/2026-12-01T06-00-00Z-aaaa0001/manifest.json");
    await buildSearchIndex(store);
    store.objects.set("jobs/2026-12-01T06-00-00Z-aaaa0001/manifest.json", manifest1);
    const late = await searchBoth(store, { subjectWords: ["budget"] }, JOB2);
    expect(late.indexed.index).toBeUndefined();
    expect(answer(late.indexed)).toEqual(answer(late.scanned));

    // Rebuilt: current again, then a segment damaged.
    await buildSearchIndex(store);
    expect((await searchBoth(store, {}, JOB2)).indexed.index?.mailboxes).toBe(3);
    const segment = (await readIndexManifest(store, JOB2))!.segments[0]!.key;
    const bytes = store.objects.get(segment)!;
    store.objects.set(segment, Buffer.concat([bytes.subarray(0, 40), Buffer.alloc(bytes.length - 40, 1)]));
    const damaged = await searchBoth(store, { from: "adele" }, JOB2);
    expect(damaged.indexed.index).toBeUndefined();
    expect(damaged.indexed.notes.join("\n")).toMatch(
      /search index index\/search\/segments\/.*searched by scanning/,
    );
    expect(answer(damaged.indexed)).toEqual(answer(damaged.scanned));
    // The next build does not trust the damaged index: it indexes every mailbox afresh.
    expect(await buildSearchIndex(store)).toMatchObject({ rebuilt: 3, reused: 0 });
    const repaired = await searchBoth(store, { from: "adele" }, JOB2);
    expect(repaired.indexed.index?.mailboxes).toBe(3);
    expect(answer(repaired.indexed)).toEqual(answer(repaired.scanned));
  });
});

describe("an archive written before the search index (test/fixtures/archive-v1)", () => {
  it("is searched by scanning, and once indexed the index answers the same", async () => {
    const dir = mkdtempSync(join(tmpdir(), "search-index-v1-"));
    try {
      cpSync(join(import.meta.dirname, "../../fixtures/archive-v1/archive"), dir, { recursive: true });
      const store = new LocalObjectStore(dir);
      const jobs = (await requireJobs(store)).map((j) => j.jobId);
      const before = await searchBoth(store, {}, jobs.at(-1)!);
      expect(before.indexed.index).toBeUndefined();
      expect(before.indexed.total).toBeGreaterThan(5);
      expect(answer(before.indexed)).toEqual(answer(before.scanned));
      for (const at of jobs) await buildSearchIndex(store, { at });
      for (const at of jobs) {
        // Besides the usual criteria, the sender and folder of one of its own messages.
        const hit = before.indexed.hits[0]!;
        const own = { from: senderText(hit.message.meta).slice(1, 6), folder: hit.folderPath };
        for (const c of [...CRITERIA, own]) {
          const { indexed, scanned } = await searchBoth(store, c, at, 4);
          expect(answer(indexed), `${at} ${JSON.stringify(c)}`).toEqual(answer(scanned));
          if (termTests(c)) expect(indexed.index?.mailboxes).toBe(3);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("mailstream index and search --no-index", () => {
  it("builds the index, and search prints the same hits with it as without", async () => {
    const dir = mkdtempSync(join(tmpdir(), "search-index-cli-"));
    try {
      const store = new LocalObjectStore(dir);
      await writeFirstJob(store);
      await writeSecondJob(store);
      const built = { out: collectOutput(), err: collectOutput() };
      expect(await indexCommand({ archive: dir }, built)).toBe(0);
      expect(built.out.text()).toMatch(
        /search index as of job 2026-12-02T06-00-00Z-aaaa0002: 3 mailboxes indexed/,
      );
      const again = { out: collectOutput(), err: collectOutput() };
      expect(await indexCommand({ archive: dir }, again)).toBe(0);
      expect(again.out.text()).toMatch(/already current \(3 mailboxes\), nothing written/);
      const run = async (index: boolean) => {
        const io = { out: collectOutput(), err: collectOutput() };
        expect(
          await searchCommand({ archive: dir, subject: "budget", limit: 5, json: true, index }, io),
        ).toBe(0);
        return JSON.parse(io.out.text()) as { total: number; hits: unknown[]; index?: { mailboxes: number } };
      };
      const [withIndex, without] = await Promise.all([run(true), run(false)]);
      expect(withIndex.index?.mailboxes).toBe(3);
      expect(without.index).toBeUndefined();
      expect(withIndex.total).toBeGreaterThan(5);
      expect(withIndex.hits).toHaveLength(5);
      expect({ ...withIndex, index: undefined }).toEqual({ ...without, index: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
