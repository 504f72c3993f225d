import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATE_TABLE_SCHEMA } from "../../../lib/state/keys.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

describe("DynamoDB Local with the state table", () => {
  it("creates the table with pk/sk string keys, on demand, TTL on expiresAt", async () => {
    const { DescribeTableCommand, DescribeTimeToLiveCommand } = await import("@aws-sdk/client-dynamodb");
    const table = await aws.createTable();
    const described = await aws.clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.KeySchema).toEqual([
      { AttributeName: STATE_TABLE_SCHEMA.partitionKey, KeyType: "HASH" },
      { AttributeName: STATE_TABLE_SCHEMA.sortKey, KeyType: "RANGE" },
    ]);
    expect(described.Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
    const ttl = await aws.clients.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe("expiresAt");
  });

  it("puts and gets an item", async () => {
    const table = await aws.createTable();
    await aws.clients.ddb.send(
      new PutCommand({ TableName: table, Item: { pk: "JOB#1", sk: "META", status: "running", units: 3 } }),
    );
    const got = await aws.clients.ddb.send(
      new GetCommand({ TableName: table, Key: { pk: "JOB#1", sk: "META" } }),
    );
    expect(got.Item).toEqual({ pk: "JOB#1", sk: "META", status: "running", units: 3 });
  });

  it("rejects a conditional write whose condition is false, leaving the item as it was", async () => {
    const table = await aws.createTable();
    const key = { pk: "JOB#1", sk: "UNIT#0" };
    await aws.clients.ddb.send(new PutCommand({ TableName: table, Item: { ...key, claimedBy: "stream-1" } }));
    const claimAgain = aws.clients.ddb.send(
      new PutCommand({
        TableName: table,
        Item: { ...key, claimedBy: "stream-2" },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    await expect(claimAgain).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const got = await aws.clients.ddb.send(new GetCommand({ TableName: table, Key: key }));
    expect(got.Item?.claimedBy).toBe("stream-1");
  });

  it("applies a transaction all together, or not at all when one condition fails", async () => {
    const table = await aws.createTable();
    await aws.clients.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: { pk: "JOB#2", sk: "META", next: 1 } } },
          { Put: { TableName: table, Item: { pk: "JOB#2", sk: "UNIT#0", status: "claimed" } } },
        ],
      }),
    );
    const failing = aws.clients.ddb.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: table,
              Key: { pk: "JOB#2", sk: "META" },
              UpdateExpression: "SET #next = :two",
              ExpressionAttributeNames: { "#next": "next" },
              ExpressionAttributeValues: { ":two": 2 },
            },
          },
          {
            Put: {
              TableName: table,
              Item: { pk: "JOB#2", sk: "UNIT#0", status: "claimed-twice" },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
        ],
      }),
    );
    await expect(failing).rejects.toBeInstanceOf(TransactionCanceledException);
    const meta = await aws.clients.ddb.send(
      new GetCommand({ TableName: table, Key: { pk: "JOB#2", sk: "META" } }),
    );
    expect(meta.Item?.next).toBe(1);
    const unit = await aws.clients.ddb.send(
      new GetCommand({ TableName: table, Key: { pk: "JOB#2", sk: "UNIT#0" } }),
    );
    expect(unit.Item?.status).toBe("claimed");
  });
});
