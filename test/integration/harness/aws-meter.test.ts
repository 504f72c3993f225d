/**
 * The AWS meter on the real SDK clients against the emulators: every request counted once per
 * HTTP attempt, attributed to the invocation that made it, DynamoDB's consumed capacity added
 * up (a transaction's doubled units included), refused conditional writes charged.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsMeter, difference } from "../../../lib/dev/local/aws-meter.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
}, 60_000);
afterAll(() => aws?.stop());

describe("the AWS meter", () => {
  // One meter for the file: a client takes one meter's middleware (attach is idempotent).
  const meter = new AwsMeter();

  it("counts requests by caller and adds up DynamoDB's consumed capacity", async () => {
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

  it("counts a transaction's write units item by item, as DynamoDB bills them, not as DynamoDB Local reports them", async () => {
    meter.attach(aws.clients);
    const table = await aws.createTable();
    const { ddb } = aws.clients;
    // 2.5 KB each: 3 write units, 6 in a transaction. DynamoDB Local reports ten of them as 6.
    const kib2half = "x".repeat(2500);
    const keys = Array.from({ length: 10 }, (_, i) => ({ pk: `p${i}`, sk: "1" }));
    await ddb.send(new PutCommand({ TableName: table, Item: { pk: "old", sk: "1", v: "x".repeat(5000) } }));
    const before = meter.reading();

    await meter.invocation("controller", async () => {
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: keys.map((key) => ({ Put: { TableName: table, Item: { ...key, v: kib2half } } })),
        }),
      );
      // Updates that shrink the items: billed by the larger size, before.
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: keys.map((Key) => ({
            Update: {
              TableName: table,
              Key,
              UpdateExpression: "SET v = :v",
              ExpressionAttributeValues: { ":v": "y" },
            },
          })),
        }),
      );
      // An Update that grows an item (by the size after: 5 KB → 5 units), a Delete of a
      // 5 KB item (5), a ConditionCheck of a small one (1), a Put replacing nothing (1).
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: table,
                Key: keys[0],
                UpdateExpression: "SET v = :v",
                ExpressionAttributeValues: { ":v": "z".repeat(5000) },
              },
            },
            { Delete: { TableName: table, Key: { pk: "old", sk: "1" } } },
            {
              ConditionCheck: { TableName: table, Key: keys[1], ConditionExpression: "attribute_exists(pk)" },
            },
            { Put: { TableName: table, Item: { pk: "new", sk: "1" } } },
          ],
        }),
      );
    });
    // What was written is what was asked for (the meter's reads changed nothing).
    const read = await ddb.send(new GetCommand({ TableName: table, Key: keys[2], ConsistentRead: true }));
    expect(read.Item?.v).toBe("y");

    const run = difference(meter.reading(), before);
    expect(run.dynamodbUnitsByOperation.controller).toEqual({
      TransactWriteItems: 60 + 60 + 2 * (5 + 5 + 1 + 1),
    });
    // The meter's own reads (BatchGetItem, DescribeTable) are nobody's requests.
    expect(run.operations.controller).toEqual({ "dynamodb:TransactWriteItems": 3 });
    expect(run.operations.harness).toEqual({ "dynamodb:GetItem": 1 });
  }, 60_000);

  it("keeps a refused transaction's charge: two write units an item", async () => {
    meter.attach(aws.clients);
    const table = await aws.createTable();
    const { ddb } = aws.clients;
    const before = meter.reading();
    await meter.invocation("controller", async () => {
      await ddb
        .send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: table, Item: { pk: "a", sk: "1", v: "x".repeat(2500) } } },
              {
                ConditionCheck: {
                  TableName: table,
                  Key: { pk: "b", sk: "1" },
                  ConditionExpression: "attribute_exists(pk)",
                },
              },
            ],
          }),
        )
        .catch(() => {});
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: "c", sk: "1" },
          UpdateExpression: "SET v = :v",
          ExpressionAttributeValues: { ":v": 1 },
        }),
      );
    });
    const run = difference(meter.reading(), before);
    expect(run.dynamodbUnitsByOperation.controller).toEqual({
      "TransactWriteItems (refused)": 4,
      UpdateItem: 1,
    });
  }, 60_000);
});
