/** A held unit's writes: its checkpoints and its end (done, mailbox-skipped or failed). */
import type { StreamTask } from "../queue/stream-task.js";
import { ClaimLostError, StateInvariantError, StateRecordMissingError } from "./errors.js";
import { jobPk, streamSk, unitSk } from "./keys.js";
import { describeUnit, isHeldBy, requireUnit } from "./reads.js";
import type {
  Counters,
  RecordedError,
  StagedSyncState,
  UnitCheckpoint,
  UnitEndStatus,
  UnitRecord,
} from "./records.js";
import { stagedSyncStatePuts } from "./sync-states.js";
import { counterAdds, type StateTable, type TransactItem } from "./table.js";
import { currentTaskCondition, staleError } from "./task-guard.js";

const STATUS = { "#status": "status" };

/** The unit is held by the task's stream, claimed by this task or an earlier one of the stream. */
const HELD = "#status = :running AND claimedBy = :stream AND claimSeq <= :seq";

/**
 * Records where a held unit stands after a fully stored page and adds the page's counters to
 * the unit and the stream in one transaction (the job gets the unit's totals when it ends),
 * with the staged sync states of the folders it finishes. Repeating the same checkpoint is a
 * no-op (counts are added once: a checkpoint that adds counts must advance `page`). Throws
 * {@link ClaimLostError} when the stream no longer holds the unit, {@link StaleTaskError} when
 * the stream moved on to a newer task (the sweep re-sent it while this one was still running).
 */
export async function checkpoint(
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
  // Folders this checkpoint finishes stage their new sync states in the same transaction (one
  // staged set per 100 folders, lib/state/sync-states.ts).
  items.push(...(await stagedSyncStatePuts(t, task.jobId, staged)));
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
    describeUnit(unit),
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
  /**
   * What the ending task knows of the unit's record: its cost (as claimed; a unit's cost never
   * changes). The end then reads nothing first. Absent: read first.
   */
  known?: KnownUnit;
}

/** A held unit's cost, as its task knows it ({@link UnitEnd.known}). */
export interface KnownUnit {
  cost: number;
}

/** A unit record's cost. */
export function knownFrom(unit: UnitRecord): KnownUnit {
  return { cost: unit.cost };
}

/**
 * Staged sync states a unit's end may carry: one staged set (lib/state/sync-states.ts), two when
 * the links are long. Until 2026-12-07 (session 13) 25: each was an item of its own, and a
 * transaction holds at most 100.
 */
export const MAX_STAGED_AT_END = 100;

/**
 * Ends a held unit (done, mailbox-skipped or failed), counts it on its stream and frees the
 * stream. Repeating it is a no-op; {@link ClaimLostError} when the stream no longer holds it,
 * {@link StaleTaskError} when the task is no longer the stream's current one.
 *
 * One transaction of the unit, the stream and the staged set of the folders it finishes. The
 * unit's end is counted on its stream (`unitsEnded`, `costEnded`, `errorsEnded`), not on the job
 * record: until 2026-12-07 (session 14) the job record was a fourth item of every unit's end
 * (`unitsDone`/`unitsFailed`/`unitsSkipped`, `costDone`, `errorsRecorded` and the unit's totals),
 * the one item every stream's ends and tickets wrote. Live progress sums the streams
 * (lib/app/progress.ts); the job record keeps what older versions added, read beside them.
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
  // The unit's cost goes to its stream once, with its end (the HELD condition makes a repeated
  // completion fail as a whole and add nothing). The task knows it from the claim: no read.
  const cost = (end.known ?? knownFrom(await requireUnit(t, task.jobId, index))).cost;
  const lastAdds = counterAdds(last?.counters ?? {});
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
      streamSk(task.streamId),
      // The unit's HELD condition above makes a repeat fail as a whole, so the end counts once.
      // A sign of life too, as a claim is (the stream runner then skips its next heartbeat).
      `SET heartbeatAt = :beat REMOVE currentUnit DELETE heldUnits :held ADD ${[
        "unitsDone :one",
        "unitsEnded :one",
        "costEnded :cost",
        "errorsEnded :errs",
        ...lastAdds.clauses,
      ].join(", ")}`,
      {
        ":one": 1,
        ":cost": cost,
        ":errs": (end.errors ?? []).length,
        ":beat": t.nowIso(),
        ":held": new Set([index]),
        ...current.values,
        ...lastAdds.values,
      },
      current.condition,
      lastAdds.clauses.length > 0 ? lastAdds.names : undefined,
    ),
  ];
  items.push(...(await stagedSyncStatePuts(t, task.jobId, last?.staged ?? [])));
  const outcome = await t.transact(items);
  if (outcome.ok) return;
  const unit = await requireUnit(t, task.jobId, index);
  if (unit.status === end.status && unit.claimedBy === task.streamId) return;
  if (!outcome.failed[0] && outcome.failed[1]) throw await staleError(t, task);
  throw new ClaimLostError(
    task.jobId,
    index,
    `it running and held by stream ${task.streamId} (seq ≤ ${task.seq})`,
    describeUnit(unit),
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
