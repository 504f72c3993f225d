/**
 * The Lambda shapes of an SQS-triggered invocation, from @types/aws-lambda, named once for the
 * controller handler, the backup app and the local event source that imitates Lambda.
 */
import type { Context } from "aws-lambda";

export type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

/** The part of Lambda's context object that mailstream reads. */
export type InvocationContext = Pick<Context, "awsRequestId" | "functionName" | "getRemainingTimeInMillis">;
