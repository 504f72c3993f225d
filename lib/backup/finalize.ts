import { FatalError } from "../errors.js";
import type { FinalizeArchivePort, FinalizeProgress, FinalizeStatePort } from "./ports.js";
import { buildJobReport, JOB_REPORT_PAGED_LISTS, type JobReport } from "./report.js";

export interface FinalizeDeps {
  state: FinalizeStatePort;
  archive: FinalizeArchivePort;
  now?: () => Date;
  /** Milliseconds left in this invocation (Lambda's getRemainingTimeInMillis). Absent: no limit. */
  remainingMs?: () => number;
  /** Stop and hand on when fewer than this many milliseconds are left. Default 0. */
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
}

/** A finalization that went on from a checkpoint found no report where the first step wrote it. */
export class FinalizedReportMissingError extends FatalError {}

/** A finalization ended the job (its report), or stopped before its deadline and was handed on. */
export type FinalizeOutcome = { done: true; report: JobReport } | { done: false; progress: FinalizeProgress };

/** Records per step of finalization after the manifest, by default (a checkpoint after each). */
export const FINALIZE_STEP = 256;

/**
 * Ends a job: report, manifest, then sync states, then mailboxes (folder trees, last successful
 * job), then the job record. The order matters: the next job's incremental pass starts from the
 * promoted sync states, so the catalog that those states summarise must already count (manifest)
 * before they are promoted.
 *
 * What follows the manifest grows with the job (a conditional write per folder and per mailbox:
 * a million at 100,000 mailboxes, more than one Lambda invocation can send), so it runs in steps
 * of a page of records, with a checkpoint in the job record after each (`finalizeProgress`). Near
 * the invocation's deadline it stops between steps and hands on; the next invocation (or the
 * sweep) goes on from the checkpoint. Every step is idempotent, so one done twice after a crash
 * costs only its requests.
 */
export async function finalizeJob(jobId: string, deps: FinalizeDeps): Promise<FinalizeOutcome> {
  let report: JobReport | undefined;
  let progress = await deps.state.finalizeProgress(jobId);
  if (!progress) {
    const endedAt = (deps.now?.() ?? new Date()).toISOString();
    const input = await deps.state.reportInput(jobId);
    report = buildJobReport({ ...input, endedAt });
    await deps.archive.writeReport(report, { pagedLists: JOB_REPORT_PAGED_LISTS });
    await deps.archive.writeManifest(report);
    progress = { stage: "sync", endedAt, status: report.status };
    if (!(await deps.state.saveFinalizeProgress(jobId, progress))) return { done: false, progress };
  }
  const stepSize = Math.max(1, Math.min(deps.stepSize ?? FINALIZE_STEP, 1000));
  const margin = deps.deadlineMarginMs ?? 0;
  const timeLeft = () => deps.remainingMs === undefined || deps.remainingMs() > margin;
  // False when the job is no longer finalizing: another finalizer (the sweep's) closed it.
  const checkpoint = async (next: FinalizeProgress) => {
    progress = next;
    return deps.state.saveFinalizeProgress(jobId, next);
  };
  const closedElsewhere = (): FinalizeOutcome => ({ done: false, progress: progress! });
  const handOn = async (): Promise<FinalizeOutcome> => {
    await deps.handOn?.(jobId);
    return { done: false, progress: progress! };
  };

  while (progress.stage === "sync") {
    if (!timeLeft()) return handOn();
    const { last } = await deps.state.promoteSyncStatesPage(jobId, progress.after, stepSize);
    const { after: _done, ...rest } = progress;
    if (!(await checkpoint(last !== undefined ? { ...rest, after: last } : { ...rest, stage: "mailboxes" })))
      return closedElsewhere();
  }

  const after = progress.after;
  const ends = (await deps.state.mailboxEnds(jobId)).filter(
    (m) => after === undefined || m.mailboxId > after,
  );
  for (let i = 0; i < ends.length; i += stepSize) {
    if (!timeLeft()) return handOn();
    const step = ends.slice(i, i + stepSize);
    await deps.state.endMailboxes(jobId, step);
    if (!(await checkpoint({ ...progress, after: step.at(-1)!.mailboxId }))) return closedElsewhere();
  }

  await deps.state.markJobFinished(jobId, progress.status, progress.endedAt);
  report ??= await deps.archive.readReport(jobId);
  if (!report) {
    throw new FinalizedReportMissingError(
      `job ${jobId}: expected its report in the archive (finalization wrote it), found none`,
    );
  }
  return { done: true, report };
}
