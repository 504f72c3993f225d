/**
 * Controller Lambda: one SQS batch of stream tasks in (batch size 1 in the stack), a partial
 * batch response out, so that only the failed records come back.
 */
import { assertSqsEvent, lambdaRuntime } from "../lib/app/lambda.js";
import type { InvocationContext, SqsBatchResponse, SqsEvent } from "../lib/dev/local/sqs-event-source.js";

export const handler = async (event: SqsEvent, context: InvocationContext): Promise<SqsBatchResponse> => {
  assertSqsEvent(event);
  const { app } = await lambdaRuntime();
  return app.handleSqsEvent(event, context);
};
