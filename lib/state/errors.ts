import { FatalError, RetryableError, SupersededError } from "../errors.js";

/**
 * The stream no longer holds the unit it tried to write (the sweep released it, or another
 * stream claimed it). Superseded, not a skip: the unit's work must stop in this invocation and
 * write nothing more, while its new holder carries on.
 */
export class ClaimLostError extends SupersededError {
  readonly jobId: string;
  readonly unitIndex: number;
  constructor(jobId: string, unitIndex: number, expected: string, found: string) {
    super(`job ${jobId} unit ${unitIndex}: expected ${expected}, found ${found}`);
    this.jobId = jobId;
    this.unitIndex = unitIndex;
  }
}

/**
 * A stream task whose `seq` is older than the stream's current one (SQS delivered it again, or
 * the sweep re-sent the stream), or whose stream already finished. Drop the task.
 */
export class StaleTaskError extends SupersededError {
  readonly jobId: string;
  readonly streamId: number;
  constructor(jobId: string, streamId: number, seq: number, found: string) {
    super(`job ${jobId} stream ${streamId}: expected the current task to have seq ${seq}, found ${found}`);
    this.jobId = jobId;
    this.streamId = streamId;
  }
}

/** A record the operation needs does not exist (the job expired, or was never created). */
export class StateRecordMissingError extends FatalError {}

/** The records contradict each other or the caller's input is outside the contract. */
export class StateInvariantError extends FatalError {}

/** Concurrent writers kept winning a contended item (a job's META) for longer than the retry budget. */
export class StateContentionError extends RetryableError {}

/** DynamoDB did not answer (refused connection, throttling, 5xx) for the whole retry budget. */
export class StateUnavailableError extends RetryableError {}
