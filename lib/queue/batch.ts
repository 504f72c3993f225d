import { ruleFor } from "../errors.js";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "./lambda-events.js";

export interface RecordFailure {
  messageId: string;
  error: unknown;
  /** Whether the record was reported failed (the queue delivers it again) or let go. */
  retried: boolean;
}

/**
 * Processes the records of an SQS batch one after another and reports the failed ones as a
 * partial batch response (the shape of Powertools' BatchProcessor): a failed record is retried by
 * SQS alone; the ones that succeeded are deleted. Which failures come back follows the rules of
 * lib/errors.ts. Records are processed in order because stream
 * tasks of one stream must not overlap.
 */
export async function processSqsBatch(
  event: SQSEvent,
  handleRecord: (record: SQSRecord) => Promise<void>,
  onFailure?: (failure: RecordFailure) => void,
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    try {
      await handleRecord(record);
    } catch (error) {
      // A superseded task is let go: its stream's newer task carries on. Anything else comes
      // back; one that can never succeed (a malformed message) ends in the dead-letter queue
      // after the queue's receive limit, where the alarm shows it.
      const retried = ruleFor(error) !== "drop";
      onFailure?.({ messageId: record.messageId, error, retried });
      if (retried) batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
