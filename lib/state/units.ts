import type { StreamTask } from "../queue/stream-task.js";
import { ClaimLostError, StateContentionError, StateRecordMissingError } from "./errors.js";
import { requireJob } from "./jobs.js";
import { jobPk, META, streamSk, UNIT_PREFIX, unitSk } from "./keys.js";
import type { Counters, RecordedError, UnitCheckpoint, UnitEndStatus, UnitRecord } from "./records.js";
import { staleError } from "./streams.js";
import { counterAdds, type StateTable, strip } from "./table.js";

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

/** The unit the task's stream holds (a continuation resumes it), or null. */
export async function heldUnit(t: StateTable, task: StreamTask): Promise<UnitRecord | null> {
  const stream = await t.get(jobPk(task.jobId), streamSk(task.streamId));
  const index = stream?.currentUnit as number | undefined;
  if (index === undefined) return null;
  const unit = await getUnit(t, task.jobId, index);
  return unit && isHeldBy(unit, task) ? unit : null;
}

/**
 * Hands the task's stream the next unit, atomically: units the sweep released from dead streams
 * first (lowest index), then the pending unit at the job's cursor. One transaction moves the
 * cursor (or takes the unit out of the orphaned set), sets the unit running for this stream
 * (attempts + 1) and records it on the stream, so no unit is ever held by two streams and none is
 * skipped. Null when nothing is left or the job is not running; {@link StaleTaskError} when the
 * task is no longer current.
 */
export async function claimNextUnit(t: StateTable, task: StreamTask): Promise<UnitRecord | null> {
  const pk = jobPk(task.jobId);
  // Every lost round means another claimer won one, so rounds are bounded by the units left;
  // the cap only guards against a table that never settles.
  for (let round = 0; round < 10_000; round++) {
    const job = await requireJob(t, task.jobId);
    if (job.status !== "running") return null;
    const orphan = job.orphanedUnits[0];
    const index = orphan ?? job.nextUnit;
    if (orphan === undefined && index >= job.unitCount) return null;
    const from = orphan === undefined ? "pending" : "orphaned";
    const now = t.nowIso();
    const takeFromJob =
      orphan === undefined
        ? t.update(pk, META, "SET nextUnit = :next", { ":i": index, ":next": index + 1 }, "nextUnit = :i")
        : t.update(
            pk,
            META,
            "DELETE orphanedUnits :set",
            { ":i": index, ":set": new Set([index]) },
            "contains(orphanedUnits, :i)",
          );
    const outcome = await t.transact([
      takeFromJob,
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
          ":from": from,
        },
        "#status = :from",
        STATUS,
      ),
      t.update(
        pk,
        streamSk(task.streamId),
        "SET currentUnit = :i, heartbeatAt = :now",
        { ":i": index, ":now": now, ":seq": task.seq, ":finished": "finished" },
        "seq = :seq AND #status <> :finished",
        STATUS,
      ),
    ]);
    if (outcome.ok) return await requireUnit(t, task.jobId, index);
    if (outcome.failed[2]) throw await staleError(t, task);
    if (outcome.failed[0]) continue; // another stream took it first: look again
    // The cursor (or the orphaned set) points at a unit that is not claimable: step past it.
    await t.transact([takeFromJob]);
  }
  throw new StateContentionError(
    `job ${task.jobId}: expected to claim a unit, found the job's cursor never settling`,
  );
}

/**
 * Records where a held unit stands after a fully stored page and adds the page's counters to
 * the unit, the stream and the job in one transaction. Repeating the same checkpoint is a
 * no-op (counts are added once: a checkpoint that adds counts must advance `page`). Throws
 * {@link ClaimLostError} when the stream no longer holds the unit.
 */
export async function saveCheckpoint(
  t: StateTable,
  task: StreamTask,
  index: number,
  checkpoint: UnitCheckpoint,
  counters: Partial<Counters> = {},
): Promise<void> {
  const pk = jobPk(task.jobId);
  const now = t.nowIso();
  const adds = counterAdds(counters);
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
      { ":now": now, ...adds.values },
      "attribute_exists(pk)",
      counting ? adds.names : undefined,
    ),
  ];
  if (counting) {
    items.push(
      t.update(pk, META, `ADD ${adds.clauses.join(", ")}`, adds.values, "attribute_exists(pk)", adds.names),
    );
  }
  const outcome = await t.transact(items);
  if (outcome.ok) return;
  const unit = await requireUnit(t, task.jobId, index);
  const stored = (unit as { checkpointPage?: number }).checkpointPage ?? -1;
  if (isHeldBy(unit, task) && stored >= checkpoint.page) return; // a repeat of a write that went through
  if (!outcome.failed[0]) {
    throw new StateRecordMissingError(
      `job ${task.jobId}: expected its META and stream ${task.streamId} records, found one missing`,
    );
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
}

const END_COUNTER: Record<UnitEndStatus, string> = {
  done: "unitsDone",
  "mailbox-skipped": "unitsSkipped",
  failed: "unitsFailed",
};

/**
 * Ends a held unit (done, mailbox-skipped or failed), counts it on the job and frees the
 * stream. Repeating it is a no-op; {@link ClaimLostError} when the stream no longer holds it.
 */
export async function completeUnit(
  t: StateTable,
  task: StreamTask,
  index: number,
  end: UnitEnd,
): Promise<void> {
  const pk = jobPk(task.jobId);
  const outcome = await t.transact([
    t.update(
      pk,
      unitSk(index),
      "SET #status = :end, endedAt = :ended, #errors = :errors, incompleteFolders = :incomplete",
      {
        ":end": end.status,
        ":ended": end.endedAt ?? t.nowIso(),
        ":errors": end.errors ?? [],
        ":incomplete": end.incompleteFolders ?? [],
        ":running": "running",
        ":stream": task.streamId,
        ":seq": task.seq,
      },
      HELD,
      { ...STATUS, "#errors": "errors" },
    ),
    t.update(pk, META, `ADD ${END_COUNTER[end.status]} :one`, { ":one": 1 }, "attribute_exists(pk)"),
    t.update(
      pk,
      streamSk(task.streamId),
      "REMOVE currentUnit ADD unitsDone :one",
      { ":one": 1, ":i": index },
      "attribute_exists(pk) AND (currentUnit = :i OR attribute_not_exists(currentUnit))",
    ),
  ]);
  if (outcome.ok) return;
  const unit = await requireUnit(t, task.jobId, index);
  if (unit.status === end.status && unit.claimedBy === task.streamId) return;
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
