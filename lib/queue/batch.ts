import type { SqsBatchResponse, SqsEvent, SqsEventRecord } from "../dev/local/sqs-event-source.js";

export interface RecordFailure {
  messageId: string;
  error: unknown;
}

/**
 * Processes the records of an SQS batch one after another and reports the failed ones as a
 * partial batch response (the shape of Powertools' BatchProcessor): a failed record is retried by
 * SQS alone; the ones that succeeded are deleted. Records are processed in order because stream
 * tasks of one stream must not overlap.
 */
export async function processSqsBatch(
  event: SqsEvent,
  handleRecord: (record: SqsEventRecord) => Promise<void>,
  onFailure?: (failure: RecordFailure) => void,
): Promise<SqsBatchResponse> {
  const batchItemFailures: SqsBatchResponse["batchItemFailures"] = [];
  for (const record of event.Records) {
    try {
      await handleRecord(record);
    } catch (error) {
      onFailure?.({ messageId: record.messageId, error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
