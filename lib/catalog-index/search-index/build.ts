/**
 * Builds the search index as of a finalized job (docs/archive-format.md "Search index"). Each
 * mailbox's catalog is listed; a mailbox whose catalog up to the job is what the previous index
 * was built from keeps its rows where they are (no new object for it); the others are replayed
 * (the same point-in-time view the scan uses, senders and times completed as the scan completes
 * them) and written to new segments. The manifest is written last, so a crash leaves the previous
 * index (or none) in force, and a search falls back to scanning what no index covers.
 */
import { createHash, randomUUID } from "node:crypto";
import {
  compareJobIds,
  fromKeySegment,
  mailboxCatalogPrefix,
  parseCatalogPartKey,
  searchSegmentKey,
} from "../../archive/keys.js";
import { FinalizedJobCache, listFinalizedJobs } from "../../archive/manifest.js";
import { mailboxViewAt } from "../../archive/replay.js";
import type { ObjectStore } from "../../archive/store.js";
import { type ArchivedMailbox, mailboxesOf, requireJobs, resolveAt } from "../directory.js";
import { SearchIndexDamagedError } from "../errors.js";
import { completeMeta, lacksFields } from "../message-fields.js";
import type { ReadCounter } from "./gzip-members.js";
import {
  INDEX_FORMAT,
  INDEX_VERSION,
  type IndexManifest,
  isCurrent,
  listIndexedJobs,
  type OpenIndex,
  openIndex,
  readIndexManifest,
  writeIndexManifest,
} from "./index-manifest.js";
import { SEGMENT_REWRITE_AFTER_DAYS } from "./index-retention.js";
import { encodeSegment, type SegmentMailbox } from "./segment.js";
import { type IndexRow, rowOf } from "./terms.js";

export interface BuildIndexOptions {
  /** The point in time: `latest` (default), a finalized job id, or a date (as `--at`). */
  at?: string;
  /**
   * Rows per new segment, about (a mailbox's rows are never split, so a segment may exceed it
   * by one mailbox). Range 1–2,000,000, default 250,000 (about 60 MB of memory while it is built).
   */
  rowsPerSegment?: number;
  /** Mailboxes listed and replayed at once. Range 1–64, default 8. */
  concurrency?: number;
  /** The build's time (segment ages, {@link SEGMENT_REWRITE_AFTER_DAYS}). Default now. */
  now?: Date;
}

/** When a segment was built, from its key (the build's time leads its name); undefined if not there. */
export function segmentBuiltAt(key: string): number | undefined {
  const m = /\/(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[^/]*$/.exec(key);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, ms] = m;
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}.${ms}Z`);
  return Number.isNaN(t) ? undefined : t;
}

export interface BuildIndexResult {
  jobId: string;
  /** The manifest's key; undefined when the index as of the job was already current. */
  key?: string;
  /** Mailboxes whose rows were kept from the previous index. */
  reused: number;
  /** Mailboxes replayed into new segments. */
  rebuilt: number;
  /** Mailboxes left out (damage in their catalog: a search scans them, and reports the damage). */
  uncovered: string[];
  segmentsWritten: number;
  /** Objects written (segments and the manifest). */
  puts: number;
  rows: number;
}

/**
 * What a mailbox's view at the job is made of: the parts of each counted job (finalized, parts
 * of finalized jobs never change) and the content of the last folders record (written every
 * job, mostly unchanged: its header's SHA-256, or the whole record's for format 1).
 */
async function catalogMake(
  store: ObjectStore,
  mailboxId: string,
  counted: (jobId: string) => boolean,
): Promise<string[]> {
  const parts = new Map<string, number>();
  let folders: { jobId: string; key: string; size: number } | undefined;
  for await (const { key, size } of store.list(mailboxCatalogPrefix(mailboxId))) {
    const part = parseCatalogPartKey(key);
    if (part) {
      if (counted(part.jobId)) parts.set(part.jobId, (parts.get(part.jobId) ?? 0) + 1);
      continue;
    }
    const m = /\/job=([^/]+)\/folders\.jsonl$/.exec(key);
    const jobId = m ? fromKeySegment(m[1]!) : undefined;
    if (jobId && counted(jobId) && (!folders || compareJobIds(jobId, folders.jobId) > 0)) {
      folders = { jobId, key, size };
    }
  }
  const make = [...parts.entries()].sort(([a], [b]) => compareJobIds(a, b)).map(([j, n]) => `${j}:${n}`);
  if (folders) make.push(`folders:${await foldersHash(store, folders.key, folders.size)}`);
  return make;
}

async function foldersHash(store: ObjectStore, key: string, size: number): Promise<string> {
  const head = await store.getBytes(key).catch(() => undefined);
  if (!head) return `missing-${size}`;
  const first = head.subarray(0, Math.max(0, head.indexOf(0x0a))).toString("utf8");
  const recorded = /"sha256":"([0-9a-f]{64})"/.exec(first)?.[1];
  return recorded ?? createHash("sha256").update(head).digest("hex");
}

const sameMake = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The mailbox's rows at the job, or undefined when its catalog is damaged (left to the scan). */
async function mailboxRows(
  store: ObjectStore,
  mailboxId: string,
  jobId: string,
  finalizedJobs: FinalizedJobCache,
): Promise<IndexRow[] | undefined> {
  const view = await mailboxViewAt(store, mailboxId, jobId, { finalizedJobs });
  if (view.errors.length > 0) return undefined;
  const rows: IndexRow[] = [];
  for (const folder of view.folders) {
    const path = folder.path ?? folder.folderId;
    for (const stored of folder.messages) {
      const msg = lacksFields(stored.meta) ? { ...stored, meta: await completeMeta(store, stored) } : stored;
      rows.push(rowOf(mailboxId, path, msg));
    }
  }
  return rows;
}

export async function buildSearchIndex(
  store: ObjectStore,
  opts: BuildIndexOptions = {},
): Promise<BuildIndexResult> {
  const jobs = await requireJobs(store);
  const jobId = resolveAt(jobs, opts.at);
  const finalized = (await listFinalizedJobs(store)).filter((j) => compareJobIds(j, jobId) <= 0);
  const counted = new Set(finalized);
  const mailboxes = mailboxesOf(jobs);
  const rowsPerSegment = Math.max(1, Math.min(opts.rowsPerSegment ?? 250_000, 2_000_000));
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 8, 64));
  const counter: ReadCounter = { reads: 0, bytes: 0 };

  // The newest current index up to the job: its mailboxes' rows may be kept.
  const indexed = (await listIndexedJobs(store)).filter((j) => compareJobIds(j, jobId) <= 0);
  const previousManifest = await newestCurrent(store, indexed, finalized);
  const previous = previousManifest ? await openQuietly(store, previousManifest, counter) : undefined;
  const result: BuildIndexResult = {
    jobId,
    reused: 0,
    rebuilt: 0,
    uncovered: [],
    segmentsWritten: 0,
    puts: 0,
    rows: 0,
  };

  const cache = new FinalizedJobCache();
  const makes = new Map<string, string[]>();
  const rebuild: ArchivedMailbox[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < mailboxes.length) {
        const mailbox = mailboxes[next++]!;
        const make = await catalogMake(store, mailbox.mailboxId, (j) => counted.has(j));
        makes.set(mailbox.mailboxId, make);
        const kept = previous?.mailboxes.get(mailbox.mailboxId);
        if (!kept || !sameMake(kept.mailbox.catalog, make)) rebuild.push(mailbox);
      }
    }),
  );
  if (previousManifest?.jobId === jobId && rebuild.length === 0) {
    return { ...result, reused: mailboxes.length };
  }
  const now = (opts.now ?? new Date()).getTime();
  if (previous) rebuild.push(...sparseSegmentMailboxes(previous, rebuild, mailboxes, now));
  rebuild.sort((a, b) => compareJobIds(a.mailboxId, b.mailboxId));

  // Replay the changed mailboxes, a few at once, into segments of about rowsPerSegment rows.
  const newSegments: IndexManifest["segments"] = [];
  // Segment keys of this build: new ones, so that a crash never leaves a manifest naming bytes
  // another build replaced.
  const build = `${new Date(now).toISOString().replace(/[-:.]/g, "")}-${randomUUID().slice(0, 8)}`;
  let pending: { mailboxes: SegmentMailbox[]; rows: IndexRow[] } = { mailboxes: [], rows: [] };
  const flush = async () => {
    if (pending.mailboxes.length === 0) return;
    const { mailboxes: segMailboxes, rows } = pending;
    pending = { mailboxes: [], rows: [] };
    const key = searchSegmentKey(jobId, build, newSegments.length);
    const encoded = encodeSegment(jobId, segMailboxes, rows);
    newSegments.push({ key, directory: encoded.directory, rows: encoded.rows, exclude: [] });
    await store.put(key, encoded.bytes, { contentType: "application/gzip" });
    result.segmentsWritten++;
    result.puts++;
    result.rows += encoded.rows;
  };
  const uncovered = new Set<string>();
  for (let i = 0; i < rebuild.length; i += concurrency) {
    const batch = rebuild.slice(i, i + concurrency);
    const views = await Promise.all(batch.map((m) => mailboxRows(store, m.mailboxId, jobId, cache)));
    for (const [k, rows] of views.entries()) {
      const mailboxId = batch[k]!.mailboxId;
      if (!rows) {
        uncovered.add(mailboxId);
        continue;
      }
      pending.mailboxes.push({ mailboxId, catalog: makes.get(mailboxId)!, rows: rows.length });
      for (const row of rows) pending.rows.push(row);
      result.rebuilt++;
      if (pending.rows.length >= rowsPerSegment) await flush();
    }
  }
  await flush();

  // Previous segments stay, less the mailboxes rebuilt, left out or gone; empty ones are dropped.
  const rebuilt = new Set(rebuild.map((m) => m.mailboxId));
  const known = new Set(mailboxes.map((m) => m.mailboxId));
  const kept: IndexManifest["segments"] = [];
  if (previous && previousManifest) {
    for (const [s, ref] of previousManifest.segments.entries()) {
      const exclude = new Set(ref.exclude);
      let live = 0;
      for (const [mailboxId, where] of previous.mailboxes) {
        if (where.segment !== s) continue;
        if (rebuilt.has(mailboxId) || !known.has(mailboxId)) exclude.add(mailboxId);
        else live++;
      }
      if (live > 0) kept.push({ ...ref, exclude: [...exclude].sort() });
    }
    result.reused = mailboxes.length - rebuild.length;
  }
  result.uncovered = [...uncovered].sort();
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    jobId,
    finalizedJobs: finalized,
    segments: [...kept, ...newSegments],
  };
  result.key = await writeIndexManifest(store, manifest);
  result.puts++;
  return result;
}

/**
 * Segments less than half of whose rows still count after this build are folded into the new
 * ones (their live mailboxes replayed too), so that searches do not keep reading the
 * dictionaries of mostly dead segments; and so are segments older than
 * SEGMENT_REWRITE_AFTER_DAYS (or of unknown age), before the lifecycle rule expires them.
 * Returns the mailboxes to replay besides `rebuild`.
 */
function sparseSegmentMailboxes(
  previous: OpenIndex,
  rebuild: readonly ArchivedMailbox[],
  mailboxes: readonly ArchivedMailbox[],
  now: number,
): ArchivedMailbox[] {
  const leaving = new Set(rebuild.map((m) => m.mailboxId));
  const liveRows = previous.segments.map(() => 0);
  for (const [mailboxId, where] of previous.mailboxes) {
    if (!leaving.has(mailboxId)) liveRows[where.segment]! += where.mailbox.rows;
  }
  const old = (key: string) => now - (segmentBuiltAt(key) ?? 0) > SEGMENT_REWRITE_AFTER_DAYS * 86_400_000;
  const sparse = new Set(
    previous.segments.flatMap((seg, s) => (liveRows[s]! * 2 < seg.directory.rows || old(seg.key) ? [s] : [])),
  );
  return mailboxes.filter((m) => {
    const where = previous.mailboxes.get(m.mailboxId);
    return where !== undefined && sparse.has(where.segment) && !leaving.has(m.mailboxId);
  });
}

/** The index opened, or undefined when a segment of it is damaged (the build starts afresh). */
async function openQuietly(
  store: ObjectStore,
  manifest: IndexManifest,
  counter: ReadCounter,
): Promise<OpenIndex | undefined> {
  try {
    return await openIndex(store, manifest, counter);
  } catch (error) {
    if (error instanceof SearchIndexDamagedError) return undefined;
    throw error;
  }
}

/** The newest of the indexed jobs whose manifest is current (undamaged, same finalized jobs). */
async function newestCurrent(
  store: ObjectStore,
  indexed: readonly string[],
  finalized: readonly string[],
): Promise<IndexManifest | undefined> {
  for (const jobId of [...indexed].reverse()) {
    try {
      const manifest = await readIndexManifest(store, jobId);
      if (manifest && isCurrent(manifest, finalized)) return manifest;
    } catch {
      // A damaged manifest is passed over: the build writes a whole new one.
    }
  }
  return undefined;
}
