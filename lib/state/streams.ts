/** Stream records: a task's start, heartbeats, hand-on to the next task, finish, and the sweep's release. */
import type { StreamTask } from "../queue/stream-task.js";
import { StateContentionError, StateInvariantError } from "./errors.js";
import { jobPk, META, streamSk, unitSk } from "./keys.js";
import { getStream, getUnit, heldIndexes, listStreams, requireStream } from "./reads.js";
import type { StreamRecord } from "./records.js";
import type { StateTable } from "./table.js";
import { currentTaskCondition, staleError } from "./task-guard.js";

const STATUS = { "#status": "status" };

/**
 * True when the task is older than the stream's current one, or its stream has finished (or its
 * records are gone): acknowledge and drop it. A task newer than the stream breaks the rule that
 * the seq is advanced before a task is sent, and throws.
 */
export async function isStaleTask(t: StateTable, task: StreamTask): Promise<boolean> {
  const stream = await getStream(t, task.jobId, task.streamId);
  if (!stream) return true;
  return staleness(task, stream);
}

function staleness(task: StreamTask, stream: StreamRecord): boolean {
  if (task.seq > stream.seq) {
    throw new StateInvariantError(
      `job ${task.jobId} stream ${task.streamId}: expected a task seq ≤ the stream's ${stream.seq}, found ${task.seq}`,
    );
  }
  return task.seq < stream.seq || stream.status === "finished";
}

/**
 * Starts a task: "stale" when it must be dropped (see {@link isStaleTask}), else marks the stream
 * running with a fresh heartbeat, records the task's lease (taking the stream over from an
 * earlier delivery of the same task) and answers "current".
 */
export async function beginTask(t: StateTable, task: StreamTask): Promise<"current" | "stale"> {
  // One conditional write: the stream is read only when the condition fails, to tell a stale
  // task from one newer than its stream (a task's first state request is on its way to Graph).
  const lease = task.lease === undefined ? "" : ", lease = :lease";
  const written = await t.updateReturning({
    Key: { pk: jobPk(task.jobId), sk: streamSk(task.streamId) },
    UpdateExpression: `SET #status = :running, heartbeatAt = :now${lease}`,
    ConditionExpression: "seq = :seq AND #status <> :finished",
    ExpressionAttributeNames: STATUS,
    ExpressionAttributeValues: {
      ":running": "running",
      ":finished": "finished",
      ":seq": task.seq,
      ":now": t.nowIso(),
      ...(task.lease === undefined ? {} : { ":lease": task.lease }),
    },
    ReturnValues: "NONE",
  });
  if (written !== undefined) return "current";
  // Throws for a task newer than its stream; else the task is stale.
  await isStaleTask(t, task);
  return "stale";
}

/** Records a sign of life; throws {@link StaleTaskError} when the task is no longer current. */
export async function heartbeat(t: StateTable, task: StreamTask): Promise<void> {
  const current = currentTaskCondition(task);
  // One item: a conditional update, not a transaction (which costs twice the write units).
  const written = await t.updateReturning({
    Key: { pk: jobPk(task.jobId), sk: streamSk(task.streamId) },
    UpdateExpression: "SET heartbeatAt = :now",
    ConditionExpression: `${current.condition} AND #status <> :finished`,
    ExpressionAttributeNames: STATUS,
    ExpressionAttributeValues: { ...current.values, ":now": t.nowIso(), ":finished": "finished" },
    ReturnValues: "NONE",
  });
  if (written === undefined) throw await staleError(t, task);
}

/**
 * Moves the stream from `task.seq` to the next seq and returns the continuation task (to send
 * right after). Conditional: a stale task cannot hand on ({@link StaleTaskError}). Not
 * repeatable by design; a lost answer leaves the stream to the sweep, which re-sends it.
 */
export async function handOn(t: StateTable, task: StreamTask): Promise<StreamTask> {
  const next = task.seq + 1;
  const current = currentTaskCondition(task);
  const written = await t.updateReturning({
    Key: { pk: jobPk(task.jobId), sk: streamSk(task.streamId) },
    UpdateExpression: "SET seq = :next, heartbeatAt = :now",
    ConditionExpression: `${current.condition} AND #status <> :finished`,
    ExpressionAttributeNames: STATUS,
    ExpressionAttributeValues: {
      ...current.values,
      ":next": next,
      ":now": t.nowIso(),
      ":finished": "finished",
    },
    ReturnValues: "NONE",
  });
  if (written === undefined) throw await staleError(t, task);
  return { jobId: task.jobId, streamId: task.streamId, seq: next };
}

/**
 * Marks the stream finished (it found no unit left) and counts it on the job. Repeating it is a
 * no-op; a stale task throws {@link StaleTaskError}.
 *
 * `streamCount`, when the caller read it on the job once its discovery was done (it no longer
 * changes): the finish is first tried on the condition that at least one other stream of the
 * job is still to finish, and `othersLeft` says it went through that way. That stream, finishing
 * later, tries the job's finalization, so this one need not: of a job's N streams only the last
 * tries it (one request where N were made). When the condition fails (this is the last stream,
 * or the count was not the job's) the finish is made as without it.
 */
export async function finishStream(
  t: StateTable,
  task: StreamTask,
  streamCount?: number,
): Promise<{ othersLeft: boolean }> {
  const now = t.nowIso();
  const current = currentTaskCondition(task);
  const finish = t.update(
    jobPk(task.jobId),
    streamSk(task.streamId),
    "SET #status = :finished, finishedAt = :now, heartbeatAt = :now REMOVE currentUnit, heldUnits",
    { ...current.values, ":now": now, ":finished": "finished" },
    `${current.condition} AND #status <> :finished`,
    STATUS,
  );
  if (streamCount !== undefined && streamCount > 1) {
    // DynamoDB conditions do no arithmetic: the count before this stream's is below count − 1.
    const notLast = await t.transact([
      finish,
      t.update(
        jobPk(task.jobId),
        META,
        "ADD streamsFinished :one",
        { ":one": 1, ":count": streamCount, ":last": streamCount - 1 },
        "streamCount = :count AND streamsFinished < :last",
      ),
    ]);
    if (notLast.ok) return { othersLeft: true };
  }
  const outcome = await t.transact([
    finish,
    t.update(jobPk(task.jobId), META, "ADD streamsFinished :one", { ":one": 1 }, "attribute_exists(pk)"),
  ]);
  if (outcome.ok) return { othersLeft: false };
  const stream = await requireStream(t, task);
  if (stream.status === "finished" && stream.seq === task.seq) return { othersLeft: false };
  throw await staleError(t, task, stream);
}

/** Streams not finished whose last sign of life is older than `olderThanMs` milliseconds. */
export async function staleStreams(
  t: StateTable,
  jobId: string,
  olderThanMs: number,
): Promise<StreamRecord[]> {
  const cutoff = t.now().getTime() - olderThanMs;
  return (await listStreams(t, jobId)).filter(
    (s) => s.status !== "finished" && Date.parse(s.heartbeatAt) < cutoff,
  );
}

/**
 * The sweep's verdict on a dead stream: moves it to the next seq (so every copy of its old task
 * is stale) and releases the units it held as `orphaned`, claimable again with their checkpoints
 * by any stream. Returns the task to send to revive the stream. `task` is the stream's current
 * task as the sweep read it; if the stream moved on meanwhile, {@link StaleTaskError}.
 */
export async function markStreamOrphaned(
  t: StateTable,
  task: StreamTask,
): Promise<{ next: StreamTask; orphanedUnits: number[] }> {
  const stream = await requireStream(t, task);
  if (stream.seq !== task.seq || stream.status === "finished") throw await staleError(t, task, stream);
  const pk = jobPk(task.jobId);
  const now = t.nowIso();
  const next = task.seq + 1;
  const streamUpdate = t.update(
    pk,
    streamSk(task.streamId),
    "SET seq = :next, heartbeatAt = :now REMOVE currentUnit, heldUnits ADD orphanings :one",
    { ":seq": task.seq, ":next": next, ":now": now, ":one": 1, ":finished": "finished" },
    "seq = :seq AND #status <> :finished",
    STATUS,
  );
  // A held unit may end between the read and the write: read again and release what is left.
  for (let round = 0; round < 5; round++) {
    const units = await Promise.all(heldIndexes(stream).map((i) => getUnit(t, task.jobId, i)));
    const running = units
      .filter((u) => u?.status === "running" && u.claimedBy === task.streamId)
      .map((u) => u!.index);
    const items = [streamUpdate];
    for (const unit of running) {
      items.push(
        t.update(
          pk,
          unitSk(unit),
          "SET #status = :orphaned, orphanedAt = :now",
          { ":orphaned": "orphaned", ":running": "running", ":stream": task.streamId, ":now": now },
          "#status = :running AND claimedBy = :stream",
          STATUS,
        ),
      );
    }
    if (running.length > 0)
      items.push(t.update(pk, META, "ADD orphanedUnits :units", { ":units": new Set(running) }));
    const outcome = await t.transact(items);
    if (outcome.ok) return { next: { ...task, seq: next }, orphanedUnits: running };
    if (outcome.failed[0]) throw await staleError(t, task);
  }
  throw new StateContentionError(
    `job ${task.jobId} stream ${task.streamId}: expected its held units to settle, found them changing`,
  );
}
