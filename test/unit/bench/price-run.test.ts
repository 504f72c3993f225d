import { describe, expect, it } from "vitest";
import {
  kmsRequestsOf,
  priceRun,
  scaleRun,
  standardStorageDollarsPerMonth,
} from "../../../bench/cost/price-run.js";
import { PRICES } from "../../../bench/cost/prices.js";
import type { MeteredCaller, MeterReading } from "../../../lib/dev/local/aws-meter.js";

const callers: MeteredCaller[] = ["coordinator", "controller", "sweep", "eventSource", "harness"];
const byCaller = <T>(make: () => T) =>
  Object.fromEntries(callers.map((c) => [c, make()])) as Record<MeteredCaller, T>;

/** A reading built by hand: every number below is chosen so that the dollars can be worked out on paper. */
function reading(): MeterReading {
  const r: MeterReading = {
    operations: byCaller(() => ({})),
    dynamodb: byCaller(() => ({ readUnits: 0, writeUnits: 0 })),
    dynamodbUnitsByOperation: byCaller(() => ({})),
    s3UploadedBytes: byCaller(() => 0),
    invocations: [],
    emptyReceives: 7,
  };
  r.operations.controller = {
    "s3:PutObject": 1000,
    "s3:HeadObject": 2000,
    "s3:DeleteObject": 5,
    "s3:GetObject": 500,
    "dynamodb:UpdateItem": 40,
    "sqs:SendMessage": 3,
  };
  r.operations.coordinator = { "s3:PutObject": 10, "dynamodb:BatchWriteItem": 2, "sqs:SendMessageBatch": 1 };
  r.operations.eventSource = { "sqs:ReceiveMessage": 4, "sqs:DeleteMessageBatch": 4 };
  // The harness and the sweep are never part of a job's price.
  r.operations.harness = { "s3:ListObjectsV2": 1_000_000, "dynamodb:GetItem": 1_000_000 };
  r.operations.sweep = { "dynamodb:Query": 100 };
  r.dynamodb.controller = { readUnits: 200_000, writeUnits: 1_000_000 };
  r.dynamodb.coordinator = { readUnits: 0, writeUnits: 600_000 };
  r.dynamodb.harness = { readUnits: 9e9, writeUnits: 9e9 };
  r.dynamodb.sweep = { readUnits: 50, writeUnits: 0 };
  r.dynamodbUnitsByOperation.controller = { UpdateItem: 1_000_000, Query: 200_000 };
  r.invocations = [
    // 2,048 MB for 1,000 s = 2,000 GB-s; S3 write and read, DynamoDB for 1,000 s (4 started 5-minute windows), a send.
    {
      fn: "controller",
      durationMs: 1_000_000,
      operations: { "s3:PutObject": 1, "s3:GetObject": 1, "dynamodb:UpdateItem": 1, "sqs:SendMessage": 1 },
    },
    // 999.5 ms is billed as 1,000 ms; only DynamoDB (1 window) and the consumer's decrypt.
    { fn: "controller", durationMs: 999.5, operations: { "dynamodb:UpdateItem": 1 } },
    // 1,024 MB for 500 s = 500 GB-s; S3 write, DynamoDB (2 windows), a send.
    {
      fn: "coordinator",
      durationMs: 500_000,
      operations: { "s3:PutObject": 1, "dynamodb:BatchWriteItem": 1, "sqs:SendMessageBatch": 1 },
    },
    { fn: "sweep", durationMs: 1000, operations: { "dynamodb:Query": 1 } },
  ];
  return r;
}

const memory = { controller: 2048, coordinator: 1024, sweep: 256 };

describe("pricing a metered run", () => {
  it("models the KMS requests of an invocation from the operations it made", () => {
    const [big, small, coordinator] = reading().invocations;
    // S3 write 1 + S3 read 1 + DynamoDB ⌈1000 s / 300 s⌉ = 4 + SQS send 1 + consumer decrypt 1.
    expect(kmsRequestsOf(big!)).toBe(8);
    expect(kmsRequestsOf(small!)).toBe(2);
    // S3 write 1 + DynamoDB ⌈500 / 300⌉ = 2 + SQS send 1; no consumer decrypt for the coordinator.
    expect(kmsRequestsOf(coordinator!)).toBe(4);
  });

  it("counts the job's callers and functions only, and prices each service", () => {
    const run = priceRun(reading(), memory);
    expect(run.operations).toMatchObject({
      s3PutClass: 1010,
      s3GetClass: 2500,
      s3Free: 5,
      dynamodbRequests: 42,
      dynamodbReadUnits: 200_000,
      dynamodbWriteUnits: 1_600_000,
      sqsRequests: 12,
      kmsRequests: 14,
      lambdaInvocations: { controller: 2, coordinator: 1 },
      lambdaGbSeconds: { controller: 2002, coordinator: 500 },
    });
    expect(run.operations.lambdaInvocations.sweep).toBeUndefined();
    // 1,010 × $0.005/1000 + 2,500 × $0.0004/1000
    expect(run.breakdown.s3Requests).toBeCloseTo(0.00505 + 0.001, 12);
    // 0.2 M read units × $0.125 + 1.6 M write units × $0.625
    expect(run.breakdown.dynamodb).toBeCloseTo(0.025 + 1.0, 12);
    expect(run.breakdown.sqs).toBeCloseTo((12 * 0.4) / 1e6, 12);
    expect(run.breakdown.kms).toBeCloseTo((14 * 0.03) / 1e4, 12);
    expect(run.breakdown.lambdaDuration).toBeCloseTo(2502 * 0.0000133334, 12);
    expect(run.breakdown.lambdaRequests).toBeCloseTo((3 * 0.2) / 1e6, 12);
    const sum = Object.values(run.breakdown).reduce((a, b) => a + b, 0);
    expect(run.dollars).toBeCloseTo(sum, 12);
  });

  it("prices the sweep on its own when asked", () => {
    const run = priceRun(reading(), memory, { callers: ["sweep"], functions: ["sweep"] });
    expect(run.operations.dynamodbRequests).toBe(100);
    expect(run.operations.lambdaGbSeconds).toEqual({ sweep: 0.25 });
    expect(run.breakdown.lambdaDuration).toBeCloseTo(0.25 * PRICES.lambda.perGbSecondArm64, 15);
  });

  it("scales every figure, and prices storage per GiB-month", () => {
    const run = priceRun(reading(), memory);
    const perMillion = scaleRun(run, 1e6 / 1200);
    expect(perMillion.dollars).toBeCloseTo((run.dollars * 1e6) / 1200, 9);
    expect(perMillion.operations.s3PutClass).toBeCloseTo((1010 * 1e6) / 1200, 6);
    expect(perMillion.operations.lambdaGbSeconds.controller).toBeCloseTo((2002 * 1e6) / 1200, 6);
    expect(standardStorageDollarsPerMonth(2 ** 30 * 10)).toBeCloseTo(0.23, 12);
  });
});
