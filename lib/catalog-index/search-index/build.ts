/**
 * Builds the search index as of a finalized job (docs/archive-format.md "Search index"). Each
 * mailbox's catalog is listed (for a mailbox the previous index holds, only the jobs after that
 * index's: {@link mailboxCatalogSince}); a mailbox whose catalog up to the job is what the previous index
 * was built from keeps its rows where they are (no new object for it); the others are replayed
 * (the same point-in-time view the scan uses, senders and times completed as the scan completes
 * them) and written to new segments. The manifest is written last, so a crash leaves the previous
 * index (or none) in force, and a search falls back to scanning what no index covers.
 *
 * The work grows with the archive (a first build replays every mailbox), so it is done in pieces
 * ({@link buildSearchIndexInPieces}): a run of mailboxes in id order, its segments, a record of
 * them and a checkpoint (build-progress.ts), so that an invocation stops near its deadline and
 * another goes on; the manifest is assembled from the pieces' records after the last.
 */
import { createHash, randomUUID } from "node:crypto";
import { type JobCatalog, listMailboxCatalog, readCatalogPart, readFolders } from "../../archive/catalog.js";
import { DamagedArchiveError } from "../../archive/errors.js";
import { compareJobIds, foldersKey, fromKeySegment, searchSegmentKey } from "../../archive/keys.js";
import { FinalizedJobCache, listFinalizedJobs, manifestMailboxes } from "../../archive/manifest.js";
import { jobReading, mailboxViewAt } from "../../archive/replay.js";
import type { ObjectStore } from "../../archive/store.js";
import { type ArchivedJob, type ArchivedMailbox, mailboxesOf, requireJobs, resolveAt } from "../directory.js";
import { SearchIndexDamagedError } from "../errors.js";
import { completeMeta, lacksFields } from "../message-fields.js";
import {
  BUILD_PROGRESS_FORMAT,
  BUILD_PROGRESS_VERSION,
  type BuildPiece,
  type BuildProgress,
  type BuildProgressStore,
  memoryProgress,
} from "./build-progress.js";
import { CatalogDelta } from "./catalog-delta.js";
import type { ReadCounter } from "./gzip-members.js";
import {
  INDEX_FORMAT,
  INDEX_VERSION,
  type IndexedMailbox,
  type IndexManifest,
  isCurrent,
  listIndexedJobs,
  maskedRows,
  type OpenIndex,
  openIndex,
  readIndexManifest,
  type SegmentRef,
  writeIndexManifest,
} from "./index-manifest.js";
import { SEGMENT_REWRITE_AFTER_DAYS } from "./index-retention.js";
import { matchingRows, readRows } from "./query.js";
import {
  encodeSegment,
  idKey,
  lookupIds,
  readSegmentMasks,
  type SegmentMailbox,
  type SegmentMask,
} from "./segment.js";
import { type IndexRow, rowOf, type TermTest } from "./terms.js";

/** Catalog parts read at once while a mailbox's later jobs are applied (S3 GETs in flight). */
const READ_WINDOW = 16;

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
  /**
   * Update a changed mailbox per changed line where the index allows it (default true); false
   * replays every changed mailbox whole, as builds of index version 1 did (the benchmark compares
   * the two).
   */
  perLine?: boolean;
  /**
   * Mailboxes per piece of the build at most (a piece also ends once it holds about
   * rowsPerSegment rows, or near the deadline). Range 1–100,000, default
   * {@link MAILBOXES_PER_PIECE}: at the benchmark's rate a piece of small mailboxes takes seconds.
   */
  mailboxesPerPiece?: number;
  /** Milliseconds left in this invocation (Lambda's getRemainingTimeInMillis). Absent: no limit. */
  remainingMs?: () => number;
  /** Stop after a piece when fewer than this many milliseconds are left. Default 0. */
  deadlineMarginMs?: number;
  /**
   * Where the build's checkpoint and piece records are kept: `archivedProgress(store)` to go on
   * across invocations; default in memory (the build runs whole in this call).
   */
  progress?: BuildProgressStore;
  /** Called after each piece's checkpoint (the benchmark's per-piece figures). */
  onPiece?: (figures: IndexPieceFigures) => void;
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
  /** Mailboxes replayed whole into new segments. */
  rebuilt: number;
  /** Mailboxes updated per changed line: their changed rows in the build's segment of changes. */
  updated: number;
  /** Mailboxes left out (damage in their catalog: a search scans them, and reports the damage). */
  uncovered: string[];
  segmentsWritten: number;
  /** Segments of changes merged into one by this build (0: none). */
  merged: number;
  /** Objects written (segments and the manifest). */
  puts: number;
  /** Rows written. */
  rows: number;
  /** Ranged reads of the index (the catalog's reads not counted). */
  reads: ReadCounter;
  /** Pieces the build ran in (over every invocation it took). */
  pieces: number;
}

/** A mailbox's catalog up to the job: its counted jobs and what its view is made of. */
interface MailboxCatalog {
  /** The counted jobs' catalogs (parts in replay order), in time order. */
  jobs: JobCatalog[];
  /**
   * What the view is made of: the parts of each counted job (finalized, parts of finalized jobs
   * never change) and the content of the last folders record (written every job, mostly
   * unchanged: its header's SHA-256, or the whole record's for format 1).
   */
  make: string[];
  /** The job of the newest folders record (its hash is in `make`). */
  foldersJob?: string;
}

/**
 * One LIST of the mailbox's catalog, and a small GET of its newest folders record's header
 * unless the index already knows that record (`known`: the mailbox's line in the index; a
 * finalized job's folders record never changes).
 */
async function mailboxCatalog(
  store: ObjectStore,
  mailboxId: string,
  counted: (jobId: string) => boolean,
  known: SegmentMailbox | undefined,
): Promise<MailboxCatalog> {
  const jobs = (await listMailboxCatalog(store, mailboxId)).filter((j) => counted(j.jobId));
  const make = jobs.filter((j) => j.parts.length > 0).map((j) => `${j.jobId}:${j.parts.length}`);
  const folders = jobs.findLast((j) => j.foldersKey !== undefined);
  if (!folders) return { jobs, make };
  const knownHash =
    known?.foldersJob === folders.jobId ? known.catalog.findLast((m) => m.startsWith("folders:")) : undefined;
  make.push(knownHash ?? `folders:${await foldersHash(store, folders.foldersKey!)}`);
  return { jobs, make, foldersJob: folders.jobId };
}

/**
 * Later jobs up to which a mailbox the index holds is listed job by job ({@link mailboxCatalogSince});
 * an index further behind lists the mailbox's whole catalog once instead.
 */
export const MAX_JOBS_LISTED_APART = 4;

/**
 * A mailbox the index holds, seen through the jobs after the index's alone: one LIST per later
 * job (`catalog/mailbox=<m>/job=<j>/`: its parts and folders record), instead of the mailbox's
 * whole catalog, which grows with every job the archive keeps. What the catalog up to the
 * index's job was made of is the index's line for it: an index that is current was built from
 * the same finalized jobs up to its job, and their parts never change (an expired part leaves the
 * view it was part of as it was: a snapshot holds it). Undefined when the line does not name the
 * job of its folders record (version 1 segments, or no record at all): the whole catalog is
 * listed then.
 */
async function mailboxCatalogSince(
  store: ObjectStore,
  mailboxId: string,
  known: SegmentMailbox,
  later: readonly string[],
): Promise<MailboxCatalog | undefined> {
  const knownFolders = known.catalog.findLast((m) => m.startsWith("folders:"));
  if (known.foldersJob === undefined || knownFolders === undefined) return undefined;
  const listed = (
    await Promise.all(later.map(async (jobId) => (await listMailboxCatalog(store, mailboxId, jobId))[0]))
  ).filter((j): j is JobCatalog => j !== undefined);
  // The index's folders record stands for the jobs up to its job (their parts are not needed:
  // a changed mailbox reads the later jobs' parts, a replayed one lists its whole catalog).
  const before: JobCatalog = {
    jobId: known.foldersJob,
    parts: [],
    foldersKey: foldersKey(mailboxId, known.foldersJob),
  };
  const make = [
    ...known.catalog.filter((m) => !m.startsWith("folders:")),
    ...listed.filter((j) => j.parts.length > 0).map((j) => `${j.jobId}:${j.parts.length}`),
  ];
  const folders = listed.findLast((j) => j.foldersKey !== undefined);
  make.push(folders ? `folders:${await foldersHash(store, folders.foldersKey!)}` : knownFolders);
  return { jobs: [before, ...listed], make, foldersJob: folders?.jobId ?? known.foldersJob };
}

/**
 * The mailboxes a build covers: every mailbox a job named (its manifest, or its report). With a
 * previous index, those it holds and those named by the jobs after its job, so that a build reads
 * the mailbox lists of the jobs since the index (a large job's manifest keeps its list in pages),
 * not every job's, which grow with the jobs the archive keeps times the tenant.
 */
async function mailboxesToIndex(
  store: ObjectStore,
  jobs: readonly ArchivedJob[],
  previous: OpenIndex | undefined,
): Promise<ArchivedMailbox[]> {
  const since = previous?.manifest.jobId;
  const read = since === undefined ? jobs : jobs.filter((j) => compareJobIds(j.jobId, since) > 0);
  const named = mailboxesOf(
    await Promise.all(
      read.map(async (job): Promise<ArchivedJob> => {
        if (!job.manifest?.mailboxPages) return job;
        try {
          const listed = await manifestMailboxes(store, job.manifest);
          return { ...job, manifest: { ...job.manifest, mailboxes: [...listed.values()] } };
        } catch (error) {
          // As listing the jobs does: a damaged page leaves the job to its report.
          if (!(error instanceof DamagedArchiveError)) throw error;
          const { manifest: _damaged, ...rest } = job;
          return rest;
        }
      }),
    ),
  );
  if (!previous || since === undefined) return named;
  const ids = new Set(named.map((m) => m.mailboxId));
  const held = [...previous.mailboxes.keys()]
    .filter((id) => !ids.has(id))
    .map((id) => ({ mailboxId: id, address: id, lastJobId: since, lastStatus: "indexed" }));
  return [...named, ...held];
}

/** The key of the newest folders record among the jobs. */
function newestFolders(jobs: readonly JobCatalog[]): string | undefined {
  return jobs.findLast((j) => j.foldersKey !== undefined)?.foldersKey;
}

/** A mailbox's line in a new segment: its rows there and what its view is made of. */
const lineOf = (mailboxId: string, catalog: MailboxCatalog, rows: number): SegmentMailbox => ({
  mailboxId,
  catalog: catalog.make,
  rows,
  ...(catalog.foldersJob !== undefined ? { foldersJob: catalog.foldersJob } : {}),
});

async function foldersHash(store: ObjectStore, key: string): Promise<string> {
  const head = await store.getBytes(key).catch(() => undefined);
  if (!head) return "missing";
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

/** Mailboxes per piece of a build, by default (see {@link BuildIndexOptions.mailboxesPerPiece}). */
export const MAILBOXES_PER_PIECE = 2_000;

/** What one piece of a build did, for the benchmark's figures. */
export interface IndexPieceFigures {
  /** The piece's number in the build (0 first). */
  piece: number;
  mailboxes: number;
  /** Rows written (whole views and changes). */
  rows: number;
  /** Wall time from its first mailbox to its checkpoint. */
  ms: number;
}

/** A build in pieces: done (the manifest written), or stopped near the deadline at a checkpoint. */
export type IndexBuildOutcome =
  | { done: true; result: BuildIndexResult }
  | {
      done: false;
      progress: BuildProgress;
      /** Mailboxes the build covers, and those done so far. */
      mailboxes: number;
      mailboxesDone: number;
    };

/** How one mailbox came out of a piece. */
type MailboxOutcome =
  | { kind: "kept" }
  | { kind: "uncovered" }
  | { kind: "rebuilt"; line: SegmentMailbox; rows: IndexRow[] }
  | { kind: "updated"; line: SegmentMailbox; rows: IndexRow[]; masks: SegmentMask[] };

/** Builds the search index as of a job in one go (`mailstream index`): every piece in this process. */
export async function buildSearchIndex(
  store: ObjectStore,
  opts: Omit<BuildIndexOptions, "remainingMs" | "progress"> = {},
): Promise<BuildIndexResult> {
  const outcome = await buildSearchIndexInPieces(store, opts);
  // Without a deadline no piece stops early.
  if (!outcome.done) throw new Error("search index: a build without a deadline stopped before its end");
  return outcome.result;
}

/**
 * Builds the search index as of a job in pieces (docs/archive-format.md "Built in pieces"): the
 * mailboxes in id order, a piece at a time, each piece writing its segments, a record of them and
 * a checkpoint; near the deadline (`remainingMs` below `deadlineMarginMs`) it stops after a piece,
 * and a later call with the same `progress` store goes on from the checkpoint. The manifest is
 * written when every piece is done, so until then searches use the previous index. Every call
 * does at least one piece, so a build always advances.
 */
export async function buildSearchIndexInPieces(
  store: ObjectStore,
  opts: BuildIndexOptions = {},
): Promise<IndexBuildOutcome> {
  // Each job's manifest and report summary, without the mailbox lists of large jobs' manifests:
  // those of the jobs after the previous index are read below, not every job's.
  const jobs = await requireJobs(store, { mailboxes: false });
  const jobId = resolveAt(jobs, opts.at);
  const finalized = (await listFinalizedJobs(store)).filter((j) => compareJobIds(j, jobId) <= 0);
  const counted = new Set(finalized);
  const rowsPerSegment = Math.max(1, Math.min(opts.rowsPerSegment ?? 250_000, 2_000_000));
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 8, 64));
  const perPiece = Math.max(1, Math.min(opts.mailboxesPerPiece ?? MAILBOXES_PER_PIECE, 100_000));
  const perLine = opts.perLine ?? true;
  const margin = opts.deadlineMarginMs ?? 0;
  const timeLeft = () => opts.remainingMs === undefined || opts.remainingMs() > margin;
  const keeper = opts.progress ?? memoryProgress();
  const counter: ReadCounter = { reads: 0, bytes: 0 };

  // The newest current index up to the job: its mailboxes' rows may be kept.
  const indexed = (await listIndexedJobs(store)).filter((j) => compareJobIds(j, jobId) <= 0);
  const previousManifest = await newestCurrent(store, indexed, finalized);
  let previous = previousManifest ? await openQuietly(store, previousManifest, counter) : undefined;
  // A damaged index is not built upon.
  const base = previous ? previousManifest : undefined;

  const saved = await keeper.read(jobId).catch((error: unknown) => {
    // A damaged checkpoint: the build starts afresh (new segment keys).
    if (error instanceof SearchIndexDamagedError) return undefined;
    throw error;
  });
  const resumable =
    saved !== undefined &&
    saved.finished !== true &&
    sameMake(saved.finalizedJobs, finalized) &&
    saved.base === base?.jobId;
  const now = (opts.now ?? new Date()).getTime();
  let progress: BuildProgress = resumable
    ? saved
    : {
        format: BUILD_PROGRESS_FORMAT,
        version: BUILD_PROGRESS_VERSION,
        jobId,
        finalizedJobs: finalized,
        ...(base ? { base: base.jobId } : {}),
        // Segment keys of this build: new ones, so that a crash never leaves a manifest naming
        // bytes another build replaced.
        build: `${new Date(now).toISOString().replace(/[-:.]/g, "")}-${randomUUID().slice(0, 8)}`,
        now,
        pieces: 0,
        written: 0,
        counts: {
          reused: 0,
          rebuilt: 0,
          updated: 0,
          uncovered: 0,
          segmentsWritten: 0,
          puts: 0,
          rows: 0,
          reads: 0,
          readBytes: 0,
        },
      };
  const readsBefore = { reads: progress.counts.reads, bytes: progress.counts.readBytes };
  const counts = { ...progress.counts };
  const syncReads = () => {
    counts.reads = readsBefore.reads + counter.reads;
    counts.readBytes = readsBefore.bytes + counter.bytes;
  };
  let written = progress.written;
  const writeSegment = async (
    segMailboxes: SegmentMailbox[],
    rows: IndexRow[],
    masks: SegmentMask[] = [],
  ): Promise<SegmentRef> => {
    const key = searchSegmentKey(jobId, progress.build, written++);
    const encoded = encodeSegment(jobId, segMailboxes, rows, undefined, masks);
    await store.put(key, encoded.bytes, { contentType: "application/gzip" });
    counts.segmentsWritten++;
    counts.puts++;
    counts.rows += encoded.rows;
    return { key, directory: encoded.directory, rows: encoded.rows, exclude: [] };
  };
  const checkpoint = async (next: Partial<BuildProgress>) => {
    syncReads();
    progress = { ...progress, ...next, written, counts: { ...counts } };
    await keeper.save(progress);
  };

  // Built upon the index of an earlier job (not the same job's, which only mailboxes changed
  // since would make a build of).
  const uponEarlier = base !== undefined && base.jobId !== jobId;
  // Too many segments of changes (or one about to expire): fold them into one, first (once per
  // build: the checkpoint names the segment, so that every piece masks the same segments).
  if (!resumable && previous && uponEarlier && mustMerge(previous, perLine, progress.now)) {
    const merged = await mergeDeltas(store, previous, counter);
    const segment = { ...(await writeSegment(merged.mailboxes, merged.rows, merged.masks)), delta: true };
    await checkpoint({ merged: { segment, segments: merged.segments } });
  } else if (!resumable) await checkpoint({});
  const baseSegments: SegmentRef[] = base
    ? progress.merged
      ? [...base.segments.filter((s) => !s.delta), progress.merged.segment]
      : [...base.segments]
    : [];
  if (base && progress.merged)
    previous = await openIndex(store, { ...base, segments: baseSegments }, counter);

  // The mailboxes of the jobs up to the build's (the same list in every piece, whatever job is
  // finalized meanwhile), in id order: a piece goes on after the last one done.
  const upTo = jobs.filter((j) => compareJobIds(j.jobId, jobId) <= 0);
  const mailboxes = (await mailboxesToIndex(store, upTo, previous)).sort((a, b) =>
    compareJobIds(a.mailboxId, b.mailboxId),
  );
  // The finalized jobs after the index's: what a mailbox the index holds may have changed in.
  const later = base ? finalized.filter((j) => compareJobIds(j, base.jobId) > 0) : [];
  // Segments to fold into the new ones (judged on the index built upon, the same in every piece).
  const stale = previous ? staleSegments(previous, progress.now) : new Set<number>();
  const cache = new FinalizedJobCache();

  /** One mailbox: kept as it is, updated per changed line (a delta), or replayed whole. */
  const indexMailbox = async (mailboxId: string): Promise<MailboxOutcome> => {
    const kept = previous?.mailboxes.get(mailboxId);
    const since =
      kept && later.length <= MAX_JOBS_LISTED_APART
        ? await mailboxCatalogSince(store, mailboxId, kept.mailbox, later)
        : undefined;
    const catalog = since ?? (await mailboxCatalog(store, mailboxId, (j) => counted.has(j), kept?.mailbox));
    const folded = kept?.segments.some((s) => stale.has(s)) ?? false;
    if (kept && !folded && sameMake(kept.mailbox.catalog, catalog.make)) return { kind: "kept" };
    if (kept && previous && base && perLine && !folded && updatable(previous, kept, catalog, base.jobId)) {
      const change = await mailboxChanges(store, previous, mailboxId, catalog, base.jobId, cache, counter);
      if (change === "damaged") return { kind: "uncovered" };
      if (change !== "whole") {
        return { kind: "updated", line: lineOf(mailboxId, catalog, change.rows.length), ...change };
      }
    }
    const rows = await mailboxRows(store, mailboxId, jobId, cache);
    if (!rows) return { kind: "uncovered" };
    return { kind: "rebuilt", line: lineOf(mailboxId, catalog, rows.length), rows };
  };

  const todo = mailboxes.filter((m) => progress.after === undefined || m.mailboxId > progress.after);
  let at = 0;
  let first = true;
  while (at < todo.length) {
    if (!first && !timeLeft()) {
      return {
        done: false,
        progress,
        mailboxes: mailboxes.length,
        mailboxesDone: mailboxes.length - (todo.length - at),
      };
    }
    first = false;
    const started = Date.now();
    // A piece: mailboxes taken a few at once until it holds perPiece of them, about a segment's
    // rows, or the deadline nears (its first mailboxes are always taken).
    const from = at;
    const outcomes: MailboxOutcome[] = [];
    let rowsTaken = 0;
    const full = () =>
      at >= todo.length || at - from >= perPiece || rowsTaken >= rowsPerSegment || (at > from && !timeLeft());
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (!full()) {
          const n = at++ - from;
          const outcome = await indexMailbox(todo[from + n]!.mailboxId);
          outcomes[n] = outcome;
          if (outcome.kind === "rebuilt" || outcome.kind === "updated") rowsTaken += outcome.rows.length;
        }
      }),
    );
    // Whole views into segments of about rowsPerSegment rows (a mailbox's rows never split: a
    // segment exceeds it by one mailbox at most), in id order; changes into one segment.
    let whole = { mailboxes: [] as SegmentMailbox[], rows: [] as IndexRow[] };
    const delta = { mailboxes: [] as SegmentMailbox[], rows: [] as IndexRow[], masks: [] as SegmentMask[] };
    const piece: BuildPiece = { segments: [], replaced: [], uncovered: [] };
    let pieceRows = 0;
    const flush = async () => {
      if (whole.mailboxes.length === 0) return;
      const { mailboxes: segMailboxes, rows } = whole;
      whole = { mailboxes: [], rows: [] };
      piece.segments.push(await writeSegment(segMailboxes, rows));
    };
    for (const [n, outcome] of outcomes.entries()) {
      const mailboxId = todo[from + n]!.mailboxId;
      switch (outcome.kind) {
        case "kept":
          counts.reused++;
          break;
        case "uncovered":
          counts.uncovered++;
          piece.uncovered.push(mailboxId);
          piece.replaced.push(mailboxId);
          break;
        case "rebuilt":
          counts.rebuilt++;
          whole.mailboxes.push(outcome.line);
          for (const row of outcome.rows) whole.rows.push(row);
          pieceRows += outcome.rows.length;
          piece.replaced.push(mailboxId);
          if (whole.rows.length >= rowsPerSegment) await flush();
          break;
        case "updated":
          counts.updated++;
          delta.mailboxes.push(outcome.line);
          for (const row of outcome.rows) delta.rows.push(row);
          pieceRows += outcome.rows.length;
          delta.masks.push(...outcome.masks);
          break;
      }
    }
    await flush();
    if (delta.mailboxes.length > 0) {
      piece.segments.push({ ...(await writeSegment(delta.mailboxes, delta.rows, delta.masks)), delta: true });
    }
    await keeper.savePiece(progress, progress.pieces, piece);
    await checkpoint({ after: todo[at - 1]!.mailboxId, pieces: progress.pieces + 1 });
    opts.onPiece?.({
      piece: progress.pieces - 1,
      mailboxes: at - from,
      rows: pieceRows,
      ms: Date.now() - started,
    });
  }

  syncReads();
  const result: BuildIndexResult = {
    jobId,
    reused: counts.reused,
    rebuilt: counts.rebuilt,
    updated: counts.updated,
    uncovered: [],
    segmentsWritten: counts.segmentsWritten,
    merged: progress.merged?.segments ?? 0,
    puts: counts.puts,
    rows: counts.rows,
    reads: { reads: counts.reads, bytes: counts.readBytes },
    pieces: progress.pieces,
  };
  // The index as of the job is what the archive holds: nothing to write.
  if (!uponEarlier && base && counts.rebuilt + counts.updated + counts.uncovered === 0) {
    await checkpoint({ finished: true });
    return { done: true, result: { ...result, reused: mailboxes.length } };
  }

  // Previous segments stay, less the mailboxes replayed, left out or gone; empty ones are dropped.
  const pieces = await keeper.readPieces(progress);
  const replaced = new Set(pieces.flatMap((p) => p.replaced));
  const known = new Set(mailboxes.map((m) => m.mailboxId));
  const kept: SegmentRef[] = [];
  if (previous) {
    for (const [s, ref] of baseSegments.entries()) {
      const exclude = new Set(ref.exclude);
      let live = 0;
      for (const line of previous.lines[s]!) {
        if (exclude.has(line.mailboxId)) continue;
        if (replaced.has(line.mailboxId) || !known.has(line.mailboxId)) exclude.add(line.mailboxId);
        else live++;
      }
      if (live > 0) kept.push({ ...ref, exclude: [...exclude].sort() });
    }
  }
  result.uncovered = pieces.flatMap((p) => p.uncovered).sort();
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    jobId,
    finalizedJobs: finalized,
    segments: [...kept, ...pieces.flatMap((p) => p.segments)],
  };
  result.key = await writeIndexManifest(store, manifest);
  counts.puts++;
  result.puts = counts.puts;
  await checkpoint({ finished: true });
  return { done: true, result };
}

/**
 * Whether a changed mailbox can be updated per changed line: every segment holding its rows has
 * the item-id lookup (version 2), and its catalog up to the index's job is what the index was
 * built from (only later jobs added parts; an expired or late part means a replay).
 */
function updatable(
  index: OpenIndex,
  kept: IndexedMailbox,
  catalog: MailboxCatalog,
  indexJob: string,
): boolean {
  if (!kept.segments.every((s) => index.segments[s]!.directory.ids)) return false;
  const before = catalog.make.filter(
    (m) => !m.startsWith("folders:") && compareJobIds(m.slice(0, m.lastIndexOf(":")), indexJob) <= 0,
  );
  const was = kept.mailbox.catalog.filter((m) => !m.startsWith("folders:"));
  return sameMake(before, was);
}

/** The rows a mailbox's later jobs wrote and the masks on its older rows; or why it cannot be. */
async function mailboxChanges(
  store: ObjectStore,
  index: OpenIndex,
  mailboxId: string,
  catalog: MailboxCatalog,
  indexJob: string,
  cache: FinalizedJobCache,
  counter: ReadCounter,
): Promise<{ rows: IndexRow[]; masks: SegmentMask[] } | "whole" | "damaged"> {
  const later = catalog.jobs.filter((j) => compareJobIds(j.jobId, indexJob) > 0);
  const earlier = catalog.jobs.filter((j) => compareJobIds(j.jobId, indexJob) <= 0);
  // Rows carry their folder's path: a tree whose paths changed is replayed whole.
  const trees = await folderPaths(
    store,
    mailboxId,
    newestFolders(earlier),
    newestFolders(catalog.jobs),
    cache,
  );
  if (trees === "damaged") return "damaged";
  if (!trees) return "whole";
  const delta = new CatalogDelta();
  for (const job of later) {
    const { applyResets, requireHeader } = await jobReading(store, mailboxId, job.jobId, cache);
    for (let i = 0; i < job.parts.length; i += READ_WINDOW) {
      const reads = await Promise.all(
        job.parts
          .slice(i, i + READ_WINDOW)
          .map((part) => readCatalogPart(store, part.key, { requireHeader })),
      );
      for (const read of reads) {
        // As the whole replay does: a damaged line leaves the mailbox to the scan.
        if (read.errors.length > 0) return "damaged";
        for (const entry of read.entries) delta.apply(entry, job.jobId, applyResets);
      }
    }
  }
  const masks = await masksOf(store, index, mailboxId, delta, trees, counter);
  const rows: IndexRow[] = [];
  for (const stored of delta.messages()) {
    const msg = lacksFields(stored.meta) ? { ...stored, meta: await completeMeta(store, stored) } : stored;
    rows.push(rowOf(mailboxId, trees(msg.folderId), msg));
  }
  return { rows, masks };
}

/**
 * The path rows show for a folder, when the tree as of the index and the newest one give every
 * folder the same path (else undefined: rows of the index would show old paths).
 */
async function folderPaths(
  store: ObjectStore,
  mailboxId: string,
  before: string | undefined,
  after: string | undefined,
  cache: FinalizedJobCache,
): Promise<((folderId: string) => string) | undefined | "damaged"> {
  const read = async (key: string | undefined) => {
    if (!key) return new Map<string, string>();
    const jobOfKey = /\/job=([^/]+)\/folders\.jsonl$/.exec(key)?.[1];
    const { requireHeader } = await jobReading(store, mailboxId, fromKeySegment(jobOfKey ?? ""), cache);
    const folders = await readFolders(store, key, { requireHeader });
    if (folders.errors.length > 0) return undefined;
    return new Map<string, string>(folders.entries.map((f) => [f.folderId, f.path ?? f.folderId]));
  };
  const [old, now] = await Promise.all([read(before), before === after ? null : read(after)]);
  if (!old || now === undefined) return "damaged";
  const paths = now ?? old;
  for (const id of new Set([...old.keys(), ...paths.keys()])) {
    if ((old.get(id) ?? id) !== (paths.get(id) ?? id)) return undefined;
  }
  return (folderId) => paths.get(folderId) ?? folderId;
}

/**
 * The mailbox's rows in the index that the later jobs replaced or removed: its items looked up in
 * each segment holding its rows (item-id lookup), and for a folder enumerated afresh every row in
 * it (its path's posting list, then the rows themselves for their folder ids).
 */
async function masksOf(
  store: ObjectStore,
  index: OpenIndex,
  mailboxId: string,
  delta: CatalogDelta,
  path: (folderId: string) => string,
  counter: ReadCounter,
): Promise<SegmentMask[]> {
  const ids = delta.touchedIds().map((id) => [mailboxId, id] as const);
  const chain = index.mailboxes.get(mailboxId)!.segments;
  return Promise.all(
    chain.map(async (s) => {
      const seg = index.segments[s]!;
      const already = new Set(index.masked[s]!.get(mailboxId) ?? []);
      const rows = new Set<number>();
      const found = await lookupIds(store, seg.key, seg.directory, ids, counter);
      for (const [, id] of ids) {
        const at = found.get(idKey(mailboxId, id));
        if (at && !already.has(at.row) && delta.masks(id, at.folderId)) rows.add(at.row);
      }
      if (delta.resets.size > 0) {
        const lower = new Set([...delta.resets].map((f) => path(f).toLowerCase()));
        const tests: TermTest[] = [
          { field: "m", accepts: (t) => t === mailboxId },
          { field: "f", accepts: (t) => lower.has(t) },
        ];
        const candidates = (await matchingRows(store, seg, tests, {}, counter)).filter(
          (n) => !already.has(n),
        );
        const read = await readRows(store, seg, candidates, counter);
        read.forEach((row, i) => {
          if (delta.resets.has(row.msg.folderId)) rows.add(candidates[i]!);
        });
      }
      return { segment: seg.key, mailboxId, rows: [...rows].sort((a, b) => a - b) };
    }),
  );
}

/** Segments of changes at most (a search reads each); one more and the build merges them. */
export const MAX_DELTA_SEGMENTS = 8;

/**
 * Whether the index's segments of changes are to be merged into one before this build: one more
 * would pass MAX_DELTA_SEGMENTS, or one is older than the rewrite age (the lifecycle rule would
 * expire it).
 */
function mustMerge(index: OpenIndex, adding: boolean, now: number): boolean {
  const deltas = index.manifest.segments.filter((s) => s.delta);
  if (deltas.length === 0) return false;
  return deltas.length + (adding ? 1 : 0) > MAX_DELTA_SEGMENTS || deltas.some((s) => isOld(s.key, now));
}

const isOld = (key: string, now: number) =>
  now - (segmentBuiltAt(key) ?? 0) > SEGMENT_REWRITE_AFTER_DAYS * 86_400_000;

/**
 * The index's segments of changes as one: their counted rows (read whole: what changed since the
 * mailboxes were last replayed, not the mailboxes), each mailbox's newest line, and their masks
 * on the other segments.
 */
async function mergeDeltas(
  store: ObjectStore,
  index: OpenIndex,
  counter: ReadCounter,
): Promise<{ mailboxes: SegmentMailbox[]; rows: IndexRow[]; masks: SegmentMask[]; segments: number }> {
  const refs = index.manifest.segments;
  const merged = new Set(refs.flatMap((r, s) => (r.delta ? [s] : [])));
  const rows: IndexRow[] = [];
  const lines = new Map<string, SegmentMailbox>();
  const masks = new Map<string, SegmentMask>();
  for (const s of merged) {
    const seg = index.segments[s]!;
    const exclude = new Set(refs[s]!.exclude);
    for (const line of index.lines[s]!) if (!exclude.has(line.mailboxId)) lines.set(line.mailboxId, line);
    const masked = new Set(maskedRows(index, s));
    const all = Array.from({ length: seg.directory.rows }, (_, n) => n).filter((n) => !masked.has(n));
    for (const row of await readRows(store, seg, all, counter)) if (!exclude.has(row.m)) rows.push(row);
    for (const mask of await readSegmentMasks(store, seg.key, seg.directory, counter)) {
      const target = refs.findIndex((r) => r.key === mask.segment);
      if (target < 0 || merged.has(target)) continue;
      const id = `${mask.segment}\n${mask.mailboxId}`;
      const known = masks.get(id);
      masks.set(id, {
        ...mask,
        rows: [...new Set([...(known?.rows ?? []), ...mask.rows])].sort((a, b) => a - b),
      });
    }
  }
  const count = new Map<string, number>();
  for (const row of rows) count.set(row.m, (count.get(row.m) ?? 0) + 1);
  const mailboxes = [...lines.values()].map((l) => ({ ...l, rows: count.get(l.mailboxId) ?? 0 }));
  return { mailboxes, rows, masks: [...masks.values()], segments: merged.size };
}

/**
 * Segments of whole views less than half of whose rows still count are folded into the new ones
 * (their live mailboxes replayed), so that searches do not keep reading the dictionaries of
 * mostly dead segments; and so are segments older than SEGMENT_REWRITE_AFTER_DAYS (or of unknown
 * age), before the lifecycle rule expires them. Judged on the index built upon, as every piece
 * of the build sees it (a segment that this build leaves mostly dead is folded by the next).
 */
function staleSegments(previous: OpenIndex, now: number): Set<number> {
  const refs = previous.manifest.segments;
  const liveRows = previous.segments.map(() => 0);
  for (const [s, lines] of previous.lines.entries()) {
    const exclude = new Set(refs[s]!.exclude);
    for (const line of lines) {
      if (exclude.has(line.mailboxId)) continue;
      liveRows[s]! += line.rows - (previous.masked[s]!.get(line.mailboxId)?.length ?? 0);
    }
  }
  return new Set(
    refs.flatMap((ref, s) => (!ref.delta && (liveRows[s]! * 2 < ref.rows || isOld(ref.key, now)) ? [s] : [])),
  );
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
