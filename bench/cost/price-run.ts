/**
 * Prices what a metered run did (lib/dev/local/aws-meter.ts): counted requests × the price table
 * (bench/cost/prices.ts). Pure arithmetic, pinned by test/unit/bench/price-run.test.ts.
 */
import type { MeteredCaller, MeteredFunction, MeterReading } from "../../lib/dev/local/aws-meter.js";
import { KMS_MODEL, PRICES, type Prices, S3_FREE, S3_PUT_CLASS } from "./prices.js";

/** Memory of each function, MB (the stack's configuration). */
export type FunctionMemory = Record<MeteredFunction, number>;

/** The counted operations a price is made of. */
export interface PricedOperations {
  /** PUT, COPY, POST, LIST requests. */
  s3PutClass: number;
  /** GET, HEAD and other non-free requests. */
  s3GetClass: number;
  /** DELETE and abort requests (free). */
  s3Free: number;
  /** Every S3 request by operation. */
  s3ByOperation: Record<string, number>;
  dynamodbRequests: number;
  dynamodbReadUnits: number;
  dynamodbWriteUnits: number;
  /** Read and write units by operation (where the units go). */
  dynamodbUnitsByOperation: Record<string, number>;
  sqsRequests: number;
  /** Modeled from the operations (see KMS_MODEL in prices.ts). */
  kmsRequests: number;
  lambdaInvocations: Partial<Record<MeteredFunction, number>>;
  lambdaSeconds: Partial<Record<MeteredFunction, number>>;
  lambdaGbSeconds: Partial<Record<MeteredFunction, number>>;
}

/** Dollars by service. */
export interface CostBreakdown {
  s3Requests: number;
  dynamodb: number;
  sqs: number;
  kms: number;
  lambdaDuration: number;
  lambdaRequests: number;
}

export interface PricedRun {
  operations: PricedOperations;
  breakdown: CostBreakdown;
  /** The sum of the breakdown. */
  dollars: number;
}

/** The callers whose requests a job pays for: its functions and Lambda's poller (not the harness). */
export const JOB_CALLERS: readonly MeteredCaller[] = ["coordinator", "controller", "eventSource"];
/** The functions whose invocations a job pays for (the sweep runs on its own schedule: a fixed cost). */
export const JOB_FUNCTIONS: readonly MeteredFunction[] = ["coordinator", "controller"];

const S3_KMS_WRITES = new Set(["s3:PutObject", "s3:CreateMultipartUpload", "s3:CopyObject"]);
const S3_KMS_READS = new Set(["s3:GetObject", "s3:CopyObject", "s3:UploadPart"]);
const SQS_SENDS = new Set(["sqs:SendMessage", "sqs:SendMessageBatch"]);

/** KMS requests one invocation causes through S3, DynamoDB and SQS (KMS_MODEL in prices.ts). */
export function kmsRequestsOf(invocation: MeterReading["invocations"][number]): number {
  const ops = Object.keys(invocation.operations);
  let n = 0;
  if (ops.some((op) => S3_KMS_WRITES.has(op))) n++;
  if (ops.some((op) => S3_KMS_READS.has(op))) n++;
  if (ops.some((op) => op.startsWith("dynamodb:"))) {
    n += Math.max(1, Math.ceil(invocation.durationMs / 1000 / KMS_MODEL.dynamodbKeyCacheSeconds));
  }
  if (ops.some((op) => SQS_SENDS.has(op))) n++;
  if (invocation.fn === "controller") n++;
  return n;
}

/**
 * Prices the requests of `callers` and the invocations of `functions` in a reading. Lambda bills
 * each invocation's duration (rounded up to the millisecond) × its memory in GB (MB / 1024).
 */
export function priceRun(
  reading: MeterReading,
  memoryMb: FunctionMemory,
  options: {
    callers?: readonly MeteredCaller[];
    functions?: readonly MeteredFunction[];
    prices?: Prices;
  } = {},
): PricedRun {
  const prices = options.prices ?? PRICES;
  const callers = options.callers ?? JOB_CALLERS;
  const functions = options.functions ?? JOB_FUNCTIONS;
  const ops: PricedOperations = {
    s3PutClass: 0,
    s3GetClass: 0,
    s3Free: 0,
    s3ByOperation: {},
    dynamodbRequests: 0,
    dynamodbReadUnits: 0,
    dynamodbWriteUnits: 0,
    dynamodbUnitsByOperation: {},
    sqsRequests: 0,
    kmsRequests: 0,
    lambdaInvocations: {},
    lambdaSeconds: {},
    lambdaGbSeconds: {},
  };
  for (const caller of callers) {
    for (const [key, n] of Object.entries(reading.operations[caller])) {
      const [service, operation = ""] = key.split(":");
      if (service === "s3") {
        ops.s3ByOperation[operation] = (ops.s3ByOperation[operation] ?? 0) + n;
        if (S3_FREE.has(operation)) ops.s3Free += n;
        else if (S3_PUT_CLASS.has(operation)) ops.s3PutClass += n;
        else ops.s3GetClass += n;
      } else if (service === "dynamodb") ops.dynamodbRequests += n;
      else if (service === "sqs") ops.sqsRequests += n;
    }
    ops.dynamodbReadUnits += reading.dynamodb[caller].readUnits;
    ops.dynamodbWriteUnits += reading.dynamodb[caller].writeUnits;
    for (const [operation, units] of Object.entries(reading.dynamodbUnitsByOperation[caller])) {
      ops.dynamodbUnitsByOperation[operation] = (ops.dynamodbUnitsByOperation[operation] ?? 0) + units;
    }
  }
  for (const invocation of reading.invocations) {
    if (!functions.includes(invocation.fn)) continue;
    const seconds = Math.ceil(invocation.durationMs) / 1000;
    ops.lambdaInvocations[invocation.fn] = (ops.lambdaInvocations[invocation.fn] ?? 0) + 1;
    ops.lambdaSeconds[invocation.fn] = (ops.lambdaSeconds[invocation.fn] ?? 0) + seconds;
    ops.lambdaGbSeconds[invocation.fn] =
      (ops.lambdaGbSeconds[invocation.fn] ?? 0) + (seconds * memoryMb[invocation.fn]) / 1024;
    ops.kmsRequests += kmsRequestsOf(invocation);
  }
  const sum = (record: Partial<Record<string, number>>) =>
    Object.values(record).reduce<number>((a, b) => a + (b ?? 0), 0);
  const breakdown: CostBreakdown = {
    s3Requests:
      (ops.s3PutClass * prices.s3.perThousandPutClass + ops.s3GetClass * prices.s3.perThousandGetClass) /
      1000,
    dynamodb:
      (ops.dynamodbReadUnits * prices.dynamodb.perMillionReadUnits +
        ops.dynamodbWriteUnits * prices.dynamodb.perMillionWriteUnits) /
      1e6,
    sqs: (ops.sqsRequests * prices.sqs.perMillionRequests) / 1e6,
    kms: (ops.kmsRequests * prices.kms.perTenThousandRequests) / 1e4,
    lambdaDuration: sum(ops.lambdaGbSeconds) * prices.lambda.perGbSecondArm64,
    lambdaRequests: (sum(ops.lambdaInvocations) * prices.lambda.perMillionRequests) / 1e6,
  };
  return { operations: ops, breakdown, dollars: sum(breakdown as unknown as Record<string, number>) };
}

/** Dollars a month to keep `bytes` in S3 Standard (AWS bills storage in GB of 2³⁰ bytes). */
export function standardStorageDollarsPerMonth(bytes: number, prices: Prices = PRICES): number {
  return (bytes / 2 ** 30) * prices.s3.standardPerGbMonth;
}

/** Multiplies every figure of a priced run by `factor` (e.g. 10⁶ / items for "per million items"). */
export function scaleRun(run: PricedRun, factor: number): PricedRun {
  const scale = <T extends object>(o: T): T =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [k, typeof v === "number" ? v * factor : scale(v as object)]),
    ) as T;
  return {
    operations: scale(run.operations),
    breakdown: scale(run.breakdown),
    dollars: run.dollars * factor,
  };
}
