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
  /**
   * The units set aside for the stream's first task at planning, the ones the plan starts on it
   * (lib/backup/start-units.ts; their tickets taken by the plan's commit): the task begins and
   * claims them all in one state transaction (lib/state/claims.ts `beginTaskWithUnits`). A hint
   * only: when one is no longer pending, the task claims as any other, and units whose task is
   * lost are claimed by the streams that sweep the job's tail. 1–{@link MAX_TASK_UNITS} distinct
   * indexes. On the wire `units`; a task of an older version carries one unit as `unit`, read as
   * `units: [unit]`, and `unit` is written beside `units` (its first) for an older controller.
   */
  units?: number[];
}

/**
 * Most units a first task carries: the transaction that claims them writes the stream's record
 * too, and a DynamoDB transaction holds at most 100 items (lib/backup/start-units.ts deals no more).
 */
export const MAX_TASK_UNITS = 99;

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
  const isIndex = (u: unknown) => Number.isInteger(u) && (u as number) >= 0;
  if (v.unit !== undefined && !isIndex(v.unit)) {
    throw new MalformedStreamTaskError(
      `stream task: expected unit (optional) to be an integer ≥ 0, found ${body.slice(0, 120)}`,
    );
  }
  if (
    v.units !== undefined &&
    !(
      Array.isArray(v.units) &&
      v.units.length >= 1 &&
      v.units.length <= MAX_TASK_UNITS &&
      v.units.every(isIndex) &&
      new Set(v.units).size === v.units.length
    )
  ) {
    throw new MalformedStreamTaskError(
      `stream task: expected units (optional) to be 1–${MAX_TASK_UNITS} distinct integers ≥ 0, found ${body.slice(0, 120)}`,
    );
  }
  const units = (v.units as number[] | undefined) ?? (v.unit !== undefined ? [v.unit as number] : undefined);
  return {
    jobId: v.jobId,
    streamId: v.streamId as number,
    seq: v.seq as number,
    ...(units !== undefined ? { units } : {}),
  };
}

export function serializeStreamTask(task: StreamTask): string {
  return JSON.stringify({
    jobId: task.jobId,
    streamId: task.streamId,
    seq: task.seq,
    // `unit`: what a controller of the version before start units reads (it claims that one at
    // its begin; the others wait, pending below the cursor, for the tail's sweep).
    ...(task.units !== undefined && task.units.length > 0 ? { unit: task.units[0], units: task.units } : {}),
  });
}

/**
 * A discovery continuation: the next piece of a job's mailbox discovery, for the controller to
 * run (lib/backup/discovery.ts). It travels on the stream queue beside the stream tasks; `piece`
 * plays the part of a stream task's `seq`: a copy for a piece already done is dropped.
 */
export interface DiscoveryTask {
  kind: "discover";
  jobId: string;
  /** The piece to run: the number of pieces the job has committed when it was sent. */
  piece: number;
}

/**
 * The search index's catch-up after a job was finalized: the controller brings the index up to
 * the newest finalized job (lib/catalog-index/search-index/after-job.ts), apart from the job's
 * own path. Idempotent: a copy, or one for a job an index already covers, changes nothing.
 */
export interface IndexTask {
  kind: "index";
  /** The job whose finalization sent it. */
  jobId: string;
}

/**
 * A finalization's continuation: the job's finalization stopped before its invocation's deadline
 * (lib/backup/finalize.ts) and goes on from the checkpoint in its job record. Idempotent: a copy,
 * or one for a job already closed, changes nothing.
 */
export interface FinalizeTask {
  kind: "finalize";
  jobId: string;
}

/**
 * What a stream queue message carries: a stream task, a discovery continuation, an index catch-up
 * or a finalization's continuation.
 */
export type QueueTask = StreamTask | DiscoveryTask | IndexTask | FinalizeTask;

export function isFinalizeTask(task: QueueTask): task is FinalizeTask {
  return (task as FinalizeTask).kind === "finalize";
}

export function isDiscoveryTask(task: QueueTask): task is DiscoveryTask {
  return (task as DiscoveryTask).kind === "discover";
}

export function isIndexTask(task: QueueTask): task is IndexTask {
  return (task as IndexTask).kind === "index";
}

/**
 * Parses a stream queue message: a discovery continuation (`"kind":"discover"`), an index
 * catch-up (`"kind":"index"`), a finalization's continuation (`"kind":"finalize"`) or a stream task.
 */
export function parseQueueTask(body: string): QueueTask {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return parseStreamTask(body); // throws the stream task's own message
  }
  const v = value as Record<string, unknown> | null;
  if (v?.kind === "index" || v?.kind === "finalize") {
    if (typeof v.jobId !== "string" || v.jobId.length === 0)
      throw new MalformedStreamTaskError(
        `${v.kind} task: expected {kind: "${v.kind}", jobId: non-empty string}, found ${body.slice(0, 120)}`,
      );
    return { kind: v.kind, jobId: v.jobId };
  }
  if (v?.kind !== "discover") return parseStreamTask(body);
  if (
    typeof v.jobId !== "string" ||
    v.jobId.length === 0 ||
    !Number.isInteger(v.piece) ||
    (v.piece as number) < 0
  )
    throw new MalformedStreamTaskError(
      `discovery task: expected {kind: "discover", jobId: non-empty string, piece: integer ≥ 0}, found ${body.slice(0, 120)}`,
    );
  return { kind: "discover", jobId: v.jobId, piece: v.piece as number };
}

export function serializeDiscoveryTask(task: DiscoveryTask): string {
  return JSON.stringify({ kind: "discover", jobId: task.jobId, piece: task.piece });
}

export function serializeIndexTask(task: IndexTask): string {
  return JSON.stringify({ kind: "index", jobId: task.jobId });
}

export function serializeFinalizeTask(task: FinalizeTask): string {
  return JSON.stringify({ kind: "finalize", jobId: task.jobId });
}
