/**
 * Sweep Lambda, on its own schedule: re-sends streams whose heartbeat went stale and finalizes
 * jobs whose finalizer died. The event carries nothing it needs. It never calls Graph, so it is
 * built without the tenant and never reads the Entra secret.
 */
import { sweepRuntime } from "../lib/app/lambda.js";

export const handler = async (
  _event?: unknown,
  context: { getRemainingTimeInMillis?: () => number } = {},
): Promise<{ jobs: number; resent: number; finalized: string[] }> => {
  const { app } = await sweepRuntime();
  // A finalization it takes up stops before the deadline and goes on as a `finalize` task.
  const remaining = context.getRemainingTimeInMillis?.bind(context);
  const outcome = await app.sweep(remaining ? { remainingMs: remaining } : {});
  return { jobs: outcome.jobs, resent: outcome.resent.length, finalized: outcome.finalized };
};
