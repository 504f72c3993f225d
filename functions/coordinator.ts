/**
 * Coordinator Lambda: on each EventBridge tick (or an on-demand invocation
 * `{"kind":"on-demand","requestId"?:"…"}`) discovers the mailboxes, plans a job and sends the
 * first task of each stream; then runs the sweep, so stale streams are re-sent on every tick too.
 */
import { errorFields, lambdaRuntime, parseCoordinatorEvent } from "../lib/app/lambda.js";
import type { StartJobOutcome } from "../lib/backup/coordinator.js";
import type { SweepOutcome } from "../lib/backup/sweep.js";

export interface CoordinatorResult {
  job: StartJobOutcome;
  /** Absent when the sweep failed (logged; the sweep function's own schedule tries again). */
  sweep?: Pick<SweepOutcome, "jobs" | "finalized"> & { resent: number };
}

export const handler = async (
  event: unknown,
  context: { awsRequestId?: string } = {},
): Promise<CoordinatorResult> => {
  // Parse first: a bad request fails with its own message, before any configuration is read.
  const trigger = parseCoordinatorEvent(event, context);
  const { app, logger } = await lambdaRuntime();
  logger.info("coordinator.trigger", { ...trigger });
  const job = await app.startJob(trigger);
  try {
    const swept = await app.sweep();
    return { job, sweep: { jobs: swept.jobs, finalized: swept.finalized, resent: swept.resent.length } };
  } catch (error) {
    logger.error("coordinator.sweep.failed", { error: errorFields(error) });
    return { job };
  }
};
