/**
 * The search index built per changed line (index version 2): a build after a job writes only the
 * rows that job added or changed, masks the older rows of the items it changed, moved or removed,
 * and every search equals the scan of the catalog, job after job, through moves in either part
 * order, deletions, folders enumerated afresh, a renamed folder (its mailboxes replayed whole),
 * and the merges that keep the segments of changes at MAX_DELTA_SEGMENTS at most.
 */
import { describe, expect, it } from "vitest";
import { writeManifest } from "../../../lib/archive/manifest.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import type { ObjectStore } from "../../../lib/archive/store.js";
import type { CatalogEntry } from "../../../lib/backup/ports.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { type SearchCriteria, searchArchive } from "../../../lib/catalog-index/search.js";
import {
  buildSearchIndex,
  MAX_DELTA_SEGMENTS,
  MAX_JOBS_LISTED_APART,
} from "../../../lib/catalog-index/search-index/build.js";
import { CatalogDelta } from "../../../lib/catalog-index/search-index/catalog-delta.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import {
  encodeSegment,
  idKey,
  lookupIds,
  readDirectory,
  readSegmentMasks,
} from "../../../lib/catalog-index/search-index/segment.js";
import { rowOf } from "../../../lib/catalog-index/search-index/terms.js";
import { CRITERIA, FOLDERS, item, writeJob } from "../../support/search-archive.js";

const jobId = (k: number) =>
  `2026-12-${String(k).padStart(2, "0")}T06-00-00Z-aaaa00${String(k).padStart(2, "0")}`;
const endedAt = (k: number) => `2026-12-${String(k).padStart(2, "0")}T07:00:00.000Z`;

const upsert = (m: number, i: number, v: number, folderId: string): CatalogEntry => ({
  ...(item(m, i, v) as Extract<CatalogEntry, { kind: "upsert" }>),
  folderId,
});

describe("a catalog delta (what later jobs did, without the earlier state)", () => {
  it("masks an older row by item and folder exactly as the replay would drop it", () => {
    const d = new CatalogDelta();
    const j = "job";
    // Moved: removed from its old folder, written in the new one (parts in either order).
    d.apply({ kind: "removed", messageId: "a", folderId: "inbox" }, j, true);
    d.apply(upsert(0, 1, 2, "fin") as CatalogEntry, j, true);
    // Removed from a folder the index may or may not hold it in.
    d.apply({ kind: "removed", messageId: "b", folderId: "sent" }, j, true);
    // Written, then removed from another folder (a stale removal): it stays.
    d.apply(upsert(0, 2, 2, "inbox"), j, true);
    d.apply({ kind: "removed", messageId: "m0-item2", folderId: "sent" }, j, true);
    // Written, then removed from its folder: gone.
    d.apply(upsert(0, 3, 2, "inbox"), j, true);
    d.apply({ kind: "removed", messageId: "m0-item3", folderId: "inbox" }, j, true);
    // A reset that a failed mailbox's job does not apply, and one that applies.
    d.apply({ kind: "folder-reset", folderId: "inbox" }, j, false);
    d.apply({ kind: "folder-reset", folderId: "cal" }, j, true);
    expect(d.masks("a", "inbox")).toBe(true);
    expect(d.masks("a", "sent")).toBe(false);
    expect(d.masks("b", "sent")).toBe(true);
    expect(d.masks("b", "fin")).toBe(false);
    expect(d.masks("m0-item1", "sent")).toBe(true);
    expect(d.masks("m0-item3", "inbox")).toBe(true);
    expect(d.masks("x", "cal")).toBe(true);
    expect(d.masks("x", "inbox")).toBe(false);
    expect(d.messages().map((m) => [m.messageId, m.folderId])).toEqual([
      ["m0-item1", "fin"],
      ["m0-item2", "inbox"],
    ]);
    expect(new Set(d.touchedIds())).toEqual(new Set(["a", "b", "m0-item1", "m0-item2", "m0-item3"]));
  });
});

describe("a segment of version 2", () => {
  it("finds an item's row and folder by its id, and carries masks on older segments", async () => {
    const rows = Array.from({ length: 700 }, (_, i) => {
      const e = item(i % 3, i) as Extract<CatalogEntry, { kind: "upsert" }>;
      return rowOf(`mbx-${i % 3}`, "Inbox", { ...e, jobId: "j" });
    });
    const masks = [
      { segment: "older-b", mailboxId: "mbx-1", rows: [3, 9, 200] },
      { segment: "older-a", mailboxId: "mbx-0", rows: [0] },
    ];
    // Small chunks: the lookup spans many.
    const { bytes, directory } = encodeSegment("j", [], rows, 2000, masks);
    const store = new MemoryObjectStore();
    await store.put("seg", bytes);
    const dir = await readDirectory(store, "seg", directory);
    expect(dir.version).toBe(2);
    expect(dir.ids!.chunks.length).toBeGreaterThan(10);
    expect(await readSegmentMasks(store, "seg", dir)).toEqual([masks[1], masks[0]]);
    const counter = { reads: 0, bytes: 0 };
    const wanted = [
      ["mbx-1", "m1-item4"],
      ["mbx-2", "m2-item698"],
      ["mbx-0", "m0-item3"],
      ["mbx-0", "no-such-item"],
      ["mbx-9", "m1-item4"],
    ] as const;
    const found = await lookupIds(store, "seg", dir, wanted, counter);
    expect(found.size).toBe(3);
    for (const [m, id] of wanted.slice(0, 3)) {
      const at = found.get(idKey(m, id))!;
      const row = rows.find((r) => r.m === m && r.msg.messageId === id)!;
      expect(at.folderId).toBe(row.msg.folderId);
    }
    // The first-keys member and the chunks holding the three items, not the whole lookup.
    expect(counter.reads).toBeLessThanOrEqual(4);
  });
});

/** What must be equal: the hits (whole), their count, and the items searched. */
async function expectSearchesEqualScan(store: ObjectStore, at: string, criteria = CRITERIA) {
  const mailboxes = mailboxesOf(await requireJobs(store));
  for (const c of criteria) {
    for (const limit of [undefined, 4]) {
      const opts = { at, ...(limit !== undefined ? { limit } : {}) };
      const [indexed, scanned] = await Promise.all([
        searchArchive(store, mailboxes, c, opts),
        searchArchive(store, mailboxes, c, { ...opts, useIndex: false }),
      ]);
      const answer = (r: typeof indexed) => ({
        hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
        total: r.total,
        searched: r.messagesScanned,
      });
      expect(answer(indexed), `${at} ${JSON.stringify(c)} limit ${limit}`).toEqual(answer(scanned));
      if (!c.subjectWords?.some((w) => /\s/.test(w))) expect(indexed.index?.mailboxes).toBe(3);
    }
  }
}

/** Filters of every field (folder, sender, subject, time, kind). */
const FEW: SearchCriteria[] = [
  {},
  { folder: "inbox" },
  { from: "adele" },
  { subjectWords: ["budget"] },
  { kind: "event" },
  { since: Date.UTC(2026, 10, 1, 3) },
];

/** A small deterministic random source (the same jobs every run). */
function random(seed: number) {
  let x = seed;
  return (n: number) => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x % n;
  };
}

describe("a search index updated per changed line", () => {
  it("equals the scan after every job of changes, moves, deletions and folders enumerated afresh", {
    timeout: 240_000,
  }, async () => {
    const store = new MemoryObjectStore();
    const pick = random(7);
    const folderIds = ["inbox", "fin", "sent"];
    // What each mailbox holds: item number → [version, folder].
    const live = [0, 1, 2].map(() => new Map<number, [number, string]>());
    let nextItem = 60;
    const first = new Map<number, CatalogEntry[]>();
    for (const m of [0, 1, 2]) {
      const entries: CatalogEntry[] = [];
      for (let i = 0; i < 60; i++) {
        const e = item(m, i) as Extract<CatalogEntry, { kind: "upsert" }>;
        live[m]!.set(i, [1, e.folderId]);
        entries.push(e);
      }
      first.set(m, entries);
    }
    await writeJob(store, jobId(1), endedAt(1), first, [0, 1, 2]);
    expect(await buildSearchIndex(store)).toMatchObject({ rebuilt: 3, rows: 180 });

    // After the rename (job 6), more jobs than MAX_DELTA_SEGMENTS: their segments of changes get merged.
    const jobs = MAX_DELTA_SEGMENTS + 9;
    let merges = 0;
    let folds = 0;
    for (let k = 2; k <= jobs; k++) {
      const changes = new Map<number, CatalogEntry[]>();
      let written = 0;
      for (const m of [0, 1, 2]) {
        // Mailbox 1 is left unchanged every third job.
        if (m === 1 && k % 3 === 0) continue;
        const entries: CatalogEntry[] = [];
        const ids = [...live[m]!.keys()];
        const touched = new Set<number>();
        const other = () => {
          let i = ids[pick(ids.length)]!;
          while (touched.has(i)) i = ids[pick(ids.length)]!;
          touched.add(i);
          return i;
        };
        for (let n = 0; n < 3; n++) {
          // Changed in place.
          const i = other();
          const [v, f] = live[m]!.get(i)!;
          if (f === "cal") continue;
          live[m]!.set(i, [v + 1, f]);
          entries.push(upsert(m, i, v + 1, f));
        }
        {
          // Moved: the removal and the new folder's line in parts of different folders.
          const i = other();
          const [v, f] = live[m]!.get(i)!;
          const to = folderIds.filter((x) => x !== f)[pick(2)]!;
          live[m]!.set(i, [v, to]);
          entries.push({ kind: "removed", messageId: `m${m}-item${i}`, folderId: f }, upsert(m, i, v, to));
        }
        {
          // Deleted, and a stale removal of another item from a folder it is not in.
          const i = other();
          entries.push({ kind: "removed", messageId: `m${m}-item${i}`, folderId: live[m]!.get(i)![1] });
          live[m]!.delete(i);
          const j = other();
          const elsewhere = folderIds.find((x) => x !== live[m]!.get(j)![1])!;
          entries.push({ kind: "removed", messageId: `m${m}-item${j}`, folderId: elsewhere });
        }
        // New items.
        for (let n = 0; n < 2; n++) {
          const i = nextItem++;
          const e = item(m, i) as Extract<CatalogEntry, { kind: "upsert" }>;
          live[m]!.set(i, [1, e.folderId]);
          entries.push(e);
        }
        if (m === 2 && k % 4 === 0) {
          // A folder enumerated afresh: reset, then what it holds now (one item less).
          const folder = "sent";
          entries.push({ kind: "folder-reset", folderId: folder });
          const inside = [...live[m]!.entries()].filter(([, [, f]]) => f === folder);
          inside.forEach(([i, [v]], n) => {
            if (n === 0) live[m]!.delete(i);
            else entries.push(upsert(m, i, v, folder));
          });
        }
        changes.set(m, entries);
        written += entries.filter((e) => e.kind === "upsert").length;
      }
      // One job renames a folder: every mailbox's rows there show a new path, so all are replayed.
      const renamed = k === 6;
      const folders = renamed
        ? FOLDERS.map((f) => (f.id === "fin" ? { ...f, path: "Inbox/Money", displayName: "Money" } : f))
        : k > 6
          ? FOLDERS.map((f) => (f.id === "fin" ? { ...f, path: "Inbox/Money", displayName: "Money" } : f))
          : FOLDERS;
      await writeJob(store, jobId(k), endedAt(k), changes, [0, 1, 2], folders);
      const built = await buildSearchIndex(store);
      merges += built.merged > 0 ? 1 : 0;
      if (renamed) expect(built).toMatchObject({ rebuilt: 3, updated: 0 });
      else if (built.rebuilt > 0) {
        // The segment of whole views has fewer than half its rows counting: replayed, all of it.
        expect(built).toMatchObject({ rebuilt: 3, updated: 0 });
        folds++;
      } else {
        // Only what the job wrote (items changed, moved, added), never a whole mailbox.
        expect(built, `job ${k}`).toMatchObject({ rebuilt: 0, updated: changes.size });
        expect(built.rows).toBeLessThanOrEqual(written + (built.merged > 0 ? 200 : 0));
      }
      const manifest = (await readIndexManifest(store, jobId(k)))!;
      expect(manifest.segments.filter((s) => s.delta).length).toBeLessThanOrEqual(MAX_DELTA_SEGMENTS);
      // A few filters after each job (every filter at the last one and at job 4, below).
      await expectSearchesEqualScan(store, jobId(k), FEW);
    }
    await expectSearchesEqualScan(store, jobId(jobs));
    expect(merges).toBeGreaterThan(0);
    expect(folds).toBeGreaterThan(0);
    // Earlier points in time keep answering from their own indexes.
    await expectSearchesEqualScan(store, jobId(4));
  });
});

describe("a damaged catalog part of a later job", () => {
  it("leaves its mailbox out of the index (the search scans it and reports the damage)", async () => {
    const store = new MemoryObjectStore();
    const first = new Map([0, 1, 2].map((m) => [m, Array.from({ length: 20 }, (_, i) => item(m, i))]));
    await writeJob(store, jobId(1), endedAt(1), first, [0, 1, 2]);
    await buildSearchIndex(store);
    const changes = new Map([0, 1].map((m) => [m, [upsert(m, 3, 2, "sent"), upsert(m, 30, 1, "inbox")]]));
    await writeJob(store, jobId(2), endedAt(2), changes, [0, 1, 2]);
    const part = [...store.objects.keys()].find(
      (k) => k.includes("mailbox=mbx-0/job=2026-12-02") && k.includes("/part-"),
    )!;
    const bytes = store.objects.get(part)!;
    store.objects.set(part, bytes.subarray(0, bytes.length - 20));
    expect(await buildSearchIndex(store)).toMatchObject({
      updated: 1,
      rebuilt: 0,
      reused: 1,
      uncovered: ["mbx-0"],
    });
    const mailboxes = mailboxesOf(await requireJobs(store));
    const indexed = await searchArchive(store, mailboxes, {}, { at: jobId(2) });
    const scanned = await searchArchive(store, mailboxes, {}, { at: jobId(2), useIndex: false });
    expect(indexed.index?.mailboxes).toBe(2);
    expect(indexed.errors.length).toBeGreaterThan(0);
    expect(indexed.hits).toEqual(scanned.hits);
    expect(indexed.total).toBe(scanned.total);
  });
});

describe("what a build reads to see what changed", () => {
  it("reads the mailbox lists of the jobs after the index's, not every job's, and keeps the mailboxes it holds", async () => {
    const read: string[] = [];
    const store = new (class extends MemoryObjectStore {
      override async getBytes(key: string) {
        read.push(key);
        return super.getBytes(key);
      }
    })();
    // Large jobs: their manifests keep the mailbox list in pages (version 2).
    const paged = async (k: number, mailboxes: number[]) =>
      writeManifest(
        store,
        {
          jobId: jobId(k),
          status: "complete",
          endedAt: endedAt(k),
          mailboxes: mailboxes.map((m) => ({ mailboxId: `mbx-${m}`, status: "complete" as const })),
        },
        { pageBytes: 64 },
      );
    const first = new Map([0, 1, 2].map((m) => [m, Array.from({ length: 4 }, (_, i) => item(m, i))]));
    await writeJob(store, jobId(1), endedAt(1), first, [0, 1, 2]);
    expect((await paged(1, [0, 1, 2])).mailboxPages?.parts).toBeGreaterThan(1);
    await buildSearchIndex(store);
    // Job 2 no longer names mailbox 2 (it left the tenant): its rows as of job 1 still count.
    await writeJob(store, jobId(2), endedAt(2), new Map([[0, [upsert(0, 1, 2, "sent")]]]), [0, 1]);
    await paged(2, [0, 1]);
    read.length = 0;
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 1, reused: 2, rebuilt: 0 });
    const pages = read.filter((k) => /\/mailboxes-\d{4}\.json$/.test(k));
    expect(pages.length).toBeGreaterThan(0);
    // Job 1's pages once each: the changed mailbox's tree is job 1's, and reading it asks which
    // catalog format job 1 wrote (its manifest, kept for the build); none to list the mailboxes.
    const ofJob1 = pages.filter((k) => k.startsWith(`jobs/${jobId(1)}/`));
    expect(ofJob1.length).toBeGreaterThan(0);
    expect(new Set(ofJob1).size).toBe(ofJob1.length);
    await expectSearchesEqualScan(store, jobId(2));
  });

  it("lists, for a mailbox the index holds, only the jobs after the index's, not its whole catalog", async () => {
    const listed: string[] = [];
    const store = new (class extends MemoryObjectStore {
      override list(prefix: string) {
        listed.push(prefix);
        return super.list(prefix);
      }
    })();
    const first = new Map([0, 1, 2].map((m) => [m, Array.from({ length: 6 }, (_, i) => item(m, i))]));
    await writeJob(store, jobId(1), endedAt(1), first, [0, 1, 2]);
    await buildSearchIndex(store);
    // Two jobs of changes before the next build: mailbox 0 changed in both, mailbox 1 in one.
    await writeJob(store, jobId(2), endedAt(2), new Map([[0, [upsert(0, 1, 2, "sent")]]]), [0, 1, 2]);
    await writeJob(
      store,
      jobId(3),
      endedAt(3),
      new Map([
        [0, [upsert(0, 2, 3, "inbox")]],
        [1, [upsert(1, 4, 3, "sent")]],
      ]),
      [0, 1, 2],
    );
    listed.length = 0;
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 2, reused: 1, rebuilt: 0 });
    const catalogLists = listed.filter((p) => p.startsWith("catalog/"));
    // Each mailbox: its prefix of job 2 and of job 3, never its whole catalog.
    expect(catalogLists.sort()).toEqual(
      [0, 1, 2].flatMap((m) => [2, 3].map((k) => `catalog/mailbox=mbx-${m}/job=${jobId(k)}/`)).sort(),
    );
    await expectSearchesEqualScan(store, jobId(3));

    // An index further behind than MAX_JOBS_LISTED_APART jobs: each mailbox's catalog listed once.
    for (let k = 4; k <= 5 + MAX_JOBS_LISTED_APART; k++)
      await writeJob(store, jobId(k), endedAt(k), new Map([[2, [upsert(2, k % 6, k, "inbox")]]]), [0, 1, 2]);
    listed.length = 0;
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 1, reused: 2 });
    expect(listed.filter((p) => p.startsWith("catalog/")).sort()).toEqual(
      [0, 1, 2].map((m) => `catalog/mailbox=mbx-${m}/`),
    );
    await expectSearchesEqualScan(store, jobId(5 + MAX_JOBS_LISTED_APART));
  });

  it("reads no folders record the index already knows to see what changed (a job that wrote no tree)", async () => {
    const read: string[] = [];
    const store = new (class extends MemoryObjectStore {
      override async getBytes(key: string) {
        read.push(key);
        return super.getBytes(key);
      }
    })();
    const first = new Map([0, 1].map((m) => [m, Array.from({ length: 10 }, (_, i) => item(m, i))]));
    await writeJob(store, jobId(1), endedAt(1), first, [0, 1]);
    await buildSearchIndex(store);
    // Job 2 changes mailbox 0; neither tree changed, so (as the coordinator does) no tree is written.
    await writeJob(store, jobId(2), endedAt(2), new Map([[0, [upsert(0, 3, 2, "sent")]]]), [0, 1]);
    for (const key of [...store.objects.keys()])
      if (key.includes("job=2026-12-02") && key.endsWith("/folders.jsonl")) store.objects.delete(key);
    read.length = 0;
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 1, reused: 1 });
    // Only the changed mailbox's tree, for its rows' folder paths; none to see what changed.
    expect(read.filter((k) => k.endsWith("/folders.jsonl"))).toEqual([
      expect.stringContaining("mailbox=mbx-0/job=2026-12-01"),
    ]);
    // A job that writes a tree again: its record is read once per mailbox.
    await writeJob(store, jobId(3), endedAt(3), new Map(), [0, 1]);
    read.length = 0;
    expect(await buildSearchIndex(store)).toMatchObject({ updated: 0, reused: 2 });
    expect(read.filter((k) => k.endsWith("/folders.jsonl"))).toHaveLength(2);
  });
});
