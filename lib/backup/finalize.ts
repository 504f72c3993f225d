import { FatalError } from "../errors.js";
import { scaledDeadlineMargin } from "./deadline.js";
import type { FinalizeArchivePort, FinalizeProgress, FinalizeStatePort, ReportProgress } from "./ports.js";
import {
  buildJobReport,
  emptyTally,
  JOB_REPORT_PAGED_LISTS,
  type JobReport,
  mailboxEntry,
  planUnitEntry,
  type ReportHead,
  reportSummary,
  tallyMailboxes,
  tallyUnits,
  unitEntry,
} from "./report.js";

export interface FinalizeDeps {
  state: FinalizeStatePort;
  archive: FinalizeArchivePort;
  now?: () => Date;
  /** Milliseconds left in this invocation (Lambda's getRemainingTimeInMillis). Absent: no limit. */
  remainingMs?: () => number;
  /**
   * Stop and hand on when fewer than this many milliseconds are left, but keep at most a quarter
   * of the time the invocation had when finalization began (lib/backup/deadline.ts). Default 0.
   */
  deadlineMarginMs?: number;
  /**
   * Sends the job's finalization on to another invocation (a `finalize` task on the queue).
   * Absent: the sweep goes on with it once the job has shown no progress for its staleness.
   */
  handOn?: (jobId: string) => Promise<void>;
  /**
   * Records per step after the manifest (staged sync states promoted, or mailboxes ended, then a
   * checkpoint). Range 1–1,000, default {@link FINALIZE_STEP}: a few seconds of conditional
   * writes, 16 at once.
   */
  stepSize?: number;
  /**
   * Records per piece of the report and manifest (one Query page of units, mailboxes or skipped
   * mailboxes, their pages written, then a checkpoint). Range 1–1,000 (a Query page), default
   * {@link REPORT_PIECE}. A job whose records each fit in one piece gets its report in one step.
   */
  reportPieceSize?: number;
  /** Told of each piece done (what it did, records, milliseconds): logs and the scale benchmark. */
  onPiece?: (piece: FinalizePiece) => void;
}

/** One piece of a finalization, as {@link FinalizeDeps.onPiece} is told of it. */
export interface FinalizePiece {
  /**
   * `report`: a small (or older) job's whole report and manifest in one step; `report-units`,
   * `report-mailboxes`, `report-skipped`: a page of those records into the report's pages (the
   * last one also writes manifest.json and report.json); `sync`, `mailboxes`: the steps after.
   */
  kind: "report" | "report-units" | "report-mailboxes" | "report-skipped" | "sync" | "mailboxes";
  records: number;
  ms: number;
}

/** A finalization that went on from a checkpoint found no report where the first step wrote it. */
export class FinalizedReportMissingError extends FatalError {}

/**
 * A finalization ended the job (its report; with its paged lists empty when it was written in
 * pieces or in another invocation: report.json as stored), or stopped before its deadline and was
 * handed on.
 */
export type FinalizeOutcome = { done: true; report: JobReport } | { done: false; progress: FinalizeProgress };

/** Records per step of finalization after the manifest, by default (a checkpoint after each). */
export const FINALIZE_STEP = 256;
/** Records per piece of the report, by default: a Query page (≤ 1,000 items, ≤ 1 MB). */
export const REPORT_PIECE = 1000;

/**
 * Ends a job: report, manifest, then sync states, then mailboxes (folder trees, last successful
 * job), then the job record. The order matters: the next job's incremental pass starts from the
 * promoted sync states, so the catalog that those states summarise must already count (manifest)
 * before they are promoted.
 *
 * Every stage grows with the job, so each runs in pieces of a page of records with a checkpoint
 * in the job record after each (`finalizeProgress`): the report reads the job's units, then its
 * mailboxes (each with its units), then its skipped mailboxes a page at a time, writing each
 * page's entries to the report's paged lists and the manifest's pages and carrying the totals
 * on in the checkpoint; manifest.json and report.json come last, so neither is found before its
 * pages. Near the invocation's deadline it stops between pieces and hands on; the next invocation
 * (or the sweep) goes on from the checkpoint. Every piece is idempotent (a piece done again
 * after a crash writes the same objects and records), so the report is the same as an
 * uninterrupted finalization's.
 */
export async function finalizeJob(jobId: string, deps: FinalizeDeps): Promise<FinalizeOutcome> {
  const margin = scaledDeadlineMargin(deps.deadlineMarginMs ?? 0, deps.remainingMs?.());
  const timeLeft = () => deps.remainingMs === undefined || deps.remainingMs() > margin;
  const stepSize = Math.max(1, Math.min(deps.stepSize ?? FINALIZE_STEP, 1000));
  const pieceSize = Math.max(1, Math.min(deps.reportPieceSize ?? REPORT_PIECE, 1000));
  const piece = async <T>(kind: FinalizePiece["kind"], work: () => Promise<T>, records: (t: T) => number) => {
    const t0 = Date.now();
    const value = await work();
    deps.onPiece?.({ kind, records: records(value), ms: Date.now() - t0 });
    return value;
  };

  let report: JobReport | undefined;
  let progress: FinalizeProgress;
  // False when the job is no longer finalizing: another finalizer (the sweep's) closed it.
  const save = (next: FinalizeProgress) => deps.state.saveFinalizeProgress(jobId, next);
  const stopped = async (at: FinalizeProgress, handingOn: boolean): Promise<FinalizeOutcome> => {
    if (handingOn) await deps.handOn?.(jobId);
    return { done: false, progress: at };
  };

  const saved = await deps.state.finalizeProgress(jobId);
  if (saved) progress = saved;
  else {
    const endedAt = (deps.now?.() ?? new Date()).toISOString();
    const head = await deps.state.reportHead(jobId);
    const whole = await piece(
      "report",
      () => wholeReport(jobId, head, endedAt, pieceSize, deps),
      (r) => (r ? r.totals.units + r.totals.mailboxes + r.skippedMailboxes.length : 0),
    );
    report = whole;
    progress = whole
      ? { stage: "sync", endedAt, status: whole.status }
      : {
          stage: "report",
          endedAt,
          report: { records: "units", parts: {}, entries: {}, tally: emptyTally(), pieces: 0 },
        };
    if (!(await save(progress))) return stopped(progress, false);
  }

  if (progress.stage === "report") {
    const head = await deps.state.reportHead(jobId);
    let at: FinalizeProgress = progress;
    while (at.stage === "report") {
      if (!timeLeft()) return stopped(at, true);
      at = await reportPiece(jobId, head, at, pieceSize, deps, piece);
      if (!(await save(at))) return stopped(at, false);
    }
    progress = at;
  }

  let ending: Progress<"sync" | "mailboxes"> = progress;
  while (ending.stage === "sync") {
    if (!timeLeft()) return stopped(ending, true);
    const current = ending;
    const { last } = await piece(
      "sync",
      () => deps.state.promoteSyncStatesPage(jobId, current.after, stepSize),
      (page) => page.records ?? stepSize,
    );
    const { after: _done, ...rest } = current;
    ending = last !== undefined ? { ...rest, after: last } : { ...rest, stage: "mailboxes" };
    if (!(await save(ending))) return stopped(ending, false);
  }

  if ((await deps.state.reportHead(jobId)).inPieces) {
    // A page of mailboxes with their units per step: the job's records are never read whole.
    for (let more = true; more; ) {
      if (!timeLeft()) return stopped(ending, true);
      const current = ending;
      const { ends, last } = await piece(
        "mailboxes",
        async () => {
          const page = await deps.state.mailboxEndsPage(jobId, current.after, stepSize);
          await deps.state.endMailboxes(jobId, page.ends);
          return page;
        },
        (page) => page.ends.length,
      );
      more = last !== undefined;
      const at = last ?? ends.at(-1)?.mailboxId;
      if (at === undefined) break;
      ending = { ...current, after: at };
      if (!(await save(ending))) return stopped(ending, false);
    }
  } else {
    // An older job (a unit's mailbox may have no record): its mailboxes listed whole, as then.
    const after = ending.after;
    const ends = (await deps.state.mailboxEnds(jobId)).filter(
      (m) => after === undefined || m.mailboxId > after,
    );
    for (let i = 0; i < ends.length; i += stepSize) {
      if (!timeLeft()) return stopped(ending, true);
      const step = ends.slice(i, i + stepSize);
      await piece(
        "mailboxes",
        () => deps.state.endMailboxes(jobId, step),
        () => step.length,
      );
      ending = { ...ending, after: step.at(-1)!.mailboxId };
      if (!(await save(ending))) return stopped(ending, false);
    }
  }

  await deps.state.markJobFinished(jobId, ending.status, ending.endedAt);
  report ??= await deps.archive.readReportSummary(jobId);
  if (!report) {
    throw new FinalizedReportMissingError(
      `job ${jobId}: expected its report in the archive (finalization wrote it), found none`,
    );
  }
  return { done: true, report };
}

/**
 * The whole report and manifest in one step, written as before pieces (lists paged by size),
 * when the job is small (its units, mailboxes and skipped mailboxes each fit in one piece) or was
 * planned by older code (its mailbox records do not list their units: it is read whole, as then).
 * Undefined when the job is large: the report goes in pieces.
 */
async function wholeReport(
  jobId: string,
  head: ReportHead & { inPieces: boolean },
  endedAt: string,
  pieceSize: number,
  deps: FinalizeDeps,
): Promise<JobReport | undefined> {
  let report: JobReport;
  if (!head.inPieces) {
    report = buildJobReport({ ...(await deps.state.reportInput(jobId)), endedAt });
  } else {
    const units = await deps.state.unitPage(jobId, undefined, pieceSize);
    if (units.last !== undefined) return undefined;
    const mailboxes = await deps.state.mailboxPage(jobId, undefined, pieceSize);
    if (mailboxes.last !== undefined) return undefined;
    const skipped = await deps.state.skippedPage(jobId, undefined, pieceSize);
    if (skipped.last !== undefined) return undefined;
    const { inPieces: _, ...rest } = head;
    report = buildJobReport({
      ...rest,
      endedAt,
      units: units.records,
      mailboxes: mailboxes.records.map(({ mailboxId, address }) => ({ mailboxId, address })),
      skippedMailboxes: skipped.records,
    });
  }
  await deps.archive.writeReport(report, { pagedLists: JOB_REPORT_PAGED_LISTS });
  await deps.archive.writeManifest(report);
  return report;
}

type Progress<S extends FinalizeProgress["stage"]> = Extract<FinalizeProgress, { stage: S }>;

/**
 * One piece of the report: a page of units (their plan and unit entries), of mailboxes (their
 * entries and the manifest's), or of skipped mailboxes, written to pages after the ones before;
 * the last piece writes manifest.json and report.json. Returns the checkpoint after it.
 */
async function reportPiece(
  jobId: string,
  head: ReportHead,
  progress: Progress<"report">,
  pieceSize: number,
  deps: FinalizeDeps,
  piece: <T>(kind: FinalizePiece["kind"], work: () => Promise<T>, records: (t: T) => number) => Promise<T>,
): Promise<FinalizeProgress> {
  const { report: at, after, endedAt } = progress;
  const parts = { ...at.parts };
  const entries = { ...at.entries };
  const write = async (list: string, written: readonly unknown[]) => {
    if (written.length === 0) return;
    const firstPart = parts[list] ?? 0;
    const n =
      list === "manifest"
        ? await deps.archive.writeManifestPages(jobId, firstPart, written as never)
        : await deps.archive.writeReportPages(jobId, list, firstPart, written);
    parts[list] = firstPart + n;
    entries[list] = (entries[list] ?? 0) + written.length;
  };
  // The next checkpoint: the same records after `last`, or the next records from the start.
  const then = (
    last: string | undefined,
    following: ReportProgress["records"],
    tally: ReportProgress["tally"],
  ): Progress<"report"> => ({
    stage: "report",
    endedAt,
    ...(last !== undefined ? { after: last } : {}),
    report: {
      records: last !== undefined ? at.records : following,
      parts,
      entries,
      tally,
      pieces: at.pieces + 1,
    },
  });

  if (at.records === "units") {
    const page = await piece(
      "report-units",
      async () => {
        const page = await deps.state.unitPage(jobId, after, pieceSize);
        await write("plan.units", page.records.map(planUnitEntry));
        await write("units", page.records.map(unitEntry));
        return page;
      },
      (p) => p.records.length,
    );
    return then(page.last, "mailboxes", tallyUnits(at.tally, page.records));
  }
  if (at.records === "mailboxes") {
    const { page, listed } = await piece(
      "report-mailboxes",
      async () => {
        const page = await deps.state.mailboxPage(jobId, after, pieceSize);
        const listed = page.records.map((m) => mailboxEntry(m, m.units));
        await write("mailboxes", listed);
        await write(
          "manifest",
          listed.map(({ mailboxId, status, address }) => ({ mailboxId, status, address })),
        );
        return { page, listed };
      },
      (p) => p.page.records.length,
    );
    return then(page.last, "skipped", tallyMailboxes(at.tally, listed));
  }
  return piece(
    "report-skipped",
    async () => {
      const page = await deps.state.skippedPage(jobId, after, pieceSize);
      await write("skippedMailboxes", page.records);
      if (page.last !== undefined) return then(page.last, "skipped", at.tally);
      // Every record read: manifest.json, then report.json, each after its pages.
      const summary = reportSummary(head, at.tally, endedAt);
      const pages: Record<string, { parts: number; entries: number }> = {};
      for (const list of JOB_REPORT_PAGED_LISTS) {
        if ((entries[list] ?? 0) > 0) pages[list] = { parts: parts[list]!, entries: entries[list]! };
      }
      await deps.archive.writeManifestSummary(
        { jobId, status: summary.status, endedAt },
        { parts: parts.manifest ?? 0, entries: entries.manifest ?? 0 },
      );
      await deps.archive.writeReportSummary(summary, pages);
      return { stage: "sync", endedAt, status: summary.status } satisfies FinalizeProgress;
    },
    () => 0,
  );
}
