import { createHash } from "node:crypto";
import { StateInvariantError } from "./errors.js";

/**
 * The id of the job a trigger starts: `2026-11-29T04-38-00Z-<hash>`. It sorts by time (so the
 * `JOBS` listing is chronological and "older job" is a string comparison), and the same tick
 * (same second, same trigger) always gives the same id, which makes job creation idempotent.
 *
 * @param time when the tick was scheduled (the EventBridge event `time`); sub-second parts are dropped.
 * @param trigger what fired it, e.g. `schedule` or `on-demand:<requestId>`; distinguishes jobs of one second.
 */
export function jobIdForTick(time: Date, trigger: string): string {
  if (Number.isNaN(time.getTime())) {
    throw new StateInvariantError(`job id: expected a valid tick time, found ${String(time)}`);
  }
  const seconds = `${time.toISOString().slice(0, 19)}Z`;
  const hash = createHash("sha256").update(`${seconds}\n${trigger}`).digest("hex").slice(0, 8);
  return `${seconds.replaceAll(":", "-")}-${hash}`;
}

const JOB_ID = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z-[0-9a-f]{8}$/;

/** The tick time encoded in a job id, or undefined when the id was not made by {@link jobIdForTick}. */
export function jobIdTime(jobId: string): Date | undefined {
  const m = JOB_ID.exec(jobId);
  if (!m) return undefined;
  return new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
}
