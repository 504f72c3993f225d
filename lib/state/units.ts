import type { StreamTask } from "../queue/stream-task.js";
import {
  ClaimLostError,
  StateContentionError,
  StateInvariantError,
  StateRecordMissingError,
} from "./errors.js";
import { requireJob } from "./jobs.js";
import { jobPk, META, streamSk, UNIT_PREFIX, unitSk } from "./keys.js";
import type {
  Counters,
  RecordedError,
  StagedSyncState,
  StreamRecord,
  UnitCheckpoint,
  UnitEndStatus,
  UnitRecord,
} from "./records.js";
import { currentTaskCondition, staleError } from "./streams.js";
import { stagedSyncStatePut } from "./sync-states.js";
import { counterAdds, type StateTable, strip, type TransactItem } from "./table.js";

const STATUS = { "#status": "status" };
/** The unit is held by the task's stream, claimed by this task or an earlier one of the stream. */
const HELD = "#status = :running AND claimedBy = :stream AND claimSeq <= :seq";

export async function getUnit(t: StateTable, jobId: string, index: number): Promise<UnitRecord | undefined> {
  const item = await t.get(jobPk(jobId), unitSk(index));
  return item ? (strip(item) as unknown as UnitRecord) : undefined;
}

async function requireUnit(t: StateTable, jobId: string, index: number): Promise<UnitRecord> {
  const unit = await getUnit(t, jobId, index);
  if (!unit) throw new StateRecordMissingError(`job ${jobId} unit ${index}: expected its record, found none`);
  return unit;
}

/** The units of a job in index order (records beyond the plan's unit count are leftovers of a re-plan). */
export async function listUnits(t: StateTable, jobId: string, unitCount?: number): Promise<UnitRecord[]> {
  const units = (await t.query(jobPk(jobId), UNIT_PREFIX)).map((i) => strip(i) as unknown as UnitRecord);
  return unitCount === undefined ? units : units.filter((u) => u.index < unitCount);
}

function isHeldBy(unit: UnitRecord, task: StreamTask): boolean {
  return unit.status === "running" && unit.claimedBy === task.streamId && (unit.claimSeq ?? 0) <= task.seq;
}

function describe(unit: UnitRecord): string {
  const holder =
    unit.claimedBy === undefined ? "no stream" : `stream ${unit.claimedBy} (seq ${unit.claimSeq})`;
  return `status ${unit.status}, claimed by ${holder}`;
}

/** The indexes of the units a stream record says it holds (including the older single `currentUnit`). */
export function heldIndexes(stream: Pick<StreamRecord, "heldUnits" | "currentUnit">): number[] {
  const held = new Set<number>(stream.heldUnits ?? []);
  if (stream.currentUnit !== undefined) held.add(stream.currentUnit);
  return [...held].sort((a, b) => a - b);
}

/** The units the task's stream holds (a continuation resumes them), in index order. */
export async function heldUnits(t: StateTable, task: StreamTask): Promise<UnitRecord[]> {
  const stream = await t.get(jobPk(task.jobId), streamSk(task.streamId));
  if (!stream) return [];
  const units = await Promise.all(
    heldIndexes(strip(stream) as unknown as StreamRecord).map((i) => getUnit(t, task.jobId, i)),
  );
  return units.filter((u): u is UnitRecord => u !== undefined && isHeldBy(u, task));
}

/**
 * Hands the task's stream the next unit, largest first, never one unit to two streams:
 *
 * 1. Units the sweep released from dead streams (the job's orphaned set, lowest index first):
 *    one transaction takes the index out of the set and the unit for this stream.
 * 2. Else a ticket: an atomic ADD on the job's cursor gives this claimer alone the next index
 *    (no lost rounds however many streams race), then a transaction sets that unit running for
 *    this stream (attempts + 1) and records it on the stream. A ticket that cannot be used
 *    (the task turned stale) goes back through the orphaned set.
 * 3. Once the cursor is exhausted while some units have not ended, pending units below it
 *    (a claimer died between ticket and claim) are claimed directly.
 *
 * Null when nothing is left or the job is not running; {@link StaleTaskError} when the task is
 * no longer current.
 */
export async function claimNextUnit(t: StateTable, task: StreamTask): Promise<UnitRecord | null> {
  // Every lost round means another claimer won a unit, so rounds are bounded by the units left;
  // the cap only guards against a table that never settles.
  for (let round = 0; round < 10_000; round++) {
    // The common case first, without reading the job: a running job with no orphans and
    // tickets left hands this claimer the next index in one write.
    if (round === 0) {
      const ticket = await takeTicket(t, task.jobId, true);
      if (ticket !== undefined) {
        const outcome = await takeUnit(t, task, ticket, ["pending"]);
        if (outcome === "claimed") return await requireUnit(t, task.jobId, ticket);
        continue;
      }
    }
    const job = await requireJob(t, task.jobId);
    if (job.status !== "running") return null;
    const orphan = job.orphanedUnits[0];
    if (orphan !== undefined) {
      const outcome = await takeUnit(
        t,
        task,
        orphan,
        ["orphaned", "pending"],
        takeOrphan(t, task.jobId, orphan),
      );
      if (outcome === "claimed") return await requireUnit(t, task.jobId, orphan);
      continue;
    }
    if (job.nextUnit < job.unitCount) {
      const ticket = await takeTicket(t, task.jobId);
      if (ticket === undefined) continue; // the last ticket went to someone else: look again
      const outcome = await takeUnit(t, task, ticket, ["pending"]);
      if (outcome === "claimed") return await requireUnit(t, task.jobId, ticket);
      continue; // a tail sweeper (step 3) claimed it first
    }
    const ended = job.unitsDone + job.unitsFailed + job.unitsSkipped;
    if (ended >= job.unitCount) return null;
    const lost = (await listUnits(t, task.jobId, job.unitCount)).find((u) => u.status === "pending");
    if (!lost) return null; // the rest is running elsewhere
    const outcome = await takeUnit(t, task, lost.index, ["pending"]);
    if (outcome === "claimed") return await requireUnit(t, task.jobId, lost.index);
  }
  throw new StateContentionError(
    `job ${task.jobId}: expected to claim a unit, found the job's records never settling`,
  );
}

/** Removes `index` from the job's orphaned set; condition: it is in the set. */
function takeOrphan(t: StateTable, jobId: string, index: number) {
  return t.update(
    jobPk(jobId),
    META,
    "DELETE orphanedUnits :set",
    { ":i": index, ":set": new Set([index]) },
    "contains(orphanedUnits, :i)",
  );
}

/**
 * The next index of the job's cursor for this caller alone, or undefined when all are handed out.
 * `onlyIfPlain`: also undefined unless the job is running with no orphaned unit waiting (those
 * go first), so that a caller may try this before reading the job.
 */
async function takeTicket(t: StateTable, jobId: string, onlyIfPlain = false): Promise<number | undefined> {
  const attributes = await t.updateReturning({
    Key: { pk: jobPk(jobId), sk: META },
    UpdateExpression: "ADD nextUnit :one",
    ConditionExpression: onlyIfPlain
      ? "nextUnit < unitCount AND #status = :running AND attribute_not_exists(orphanedUnits)"
      : "nextUnit < unitCount",
    ExpressionAttributeValues: onlyIfPlain ? { ":one": 1, ":running": "running" } : { ":one": 1 },
    ...(onlyIfPlain ? { ExpressionAttributeNames: STATUS } : {}),
    ReturnValues: "UPDATED_OLD",
  });
  return attributes?.nextUnit as number | undefined;
}

/**
 * Sets unit `index` running for the task's stream when its status is one of `from`, together
 * with `extra` (the job-side condition), and adds it to the stream's `heldUnits`.
 */
async function takeUnit(
  t: StateTable,
  task: StreamTask,
  index: number,
  from: Array<"pending" | "orphaned">,
  extra?: TransactItem,
): Promise<"claimed" | "lost"> {
  const pk = jobPk(task.jobId);
  const now = t.nowIso();
  const current = currentTaskCondition(task);
  const fromValues = Object.fromEntries(from.map((status, i) => [`:from${i}`, status]));
  const items: TransactItem[] = [
    t.update(
      pk,
      unitSk(index),
      "SET #status = :running, claimedBy = :stream, claimSeq = :seq, claimedAt = :now, " +
        "startedAt = if_not_exists(startedAt, :now) ADD attempts :one",
      {
        ":running": "running",
        ":stream": task.streamId,
        ":seq": task.seq,
        ":now": now,
        ":one": 1,
        ...fromValues,
      },
      `#status IN (${Object.keys(fromValues).join(", ")})`,
      STATUS,
    ),
    t.update(
      pk,
      streamSk(task.streamId),
      "SET heartbeatAt = :now ADD heldUnits :held",
      { ":held": new Set([index]), ":now": now, ...current.values, ":finished": "finished" },
      `${current.condition} AND #status <> :finished`,
      STATUS,
    ),
  ];
  if (extra) items.push(extra);
  const outcome = await t.transact(items);
  if (outcome.ok) return "claimed";
  if (outcome.failed[1]) {
    if (!outcome.failed[0] && !extra) {
      // A ticket this stale task cannot use: hand it back so another stream claims the unit.
      await t.transact([t.update(pk, META, "ADD orphanedUnits :set", { ":set": new Set([index]) })]);
    }
    throw await staleError(t, task);
  }
  if (extra && !outcome.failed[2] && outcome.failed[0]) {
    // In the orphaned set but not claimable (it ended meanwhile): drop it from the set.
    await t.transact([extra]);
  }
  return "lost";
}

/**
 * Records where a held unit stands after a fully stored page and adds the page's counters to
 * the unit and the stream in one transaction (the job gets the unit's totals when it ends),
 * with the staged sync states of the folders it finishes. Repeating the same checkpoint is a
 * no-op (counts are added once: a checkpoint that adds counts must advance `page`). Throws
 * {@link ClaimLostError} when the stream no longer holds the unit, {@link StaleTaskError} when
 * the stream moved on to a newer task (the sweep re-sent it while this one was still running).
 */
export async function saveCheckpoint(
  t: StateTable,
  task: StreamTask,
  index: number,
  checkpoint: UnitCheckpoint,
  counters: Partial<Counters> = {},
  staged: StagedSyncState[] = [],
): Promise<void> {
  const pk = jobPk(task.jobId);
  const now = t.nowIso();
  const adds = counterAdds(counters);
  const current = currentTaskCondition(task);
  const counting = adds.clauses.length > 0;
  const add = counting ? ` ADD ${adds.clauses.join(", ")}` : "";
  const newer = counting ? "checkpointPage < :page" : "checkpointPage <= :page";
  const items = [
    t.update(
      pk,
      unitSk(index),
      `SET #checkpoint = :cp, checkpointPage = :page, checkpointAt = :now${add}`,
      {
        ":cp": checkpoint,
        ":page": checkpoint.page,
        ":now": now,
        ":running": "running",
        ":stream": task.streamId,
        ":seq": task.seq,
        ...adds.values,
      },
      `${HELD} AND (attribute_not_exists(checkpointPage) OR ${newer})`,
      { ...STATUS, "#checkpoint": "checkpoint", ...adds.names },
    ),
    t.update(
      pk,
      streamSk(task.streamId),
      `SET heartbeatAt = :now${add}`,
      { ":now": now, ...current.values, ...adds.values },
      // A task the sweep replaced (same stream, older seq), or a delivery of it that a later one
      // took over, must stop writing, even though its stream still holds the unit.
      current.condition,
      counting ? adds.names : undefined,
    ),
  ];
  // Folders this checkpoint finishes stage their new sync states in the same transaction.
  for (const state of staged) items.push(await stagedSyncStatePut(t, task.jobId, state));
  // The job's own counters are added when the unit ends (completeUnit), not here: every
  // stream checkpointing into the one job record made it a hot item whose transactions
  // conflicted and backed off. Live totals are the sum of the units (or streams).
  const outcome = await t.transact(items);
  if (outcome.ok) return;
  const unit = await requireUnit(t, task.jobId, index);
  const stored = (unit as { checkpointPage?: number }).checkpointPage ?? -1;
  if (isHeldBy(unit, task) && stored >= checkpoint.page) return; // a repeat of a write that went through
  if (!outcome.failed[0]) {
    if (outcome.failed[1]) throw await staleError(t, task);
    throw new StateRecordMissingError(`job ${task.jobId}: expected its META record, found none`);
  }
  throw new ClaimLostError(
    task.jobId,
    index,
    `it held by stream ${task.streamId} (seq ≤ ${task.seq})`,
    describe(unit),
  );
}

export interface UnitEnd {
  status: UnitEndStatus;
  errors?: RecordedError[];
  /** Folders not completed in this job (their sync state stays as it was). */
  incompleteFolders?: string[];
  /** ISO time; default now. */
  endedAt?: string;
  /**
   * The unit's last checkpoint, not written yet: written with the end, in the same transaction
   * (its counters, and the sync states of the folders it finishes, at most {@link MAX_STAGED_AT_END}).
   */
  last?: { checkpoint: UnitCheckpoint; counters: Partial<Counters>; staged: StagedSyncState[] };
}

/** Staged sync states a unit's end may carry (a transaction holds at most 100 items). */
export const MAX_STAGED_AT_END = 25;

/** The unit's stored counters plus the ones its end adds. */
function sumCounters(stored: Counters, more: Partial<Counters>): Counters {
  const sum = { ...stored };
  for (const name of Object.keys(more) as Array<keyof Counters>)
    sum[name] = (stored[name] ?? 0) + (more[name] ?? 0);
  return sum;
}

const END_COUNTER: Record<UnitEndStatus, string> = {
  done: "unitsDone",
  "mailbox-skipped": "unitsSkipped",
  failed: "unitsFailed",
};

/**
 * Ends a held unit (done, mailbox-skipped or failed), counts it on the job and frees the
 * stream. Repeating it is a no-op; {@link ClaimLostError} when the stream no longer holds it,
 * {@link StaleTaskError} when the task is no longer the stream's current one.
 */
export async function completeUnit(
  t: StateTable,
  task: StreamTask,
  index: number,
  end: UnitEnd,
): Promise<void> {
  const pk = jobPk(task.jobId);
  const last = end.last;
  if (last && last.staged.length > MAX_STAGED_AT_END) {
    throw new StateInvariantError(
      `job ${task.jobId} unit ${index}: expected at most ${MAX_STAGED_AT_END} staged sync states with the end, found ${last.staged.length}`,
    );
  }
  // The unit's counters go to the job once, with the end of the unit (the HELD condition makes
  // a repeated completion add nothing): checkpoints add them only to the unit and the stream.
  const stored = await requireUnit(t, task.jobId, index);
  const lastAdds = counterAdds(last?.counters ?? {});
  const totals = counterAdds(sumCounters(stored, last?.counters ?? {}));
  const lastSet = last ? ", #checkpoint = :cp, checkpointPage = :page, checkpointAt = :ended" : "";
  const lastAdd = lastAdds.clauses.length > 0 ? ` ADD ${lastAdds.clauses.join(", ")}` : "";
  const ended = end.endedAt ?? t.nowIso();
  const current = currentTaskCondition(task);
  const items: TransactItem[] = [
    t.update(
      pk,
      unitSk(index),
      `SET #status = :end, endedAt = :ended, #errors = :errors, incompleteFolders = :incomplete${lastSet}${lastAdd}`,
      {
        ":end": end.status,
        ":ended": ended,
        ":errors": end.errors ?? [],
        ":incomplete": end.incompleteFolders ?? [],
        ":running": "running",
        ":stream": task.streamId,
        ":seq": task.seq,
        ...(last ? { ":cp": last.checkpoint, ":page": last.checkpoint.page } : {}),
        ...lastAdds.values,
      },
      HELD,
      { ...STATUS, "#errors": "errors", ...(last ? { "#checkpoint": "checkpoint" } : {}), ...lastAdds.names },
    ),
    t.update(
      pk,
      META,
      `ADD ${[`${END_COUNTER[end.status]} :one`, ...totals.clauses].join(", ")}`,
      { ":one": 1, ...totals.values },
      "attribute_exists(pk)",
      totals.clauses.length > 0 ? totals.names : undefined,
    ),
    t.update(
      pk,
      streamSk(task.streamId),
      // The unit's HELD condition above makes a repeat fail as a whole, so unitsDone counts once.
      `REMOVE currentUnit DELETE heldUnits :held ADD ${["unitsDone :one", ...lastAdds.clauses].join(", ")}`,
      { ":one": 1, ":held": new Set([index]), ...current.values, ...lastAdds.values },
      current.condition,
      lastAdds.clauses.length > 0 ? lastAdds.names : undefined,
    ),
  ];
  for (const state of last?.staged ?? []) items.push(await stagedSyncStatePut(t, task.jobId, state));
  const outcome = await t.transact(items);
  if (outcome.ok) return;
  const unit = await requireUnit(t, task.jobId, index);
  if (unit.status === end.status && unit.claimedBy === task.streamId) return;
  if (!outcome.failed[0] && outcome.failed[2]) throw await staleError(t, task);
  throw new ClaimLostError(
    task.jobId,
    index,
    `it running and held by stream ${task.streamId} (seq ≤ ${task.seq})`,
    describe(unit),
  );
}

/** Fails a held unit visibly: the error (name and message) goes into the unit's record and the report. */
export async function failUnit(
  t: StateTable,
  task: StreamTask,
  index: number,
  error: { name: string; message: string },
): Promise<void> {
  await completeUnit(t, task, index, {
    status: "failed",
    errors: [{ subject: `unit ${index}`, name: error.name, message: error.message }],
  });
}
