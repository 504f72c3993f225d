/**
 * The AWS meter on the real SDK clients against the emulators: every request counted once per
 * HTTP attempt, attributed to the invocation that made it, DynamoDB's consumed capacity added
 * up (a transaction's doubled units included), refused conditional writes charged.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsMeter, difference } from "../../../lib/dev/local/aws-meter.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
}, 60_000);
afterAll(() => aws?.stop());

describe("the AWS meter", () => {
  it("counts requests by caller and adds up DynamoDB's consumed capacity", async () => {
    const meter = new AwsMeter();
    meter.attach(aws.clients);
    meter.attach(aws.clients); // attaching twice must not count twice
    const bucket = await aws.createBucket();
    const table = await aws.createTable();
    const queue = await aws.createQueue();
    const before = meter.reading();
    const { s3, ddb, sqs } = aws.clients;
    const kib3 = "x".repeat(3000);

    await meter.invocation("controller", async () => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "a", Body: Buffer.alloc(1234) }));
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "a" }));
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "missing" })).catch(() => {});
      // 3 KB: 3 write units; in a transaction with a 1 KB item: (3 + 1) × 2.
      await ddb.send(new PutCommand({ TableName: table, Item: { pk: "a", sk: "1", v: kib3 } }));
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: table, Item: { pk: "b", sk: "1", v: kib3 } } },
            { Put: { TableName: table, Item: { pk: "c", sk: "1" } } },
          ],
        }),
      );
      // Refused by its condition: no capacity reported, one write unit billed.
      await ddb
        .send(
          new PutCommand({
            TableName: table,
            Item: { pk: "a", sk: "1" },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        )
        .catch(() => {});
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: "task" }));
    });
    await meter.invocation("coordinator", async () => {
      // An eventually consistent read of a 3 KB item: half a read unit.
      await ddb.send(new GetCommand({ TableName: table, Key: { pk: "a", sk: "1" } }));
    });
    // Outside any invocation: Lambda's poller (receives with a message) and the harness.
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 1 }));
    expect(received.Messages).toHaveLength(1);
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 0 }));
    await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "a" }));

    const run = difference(meter.reading(), before);
    expect(run.operations.controller).toEqual({
      "s3:PutObject": 1,
      "s3:HeadObject": 2,
      "dynamodb:PutItem": 2,
      "dynamodb:TransactWriteItems": 1,
      "sqs:SendMessage": 1,
    });
    expect(run.dynamodb.controller).toEqual({ readUnits: 0, writeUnits: 3 + 8 + 1 });
    expect(run.dynamodbUnitsByOperation.controller).toEqual({
      PutItem: 3,
      TransactWriteItems: 8,
      "PutItem (refused)": 1,
    });
    expect(run.s3UploadedBytes.controller).toBe(1234);
    expect(run.operations.coordinator).toEqual({ "dynamodb:GetItem": 1 });
    expect(run.dynamodb.coordinator).toEqual({ readUnits: 0.5, writeUnits: 0 });
    expect(run.operations.eventSource).toEqual({ "sqs:ReceiveMessage": 1 });
    expect(run.emptyReceives).toBe(1);
    expect(run.operations.harness).toEqual({ "s3:GetObject": 1 });
    expect(run.invocations.map((i) => i.fn)).toEqual(["controller", "coordinator"]);
    expect(run.invocations[0]!.operations["dynamodb:PutItem"]).toBe(2);
    expect(run.invocations[0]!.durationMs).toBeGreaterThan(0);
  }, 60_000);
});
