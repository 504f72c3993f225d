import { FatalError } from "../errors.js";
import { scaledDeadlineMargin } from "./deadline.js";
import {
  type FinalizePiece,
  type PieceTimer,
  type Progress,
  reportPiece,
  wholeReport,
} from "./finalize-report.js";
import type { FinalizeArchivePort, FinalizeProgress, FinalizeStatePort } from "./ports.js";
import { emptyTally, type JobReport } from "./report.js";

export type { FinalizePiece } from "./finalize-report.js";

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
  const piece: PieceTimer = async (kind, work, records) => {
    const t0 = Date.now();
    const value = await work();
    deps.onPiece?.({ kind, records: records(value), ms: Date.now() - t0 });
    return value;
  };

  // The job's head (its META) does not change while it finalizes: read once per invocation.
  let headRead: ReturnType<FinalizeStatePort["reportHead"]> | undefined;
  const head = () => {
    headRead ??= deps.state.reportHead(jobId);
    return headRead;
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
    const jobHead = await head();
    const whole = await piece(
      "report",
      () => wholeReport(jobId, jobHead, endedAt, pieceSize, deps),
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
    const jobHead = await head();
    let at: FinalizeProgress = progress;
    while (at.stage === "report") {
      if (!timeLeft()) return stopped(at, true);
      at = await reportPiece(jobId, jobHead, at, pieceSize, deps, piece);
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

  if ((await head()).inPieces) {
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
