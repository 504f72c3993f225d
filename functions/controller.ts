/**
 * Controller Lambda: one SQS batch of stream tasks in (batch size 1 in the stack), a partial
 * batch response out, so that only the failed records come back.
 */

import { limitHeapGrowth } from "../lib/app/heap-growth.js";
import { assertSqsEvent, lambdaRuntime } from "../lib/app/lambda.js";
import type { InvocationContext, SQSBatchResponse, SQSEvent } from "../lib/queue/lambda-events.js";

// Full collections before dead stream buffers pile up: peak memory with a large item (heap-growth.ts).
limitHeapGrowth();

export const handler = async (event: SQSEvent, context: InvocationContext): Promise<SQSBatchResponse> => {
  assertSqsEvent(event);
  const { app } = await lambdaRuntime();
  return app.handleSqsEvent(event, context);
};
