/**
 * How fast `mailstream search` answers (issue 15: search over 10 million catalog lines in
 * seconds): by scanning the catalog, and from the search index (lib/catalog-index/search-index).
 * Writes an archive of `BENCH_SEARCH_MAILBOXES` mailboxes (default 200) of `BENCH_SEARCH_LINES`
 * catalog lines each (default 1,000: one upsert per message, 100 per part) in one finalized job to
 * a local folder; times one scanning search over every mailbox (a subject word few messages
 * hold), builds the index (`mailstream index`), then times indexed searches of every kind of
 * filter and counts what each read: requests (GET, ranged GET, LIST) and bytes. Prints JSON.
 * `BENCH_SEARCH_SCAN=0` skips the scan (for large runs; the scan's rate is then not measured).
 * Then a second job changes `BENCH_SEARCH_CHANGED_MAILBOXES` mailboxes (default 20; 100 lines
 * each: 50 items changed, 25 moved, 25 deleted), and the index is built after it twice from the
 * same index: replaying each changed mailbox whole (as index version 1 did) and per changed line
 * (version 2); each build's objects read and written, bytes and seconds are reported.
 * `npx tsx bench/search-scan.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { createArchive } from "../lib/archive/archive.js";
import { LocalObjectStore } from "../lib/archive/local-store.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "../lib/archive/store.js";
import type { CatalogEntry } from "../lib/backup/ports.js";
import { listArchivedJobs, mailboxesOf } from "../lib/catalog-index/directory.js";
import { type SearchCriteria, searchArchive } from "../lib/catalog-index/search.js";
import { buildSearchIndex, type IndexPieceFigures } from "../lib/catalog-index/search-index/build.js";

const MAILBOXES = Number(process.env.BENCH_SEARCH_MAILBOXES ?? 200);
const LINES = Number(process.env.BENCH_SEARCH_LINES ?? 1000);
const SCAN = process.env.BENCH_SEARCH_SCAN !== "0";
const CHANGED = Number(process.env.BENCH_SEARCH_CHANGED_MAILBOXES ?? 20);
const PER_PART = 100;
const jobId = "2026-12-06T06-00-00Z-5ea4c400";
const job2 = "2026-12-07T06-00-00Z-5ea4c401";

/** A word of a 50,000-word vocabulary, spread like words are (a few common, most rare). */
function word(m: number, i: number): string {
  const x = ((m * 7919 + i * 104_729) % 1_000_003) / 1_000_003;
  return `w${Math.floor(50_000 * x * x * x)}`;
}

function upsert(m: number, i: number): CatalogEntry {
  const id = `m${m}-msg${i}`;
  return {
    kind: "upsert",
    messageId: id,
    folderId: i % 5 === 0 ? "archive" : "inbox",
    sha256: `${"0".repeat(48)}${String(m).padStart(6, "0")}${String(i).padStart(10, "0")}`,
    size: 12_000,
    meta: {
      id,
      subject:
        i % 997 === 0
          ? `quarterly budget ${i}`
          : `status update ${i} for project ${m} ${word(m, i)} ${word(m, i + 1)}`,
      from: {
        emailAddress: {
          name: `Sender ${(m * 31 + i) % 5000}`,
          address: `sender${(m * 31 + i) % 5000}@contoso.test`,
        },
      },
      toRecipients: [{ emailAddress: { name: `User ${m}`, address: `user${m}@contoso.test` } }],
      receivedDateTime: new Date(Date.UTC(2026, 0, 1) + i * 60_000 + m * 1000).toISOString(),
      sentDateTime: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      hasAttachments: i % 7 === 0,
      isRead: true,
      changeKey: `ck${i}`,
    },
  };
}

/** Counts the requests a search makes and the bytes they return. */
class CountingStore implements ObjectStore {
  gets = 0;
  ranged = 0;
  lists = 0;
  bytes = 0;
  puts = 0;
  putBytes = 0;
  constructor(private readonly inner: ObjectStore) {}
  get location() {
    return this.inner.location;
  }
  reset() {
    this.gets = this.ranged = this.lists = this.bytes = this.puts = this.putBytes = 0;
  }
  private counted(stream: Readable): Readable {
    stream.on("data", (chunk: Buffer) => {
      this.bytes += chunk.length;
    });
    return stream;
  }
  put(key: string, body: Buffer | Readable, opts?: PutOptions) {
    this.puts++;
    if (Buffer.isBuffer(body)) this.putBytes += body.length;
    return this.inner.put(key, body, opts);
  }
  async get(key: string) {
    this.gets++;
    return this.counted(await this.inner.get(key));
  }
  async getRange(key: string, offset: number, length: number) {
    this.ranged++;
    return this.counted(await this.inner.getRange(key, offset, length));
  }
  async getBytes(key: string) {
    this.gets++;
    const bytes = await this.inner.getBytes(key);
    this.bytes += bytes.length;
    return bytes;
  }
  head(key: string) {
    return this.inner.head(key);
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.lists++;
    yield* this.inner.list(prefix);
  }
  move(from: string, to: string) {
    return this.inner.move(from, to);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

const QUERIES: Array<[string, SearchCriteria]> = [
  ["subject word few hold (budget)", { subjectWords: ["budget"] }],
  ["subject word, substring of many terms (w123)", { subjectWords: ["w123"] }],
  ["sender (sender42@)", { from: "sender42@" }],
  ["recipient of one mailbox (user7@)", { to: "user7@" }],
  ["everything of kind mail (top 100)", { kind: "mail" }],
  [
    "one day, attachments, folder Inbox",
    { since: Date.UTC(2026, 0, 1, 3), until: Date.UTC(2026, 0, 1, 9), hasAttachments: true, folder: "Inbox" },
  ],
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-search-"));
  try {
    const local = new LocalObjectStore(dir);
    const archive = createArchive(local);
    const mailboxes = Array.from({ length: MAILBOXES }, (_, m) => `user-${String(m).padStart(6, "0")}`);
    const writing = Date.now();
    for (const [m, mailboxId] of mailboxes.entries()) {
      await archive.recordFolders(jobId, mailboxId, [
        { id: "inbox", parentFolderId: "root", path: "Inbox", displayName: "Inbox" },
        { id: "archive", parentFolderId: "inbox", path: "Inbox/2025", displayName: "2025" },
      ]);
      const lines = Array.from({ length: LINES }, (_, i) => upsert(m, i));
      for (const folderId of ["inbox", "archive"]) {
        const mine = lines.filter((l) => l.folderId === folderId);
        for (let page = 0; page * PER_PART < mine.length; page++) {
          const entries = mine.slice(page * PER_PART, (page + 1) * PER_PART);
          await archive.writeCatalogPart({ jobId, mailboxId, folderId, unit: m, page }, entries);
        }
      }
    }
    await archive.writeManifest({
      jobId,
      status: "complete",
      endedAt: "2026-12-06T07:00:00.000Z",
      mailboxes: mailboxes.map((mailboxId) => ({
        mailboxId,
        status: "complete",
        address: `${mailboxId}@contoso.test`,
      })),
    });
    const writeSeconds = (Date.now() - writing) / 1000;
    const store = new CountingStore(local);
    const lines = MAILBOXES * LINES;
    const all = mailboxesOf(await listArchivedJobs(store));

    let scan: Record<string, number> | undefined;
    if (SCAN) {
      store.reset();
      const started = Date.now();
      const result = await searchArchive(store, all, { subjectWords: ["budget"] }, { at: jobId, limit: 100 });
      const seconds = (Date.now() - started) / 1000;
      scan = {
        seconds,
        hits: result.total,
        linesPerSecond: Math.round(result.messagesScanned / seconds),
        secondsFor10MillionLines: Math.round((10_000_000 * seconds) / result.messagesScanned),
        gets: store.gets,
        lists: store.lists,
        megabytes: Math.round(store.bytes / 1e5) / 10,
      };
    }

    store.reset();
    const building = Date.now();
    const pieces: IndexPieceFigures[] = [];
    const cpu0 = process.cpuUsage();
    const built = await buildSearchIndex(store, { onPiece: (f) => pieces.push(f) });
    const buildSeconds = (Date.now() - building) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // This process's CPU (user + system): what the build costs whatever else shares the cores.
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    let indexBytes = 0;
    for await (const o of local.list("index/")) indexBytes += o.size;
    const build = {
      seconds: buildSeconds,
      linesPerSecond: Math.round(lines / buildSeconds),
      mailboxesPerSecond: Math.round(MAILBOXES / buildSeconds),
      cpuSeconds,
      cpuMicrosecondsPerLine: Math.round((cpuSeconds * 1e6) / lines),
      segments: built.segmentsWritten,
      // The build's pieces (each a segment, a record and a checkpoint on the index task's path).
      pieces: built.pieces,
      largestPieceSeconds: Math.max(0, ...pieces.map((p) => p.ms)) / 1000,
      mailboxesPerPiece: Math.max(0, ...pieces.map((p) => p.mailboxes)),
      puts: built.puts,
      megabytes: Math.round(indexBytes / 1e5) / 10,
      bytesPerLine: Math.round(indexBytes / lines),
      lists: store.lists,
      gets: store.gets,
    };
    // An unchanged archive: what a build costs when nothing changed since the last one.
    store.reset();
    const again = await buildSearchIndex(store);

    const indexed: Array<Record<string, unknown>> = [];
    for (const [name, criteria] of QUERIES) {
      store.reset();
      const started = Date.now();
      const result = await searchArchive(store, all, criteria, { at: jobId, limit: 100 });
      const seconds = (Date.now() - started) / 1000;
      if (result.index?.mailboxes !== MAILBOXES) throw new Error(`${name}: expected the index to answer`);
      indexed.push({
        query: name,
        hits: result.total,
        seconds,
        requests: store.gets + store.ranged + store.lists,
        gets: store.gets,
        rangedGets: store.ranged,
        lists: store.lists,
        megabytes: Math.round(store.bytes / 1e4) / 100,
      });
    }
    // A small change on the large archive: the build after it, replaying whole vs per line.
    const changedLines = await writeChanges(archive, mailboxes.slice(0, CHANGED));
    const measureBuild = async (perLine: boolean) => {
      store.reset();
      const started = Date.now();
      const result = await buildSearchIndex(store, { perLine });
      return {
        seconds: (Date.now() - started) / 1000,
        rebuilt: result.rebuilt,
        updated: result.updated,
        rowsWritten: result.rows,
        puts: store.puts,
        megabytesWritten: Math.round(store.putBytes / 1e4) / 100,
        gets: store.gets,
        rangedGets: store.ranged,
        lists: store.lists,
        megabytesRead: Math.round(store.bytes / 1e4) / 100,
      };
    };
    const whole = await measureBuild(false);
    // The same build again from the index of the first job: its manifest as of job 2 removed.
    await local.delete(`index/search/job=${job2}.json`);
    const perLine = await measureBuild(true);
    const afterChange: Array<Record<string, unknown>> = [];
    for (const [name, criteria] of QUERIES.slice(0, 3)) {
      store.reset();
      const started = Date.now();
      const result = await searchArchive(store, all, criteria, { at: job2, limit: 100 });
      afterChange.push({
        query: name,
        hits: result.total,
        seconds: (Date.now() - started) / 1000,
        segments: result.index?.segments,
        requests: store.gets + store.ranged + store.lists,
        megabytes: Math.round(store.bytes / 1e4) / 100,
      });
    }

    process.stdout.write(
      `${JSON.stringify(
        {
          cpus: cpus().length,
          loadAverage: loadavg().map((l) => Math.round(l * 10) / 10),
          node: process.version,
          mailboxes: MAILBOXES,
          lines,
          writeSeconds,
          scan,
          build,
          rebuildUnchanged: { puts: again.puts, lists: store.lists, gets: store.gets },
          indexed,
          smallChange: {
            mailboxes: CHANGED,
            catalogLines: changedLines,
            buildReplayingWhole: whole,
            buildPerLine: perLine,
            searchesAfter: afterChange,
          },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Job 2: in each mailbox given, 50 items changed, 25 moved to the other folder, 25 deleted. */
async function writeChanges(
  archive: ReturnType<typeof createArchive>,
  changed: readonly string[],
): Promise<number> {
  let lines = 0;
  for (const mailboxId of changed) {
    const m = Number(mailboxId.slice(5));
    const byFolder = new Map<string, CatalogEntry[]>();
    const add = (folderId: string, e: CatalogEntry) => {
      byFolder.set(folderId, [...(byFolder.get(folderId) ?? []), e]);
      lines++;
    };
    for (let k = 0; k < 100; k++) {
      const i = (k * 7) % LINES;
      const e = upsert(m, i);
      if (e.kind !== "upsert") continue;
      if (k < 50) add(e.folderId, { ...e, meta: { ...e.meta, subject: `changed ${i} quarterly` } });
      else if (k < 75) {
        const to = e.folderId === "inbox" ? "archive" : "inbox";
        add(e.folderId, { kind: "removed", messageId: e.messageId, folderId: e.folderId });
        add(to, { ...e, folderId: to });
      } else add(e.folderId, { kind: "removed", messageId: e.messageId, folderId: e.folderId });
    }
    for (const [folderId, entries] of byFolder) {
      await archive.writeCatalogPart({ jobId: job2, mailboxId, folderId, unit: m, page: 0 }, entries);
    }
  }
  await archive.writeManifest({
    jobId: job2,
    status: "complete",
    endedAt: "2026-12-07T07:00:00.000Z",
    mailboxes: Array.from({ length: MAILBOXES }, (_, m) => {
      const mailboxId = `user-${String(m).padStart(6, "0")}`;
      return { mailboxId, status: "complete" as const, address: `${mailboxId}@contoso.test` };
    }),
  });
  return lines;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `search-scan: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
