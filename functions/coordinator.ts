/**
 * Coordinator Lambda: on each EventBridge tick (or an on-demand invocation
 * `{"kind":"on-demand","requestId"?:"…"}`) creates a job and discovers and plans its mailboxes in
 * pieces, sending each piece's streams their first tasks, until its deadline comes near (the rest
 * goes on as continuations on the stream queue); then runs the sweep, so stale streams and lost
 * continuations are re-sent on every tick too.
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
        /** `continued`: the rest of discovery went on as continuations on the stream queue. */
        discovery: "continued" | "done";
        /** Discovery pieces this invocation committed, and what they planned. */
        pieces: number;
        mailboxes: number;
        skipped: number;
        /** The job's units and streams so far. */
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
      return { status: "empty", jobId: outcome.jobId, skipped: outcome.skipped };
    case "failed":
      return outcome;
    case "started":
      return {
        status: "started",
        jobId: outcome.jobId,
        discovery: outcome.discovery,
        pieces: outcome.pieces,
        mailboxes: outcome.mailboxes,
        skipped: outcome.skipped,
        units: outcome.units,
        streams: outcome.streams,
        predictedMakespanSeconds: outcome.predictedMakespanSeconds,
      };
  }
}

export const handler = async (
  event: unknown,
  context: { awsRequestId?: string; getRemainingTimeInMillis?: () => number } = {},
): Promise<CoordinatorResult> => {
  // Parse first: a bad request fails with its own message, before any configuration is read.
  const trigger = parseCoordinatorEvent(event, context);
  const { app, logger } = await lambdaRuntime();
  logger.info("coordinator.trigger", { ...trigger });
  // Discovery pieces run until the invocation's deadline comes near; the rest goes on as
  // continuations that the controller runs.
  const remaining = context.getRemainingTimeInMillis?.bind(context);
  const started = await app.startJob(trigger, remaining);
  // A job that could not be planned is closed `failed`; its one line says what to fix.
  if (started.status === "failed")
    logger.error("job.failed", { jobId: started.jobId, reason: started.reason });
  const job = summarizeStart(started);
  try {
    const swept = await app.sweep(remaining ? { remainingMs: remaining } : {});
    return { job, sweep: { jobs: swept.jobs, resent: swept.resent.length, finalized: swept.finalized } };
  } catch (error) {
    logger.error("coordinator.sweep.failed", { error: errorFields(error) });
    return { job };
  }
};
