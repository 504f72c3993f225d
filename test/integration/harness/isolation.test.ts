import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListBucketsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ListQueuesCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let first: AwsHarness;
let second: AwsHarness;
beforeAll(async () => {
  [first, second] = await Promise.all([useAwsEmulators(), useAwsEmulators()]);
});
afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
});

describe("two harnesses at once", () => {
  it("run on different ports", () => {
    expect(first.endpoints.s3).not.toBe(second.endpoints.s3);
    expect(first.endpoints.dynamodb).not.toBe(second.endpoints.dynamodb);
  });

  it("do not see each other's buckets, queues or tables", async () => {
    const bucket = await first.createBucket();
    const queue = await first.createQueue();
    const table = await first.createTable();
    await first.clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "v" }));

    const buckets = await second.clients.s3.send(new ListBucketsCommand({}));
    expect((buckets.Buckets ?? []).map((b) => b.Name)).not.toContain(bucket);
    const queues = await second.clients.sqs.send(new ListQueuesCommand({}));
    expect(queues.QueueUrls ?? []).not.toContain(queue.url);
    const tables = await second.clients.dynamodb.send(new ListTablesCommand({}));
    expect(tables.TableNames ?? []).not.toContain(table);

    // And the first sees its own: the negative checks above are not vacuous.
    const own = await first.clients.dynamodb.send(new ListTablesCommand({}));
    expect(own.TableNames).toContain(table);
    const ownBuckets = await first.clients.s3.send(new ListBucketsCommand({}));
    expect((ownBuckets.Buckets ?? []).map((b) => b.Name)).toContain(bucket);
  });

  it("give every created resource a fresh name", async () => {
    const names = await Promise.all([first.createBucket(), first.createBucket(), second.createBucket()]);
    expect(new Set(names).size).toBe(3);
  });

  it("stop cleanly, and stopping twice is harmless", async () => {
    const third = await useAwsEmulators();
    await third.stop();
    await third.stop();
    // Nothing listens on the old ports any more.
    await expect(fetch(third.endpoints.dynamodb!)).rejects.toThrow();
    await expect(fetch(third.endpoints.s3!)).rejects.toThrow();
  });
});
