/**
 * The guard of every write a stream task makes: the condition that the task is still its
 * stream's current one, and the error that says why it is not.
 */
import type { StreamTask } from "../queue/stream-task.js";
import { StaleTaskError } from "./errors.js";
import { getStream } from "./reads.js";
import type { StreamRecord } from "./records.js";
import type { StateTable } from "./table.js";

/**
 * The condition that `task` is still its stream's current one: the same seq, and for a task begun
 * with a lease, no later delivery of the same task has taken the stream over. Tasks without a
 * lease (the sweep's) are not held back by one.
 */
export function currentTaskCondition(task: StreamTask): {
  condition: string;
  values: Record<string, unknown>;
} {
  return task.lease === undefined
    ? { condition: "seq = :seq", values: { ":seq": task.seq } }
    : { condition: "seq = :seq AND lease = :lease", values: { ":seq": task.seq, ":lease": task.lease } };
}

export async function staleError(
  t: StateTable,
  task: StreamTask,
  known?: StreamRecord,
): Promise<StaleTaskError> {
  const stream = known ?? (await getStream(t, task.jobId, task.streamId));
  const takenOver =
    stream !== undefined &&
    stream.seq === task.seq &&
    task.lease !== undefined &&
    stream.lease !== task.lease;
  const found = !stream
    ? "no stream record"
    : takenOver
      ? `seq ${stream.seq} taken over by a later delivery of the same task`
      : `seq ${stream.seq}, status ${stream.status}`;
  return new StaleTaskError(task.jobId, task.streamId, task.seq, found);
}
