import { FatalError } from "../errors.js";

/**
 * One SQS record = one stream task. `seq` grows by one each time a stream hands itself on
 * (continuation before the Lambda deadline, or a re-send by the sweep); a task whose `seq` is
 * older than the stream's current one is a duplicate delivery and is dropped.
 */
export interface StreamTask {
  jobId: string;
  streamId: number;
  seq: number;
  /**
   * The invocation's hold on the stream, chosen when it begins the task and never sent: SQS may
   * deliver one message twice at once, and the later delivery takes the stream over, so the
   * earlier one's writes fail instead of both working the same units.
   */
  lease?: string;
}

/** A queue message that is not a stream task. Not retryable: the same bytes will fail again. */
export class MalformedStreamTaskError extends FatalError {}

export function parseStreamTask(body: string): StreamTask {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new MalformedStreamTaskError(
      `stream task: expected a JSON object {jobId, streamId, seq}, found ${JSON.stringify(body.slice(0, 80))}`,
    );
  }
  const v = value as Record<string, unknown> | null;
  if (
    !v ||
    typeof v.jobId !== "string" ||
    v.jobId.length === 0 ||
    !Number.isInteger(v.streamId) ||
    (v.streamId as number) < 0 ||
    !Number.isInteger(v.seq) ||
    (v.seq as number) < 0
  ) {
    throw new MalformedStreamTaskError(
      `stream task: expected {jobId: non-empty string, streamId: integer ≥ 0, seq: integer ≥ 0}, found ${body.slice(0, 120)}`,
    );
  }
  return { jobId: v.jobId, streamId: v.streamId as number, seq: v.seq as number };
}

export function serializeStreamTask(task: StreamTask): string {
  return JSON.stringify({ jobId: task.jobId, streamId: task.streamId, seq: task.seq });
}
