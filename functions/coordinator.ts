/**
 * Coordinator Lambda: on each EventBridge tick (or an on-demand invocation
 * `{"kind":"on-demand","requestId"?:"…"}`) discovers the mailboxes, plans a job and sends the
 * first task of each stream; then runs the sweep, so stale streams are re-sent on every tick too.
 */
import { errorFields, lambdaRuntime, parseCoordinatorEvent } from "../lib/app/lambda.js";
import type { StartJobOutcome } from "../lib/backup/coordinator.js";

/** What the invocation answers: a summary (the full plan lives in the state table and the report). */
export interface CoordinatorResult {
  job:
    | { status: "duplicate"; jobId: string; jobStatus: string }
    | {
        status: "started";
        jobId: string;
        mailboxes: number;
        skipped: number;
        units: number;
        streams: number;
        predictedMakespanSeconds: number;
      }
    | { status: "empty"; jobId: string; skipped: number }
    | { status: "failed"; jobId: string; reason: string };
  /** Absent when the sweep failed (logged; the sweep function's own schedule tries again). */
  sweep?: { jobs: number; resent: number; finalized: string[] };
}

export function summarizeStart(outcome: StartJobOutcome): CoordinatorResult["job"] {
  switch (outcome.status) {
    case "duplicate":
      return outcome;
    case "empty":
      return { status: "empty", jobId: outcome.jobId, skipped: outcome.skipped.length };
    case "failed":
      return outcome;
    case "started":
      return {
        status: "started",
        jobId: outcome.jobId,
        mailboxes: outcome.mailboxes,
        skipped: outcome.skipped.length,
        units: outcome.plan.units.length,
        streams: outcome.plan.streams,
        predictedMakespanSeconds: outcome.plan.predictedMakespanSeconds,
      };
  }
}

export const handler = async (
  event: unknown,
  context: { awsRequestId?: string } = {},
): Promise<CoordinatorResult> => {
  // Parse first: a bad request fails with its own message, before any configuration is read.
  const trigger = parseCoordinatorEvent(event, context);
  const { app, logger } = await lambdaRuntime();
  logger.info("coordinator.trigger", { ...trigger });
  const started = await app.startJob(trigger);
  // A job that could not be planned is closed `failed`; its one line says what to fix.
  if (started.status === "failed")
    logger.error("job.failed", { jobId: started.jobId, reason: started.reason });
  const job = summarizeStart(started);
  try {
    const swept = await app.sweep();
    return { job, sweep: { jobs: swept.jobs, resent: swept.resent.length, finalized: swept.finalized } };
  } catch (error) {
    logger.error("coordinator.sweep.failed", { error: errorFields(error) });
    return { job };
  }
};
