import { createHash } from "node:crypto";
import { StateInvariantError } from "./errors.js";

/**
 * The id of the job a trigger starts: `2026-11-29T04-38-00Z.123-<hash>` (the tick's UTC second,
 * then `.` and its millisecond, then a hash of the tick and trigger). Plain string order (and so
 * DynamoDB's sort-key order and S3's listing order) is time order to the millisecond, so the
 * `JOBS` listing is chronological and "older job" is a string comparison; the same tick (same
 * time, same trigger) always gives the same id, which makes job creation idempotent.
 *
 * Ids written before the millisecond was kept (`2026-11-29T04-38-00Z-<hash>`, up to 2026-12-07)
 * read the same way: `-` sorts before `.`, so an old id sorts before every new id of its second
 * (an upgrade runs old code, then new) and after every id of earlier seconds. Two jobs started
 * in one second by old code stay ordered by their hash, as they were.
 *
 * @param time when the tick was scheduled (the EventBridge event `time`, whole seconds) or the
 *   on-demand request arrived (to the millisecond).
 * @param trigger what fired it, e.g. `schedule` or `on-demand:<requestId>`; distinguishes jobs of one millisecond.
 */
export function jobIdForTick(time: Date, trigger: string): string {
  if (Number.isNaN(time.getTime())) {
    throw new StateInvariantError(`job id: expected a valid tick time, found ${String(time)}`);
  }
  const iso = time.toISOString();
  const stamp = `${iso.slice(0, 19).replaceAll(":", "-")}Z.${iso.slice(20, 23)}`;
  const hash = createHash("sha256").update(`${stamp}\n${trigger}`).digest("hex").slice(0, 8);
  return `${stamp}-${hash}`;
}

/** A job id of either form: the second, the millisecond when the id has one, the hash. */
const JOB_ID = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z(?:\.(\d{3}))?-[0-9a-f]{8}$/;

/**
 * The tick time encoded in a job id (an id of the older form: the start of its second), or
 * undefined when the id was not made by {@link jobIdForTick}.
 */
export function jobIdTime(jobId: string): Date | undefined {
  const m = JOB_ID.exec(jobId);
  if (!m) return undefined;
  return new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5] ?? "000"}Z`);
}
