import type { StreamQueue } from "../queue/stream-queue.js";
import type { StreamTask } from "../queue/stream-task.js";
import type { RecordedError, UnitCheckpoint, UnitProgress, UnitStatePort } from "./ports.js";
import {
  backupUnit,
  emptyProgress,
  type UnitBackupDeps,
  type UnitOutcome,
  type UnitWork,
} from "./unit-backup.js";

export interface ClaimedUnit {
  work: UnitWork;
  checkpoint: UnitCheckpoint;
}

/** What a stream needs from the state store (adapted from `lib/state`). */
export interface StreamStatePort {
  /** "stale" when a newer task of the stream exists (a duplicate delivery) or the stream is done. */
  beginTask(task: StreamTask): Promise<"current" | "stale">;
  /** The unit this stream already holds (a continuation resumes it), else the next pending one, largest first. */
  resumeOrClaimUnit(task: StreamTask): Promise<ClaimedUnit | null>;
  unitState(task: StreamTask, unitIndex: number): UnitStatePort;
  completeUnit(task: StreamTask, unitIndex: number, result: UnitResult): Promise<void>;
  heartbeat(task: StreamTask, unitIndex: number | undefined): Promise<void>;
  /** Moves the stream to `seq + 1` (conditional on `seq`) and returns the continuation task. */
  handOn(task: StreamTask): Promise<StreamTask>;
  finishStream(task: StreamTask): Promise<void>;
  /** True for exactly one caller, once every stream of the job has finished. */
  tryFinalizeJob(jobId: string): Promise<boolean>;
}

export interface UnitResult {
  status: "done" | "mailbox-skipped" | "failed";
  progress: UnitProgress;
  errors: RecordedError[];
  incompleteFolders: string[];
  startedAt: string;
  endedAt: string;
}

export interface StreamRunnerDeps {
  state: StreamStatePort;
  queue: StreamQueue;
  unitDeps(task: StreamTask, unit: UnitWork): Omit<UnitBackupDeps, "state" | "shouldYield">;
  /** Milliseconds left before the invocation must have returned. */
  remainingMs(): number;
  /** Stop starting new pages when fewer milliseconds than this are left. Default 60 000. */
  deadlineMarginMs?: number;
  /** Heartbeat period. Milliseconds. Default 15 000. */
  heartbeatMs?: number;
  finalizeJob(jobId: string): Promise<void>;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export type StreamTaskOutcome =
  | { status: "stale" }
  | { status: "continued"; next: StreamTask; unitsDone: number }
  | { status: "finished"; unitsDone: number; finalizedJob: boolean };

/**
 * Runs one stream task: pulls units (its own unfinished one first, then the next pending one,
 * largest first) until none is left or the invocation's deadline approaches; then it either hands
 * itself on through the queue or finishes, and the last stream to finish finalizes the job.
 */
export async function runStreamTask(task: StreamTask, deps: StreamRunnerDeps): Promise<StreamTaskOutcome> {
  const log = deps.log ?? (() => {});
  if ((await deps.state.beginTask(task)) === "stale") {
    log("stream.task.stale", { ...task });
    return { status: "stale" };
  }
  const margin = deps.deadlineMarginMs ?? 60_000;
  const shouldYield = () => deps.remainingMs() < margin;
  let unitsDone = 0;
  let currentUnit: number | undefined;
  const beat = setInterval(() => {
    deps.state
      .heartbeat(task, currentUnit)
      .catch((error) => log("stream.heartbeat.failed", { error: String(error) }));
  }, deps.heartbeatMs ?? 15_000);
  beat.unref();

  try {
    for (;;) {
      if (shouldYield()) return await continueLater(task, deps, unitsDone, log);
      const claimed = await deps.state.resumeOrClaimUnit(task);
      if (!claimed) break;
      currentUnit = claimed.work.index;
      await deps.state.heartbeat(task, currentUnit);
      const startedAt = new Date().toISOString();
      log("unit.start", { ...task, unit: currentUnit, mailboxId: claimed.work.mailboxId });
      const outcome = await runUnit(task, claimed, deps, shouldYield);
      if (outcome.status === "paused") {
        log("unit.paused", { ...task, unit: currentUnit });
        return await continueLater(task, deps, unitsDone, log);
      }
      const result: UnitResult = {
        status: outcome.status,
        progress: outcome.progress,
        errors: outcome.errors,
        incompleteFolders: outcome.status === "done" ? outcome.incompleteFolders : [],
        startedAt,
        endedAt: new Date().toISOString(),
      };
      await deps.state.completeUnit(task, claimed.work.index, result);
      log("unit.end", { ...task, unit: currentUnit, status: result.status, items: result.progress.items });
      unitsDone++;
      currentUnit = undefined;
    }
  } finally {
    clearInterval(beat);
  }

  await deps.state.finishStream(task);
  const last = await deps.state.tryFinalizeJob(task.jobId);
  if (last) await deps.finalizeJob(task.jobId);
  log("stream.finished", { ...task, unitsDone, finalizedJob: last });
  return { status: "finished", unitsDone, finalizedJob: last };
}

type RunUnitOutcome = UnitOutcome | { status: "failed"; progress: UnitProgress; errors: RecordedError[] };

async function runUnit(
  task: StreamTask,
  claimed: ClaimedUnit,
  deps: StreamRunnerDeps,
  shouldYield: () => boolean,
): Promise<RunUnitOutcome> {
  try {
    return await backupUnit(claimed.work, claimed.checkpoint, {
      ...deps.unitDeps(task, claimed.work),
      state: deps.state.unitState(task, claimed.work.index),
      shouldYield,
    });
  } catch (error) {
    // Anything unexpected fails this unit visibly in the job report; the stream goes on with
    // the next unit. Retryable infrastructure errors (state store, queue) are not caught here:
    // they propagate so that SQS redelivers the task and the unit resumes from its checkpoint.
    if (isInfrastructureError(error)) throw error;
    const e = error instanceof Error ? error : new Error(String(error));
    return {
      status: "failed",
      progress: emptyProgress(),
      errors: [{ subject: `unit ${claimed.work.index}`, name: e.name, message: e.message }],
    };
  }
}

/** Errors that say "the machinery failed", not "this unit's data is bad": retry the whole task. */
function isInfrastructureError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "ClaimLostError" || error.name === "StaleTaskError") return true;
  // AWS SDK errors carry $metadata; a failing state store or archive is not the unit's fault.
  return "$metadata" in error || error.name === "RetryableError";
}

async function continueLater(
  task: StreamTask,
  deps: StreamRunnerDeps,
  unitsDone: number,
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<StreamTaskOutcome> {
  const next = await deps.state.handOn(task);
  await deps.queue.send(next);
  log("stream.continued", { ...next });
  return { status: "continued", next, unitsDone };
}
