import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";

/**
 * An S3 client that never sends: a middleware records each command's name and input and then
 * stops it, so the requests that the store builds can be inspected.
 */
function capturingClient() {
  const calls: Array<{ command: string; input: Record<string, unknown> }> = [];
  const client = new S3Client({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:9",
    forcePathStyle: true,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      calls.push({ command: String(context.commandName), input: args.input as Record<string, unknown> });
      throw new Error("captured");
    },
    { step: "initialize", name: "capture" },
  );
  return { client, calls };
}

describe("S3ObjectStore requests", () => {
  it("asks for SSE-KMS with the configured key on puts, multipart uploads and copies, under the prefix", async () => {
    const { client, calls } = capturingClient();
    const store = new S3ObjectStore({
      client,
      bucket: "archive",
      prefix: "t1",
      kmsKeyId: "arn:aws:kms:eu-west-1:1:key/k",
    });
    const sse = { ServerSideEncryption: "aws:kms", SSEKMSKeyId: "arn:aws:kms:eu-west-1:1:key/k" };

    await expect(store.put("reports/j/report.json", Buffer.from("{}"))).rejects.toThrow("captured");
    expect(calls.at(-1)).toMatchObject({
      command: "PutObjectCommand",
      input: { Bucket: "archive", Key: "t1/reports/j/report.json", ...sse },
    });

    const big = Readable.from([Buffer.alloc(9 * 1024 * 1024)]);
    await expect(store.put("staging/x.eml", big)).rejects.toThrow("captured");
    expect(
      calls.some(
        (c) => c.command === "CreateMultipartUploadCommand" && c.input.SSEKMSKeyId === sse.SSEKMSKeyId,
      ),
    ).toBe(true);
    expect(calls.find((c) => c.command === "CreateMultipartUploadCommand")?.input).toMatchObject({
      Key: "t1/staging/x.eml",
      ...sse,
    });

    await expect(store.move("staging/x.eml", "blobs/sha256/aa/bb/y.eml")).rejects.toThrow("captured");
    expect(calls.at(-1)).toMatchObject({
      command: "CopyObjectCommand",
      input: { Key: "t1/blobs/sha256/aa/bb/y.eml", CopySource: "archive/t1/staging/x.eml", ...sse },
    });
  });

  it("leaves encryption to the bucket default when no key is configured", async () => {
    const { client, calls } = capturingClient();
    const store = new S3ObjectStore({ client, bucket: "archive" });
    await expect(store.put("jobs/j/manifest.json", Buffer.from("{}"))).rejects.toThrow("captured");
    expect(calls[0]!.input.Key).toBe("jobs/j/manifest.json");
    expect(calls[0]!.input).not.toHaveProperty("ServerSideEncryption");
    expect(calls[0]!.input).not.toHaveProperty("SSEKMSKeyId");
  });
});
