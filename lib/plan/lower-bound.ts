import { mailboxMinimumSeconds, mailboxStreamSeconds } from "./cost.js";
import type { PlanLimits } from "./limits.js";
import type { WorkEstimate } from "./types.js";

/**
 * LB = max(max_m T_m, Σ_m S_m / N), in seconds: no schedule of this work on `streams` streams
 * within Graph's per-mailbox limits finishes sooner (see the model in cost.ts). Takes one
 * estimate per mailbox; the benchmark passes the tenant's real content, the planner its estimates.
 * 0 for no mailboxes.
 */
export function lowerBound(mailboxes: readonly WorkEstimate[], streams: number, limits: PlanLimits): number {
  if (mailboxes.length === 0) return 0;
  if (!(streams >= 1)) throw new RangeError(`lowerBound: expected streams ≥ 1, found ${streams}`);
  let mailboxTerm = 0;
  let streamSeconds = 0;
  for (const work of mailboxes) {
    mailboxTerm = Math.max(mailboxTerm, mailboxMinimumSeconds(work, limits));
    streamSeconds += mailboxStreamSeconds(work, limits);
  }
  return Math.max(mailboxTerm, streamSeconds / streams);
}
