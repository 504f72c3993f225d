/**
 * A search index of version 1 as deployed versions wrote it (test/fixtures/search-index-v1, over
 * the archive of test/fixtures/archive-v3) keeps answering searches, and builds of version 2 go
 * on from it: mailboxes a job left unchanged keep their rows in the old segment, changed ones are
 * replayed whole once (an old segment has no item-id lookup to mask rows by), and from then on
 * they are updated per changed line.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { LocalObjectStore } from "../../../lib/archive/local-store.js";
import { mailboxViewAt } from "../../../lib/archive/replay.js";
import type { CatalogEntry } from "../../../lib/backup/ports.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { type SearchCriteria, searchArchive } from "../../../lib/catalog-index/search.js";
import { buildSearchIndex } from "../../../lib/catalog-index/search-index/build.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import { readDirectory } from "../../../lib/catalog-index/search-index/segment.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const made = JSON.parse(readFileSync(join(fixtures, "archive-v3/made.json"), "utf8")) as { jobs: string[] };
const [JOB1, JOB2] = made.jobs as [string, string];
const JOB3 = "2026-12-06T11-51-20Z-00000003";
const JOB4 = "2026-12-06T11-51-25Z-00000004";
/** Builds' time: the fixture's segments are young then (they were written 2026-12-06T12:00Z). */
const now = new Date("2026-12-07T12:00:00Z");

let dir: string;
let store: LocalObjectStore;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "search-index-v1-"));
  cpSync(join(fixtures, "archive-v3/archive"), dir, { recursive: true });
  cpSync(join(fixtures, "search-index-v1/index"), join(dir, "index"), { recursive: true });
  store = new LocalObjectStore(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectIndexedEqualsScan(at: string, criteria: SearchCriteria[]) {
  const mailboxes = mailboxesOf(await requireJobs(store));
  for (const c of criteria) {
    const indexed = await searchArchive(store, mailboxes, c, { at });
    const scanned = await searchArchive(store, mailboxes, c, { at, useIndex: false });
    expect(indexed.index?.mailboxes, `${at} ${JSON.stringify(c)}`).toBe(2);
    const answer = (r: typeof indexed) => ({
      hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
      total: r.total,
      searched: r.messagesScanned,
    });
    expect(answer(indexed), `${at} ${JSON.stringify(c)}`).toEqual(answer(scanned));
  }
}

const CRITERIA: SearchCriteria[] = [
  {},
  { hasAttachments: false },
  { folder: "inbox" },
  { subjectWords: ["e"] },
];

describe("a search index of version 1 (stored)", () => {
  it("is that version, and answers searches at both jobs exactly as the scan", async () => {
    for (const at of [JOB1, JOB2]) {
      const manifest = (await readIndexManifest(store, at))!;
      expect(manifest.version).toBe(1);
      const directory = await readDirectory(
        store,
        manifest.segments[0]!.key,
        manifest.segments[0]!.directory,
      );
      expect(directory.version).toBe(1);
      expect(directory.ids).toBeUndefined();
      await expectIndexedEqualsScan(at, CRITERIA);
    }
  });

  it("is built upon: changed mailboxes replayed whole once, then updated per changed line", async () => {
    // Smaller first: the other one holds more than half the old segment's rows (else it is folded too).
    const size = async (m: { mailboxId: string }) =>
      (await mailboxViewAt(store, m.mailboxId, JOB2)).folders.reduce((n, f) => n + f.messages.length, 0);
    const all = mailboxesOf(await requireJobs(store));
    const sizes = await Promise.all(all.map(size));
    const mailboxes = sizes[0]! <= sizes[1]! ? all : [...all].reverse();
    // Job 3 changes the smaller mailbox only; job 4 both.
    await writeChangeJob(JOB3, mailboxes.slice(0, 1), JOB2, "zebra crossing");
    const third = await buildSearchIndex(store, { now });
    // No item-id lookup in the old segment: the changed mailbox is replayed whole, the other kept there.
    expect(third).toMatchObject({ rebuilt: 1, updated: 0, reused: 1 });
    const manifest3 = (await readIndexManifest(store, JOB3))!;
    expect(manifest3.version).toBe(2);
    const versions = await Promise.all(
      manifest3.segments.map(async (s) => (await readDirectory(store, s.key, s.directory)).version),
    );
    expect(versions).toEqual([1, 2]);
    await expectIndexedEqualsScan(JOB3, [...CRITERIA, { subjectWords: ["zebra"] }]);

    await writeChangeJob(JOB4, mailboxes, JOB3, "yak shaving");
    const fourth = await buildSearchIndex(store, { now });
    // The first mailbox's rows are in a new segment now: updated per line; the second replayed.
    expect(fourth).toMatchObject({ rebuilt: 1, updated: 1, reused: 0 });
    await expectIndexedEqualsScan(JOB4, [
      ...CRITERIA,
      { subjectWords: ["zebra"] },
      { subjectWords: ["yak"] },
    ]);
    // Earlier points in time keep their indexes, the old ones among them.
    for (const at of [JOB1, JOB2]) {
      expect((await readIndexManifest(store, at))!.version).toBe(1);
      await expectIndexedEqualsScan(at, CRITERIA);
    }
  });
});

/** A finalized job that, in each mailbox given, changes one item's subject and removes another. */
async function writeChangeJob(
  jobId: string,
  mailboxes: ReadonlyArray<{ mailboxId: string; address: string }>,
  before: string,
  subject: string,
) {
  const archive = createArchive(store);
  for (const [unit, m] of mailboxes.entries()) {
    const view = await mailboxViewAt(store, m.mailboxId, before);
    const [a, b] = view.folders.flatMap((f) => f.messages);
    const changed = { ...a!, kind: "upsert", meta: { ...a!.meta, subject } } as unknown as CatalogEntry;
    await archive.writeCatalogPart({ jobId, mailboxId: m.mailboxId, folderId: a!.folderId, unit, page: 0 }, [
      changed,
    ]);
    await archive.writeCatalogPart({ jobId, mailboxId: m.mailboxId, folderId: b!.folderId, unit, page: 1 }, [
      { kind: "removed", messageId: b!.messageId, folderId: b!.folderId },
    ]);
  }
  await archive.writeManifest({
    jobId,
    status: "complete",
    endedAt: `${jobId.slice(0, 10)}T${jobId.slice(11, 19).replace(/-/g, ":")}.000Z`,
    mailboxes: mailboxes.map((m) => ({
      mailboxId: m.mailboxId,
      status: "complete" as const,
      address: m.address,
    })),
  });
}
