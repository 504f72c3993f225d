import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";

/** An S3 client that never sends: it records each command's name and input and answers with `answer`. */
function answeringClient(answer: (command: string) => Error | undefined) {
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
      const command = String(context.commandName);
      calls.push({ command, input: args.input as Record<string, unknown> });
      const error = answer(command);
      if (error) throw error;
      return { output: { $metadata: { httpStatusCode: 200 } }, response: {} } as never;
    },
    { step: "initialize", name: "answer" },
  );
  return { client, calls };
}

/** Stops every request after recording it, so the requests that the store builds can be inspected. */
const capturingClient = () => answeringClient(() => new Error("captured"));

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

function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

describe("S3ObjectStore write-once blobs and the staging bucket", () => {
  it("writes blobs only where nothing is (If-None-Match: *), other keys unconditionally", async () => {
    const { client, calls } = answeringClient(() => undefined);
    const store = new S3ObjectStore({ client, bucket: "archive" });
    await store.put("blobs/sha256/aa/bb/aabb.eml", Buffer.from("mime"));
    await store.put("blobs/packs/mailbox=m/p.pack", Buffer.from("mime"));
    await store.put("catalog/mailbox=m/job=j/folder=f/part-0-0.jsonl", Buffer.from("{}\n"));
    expect(calls.map((c) => [c.input.Key, c.input.IfNoneMatch])).toEqual([
      ["blobs/sha256/aa/bb/aabb.eml", "*"],
      ["blobs/packs/mailbox=m/p.pack", "*"],
      ["catalog/mailbox=m/job=j/folder=f/part-0-0.jsonl", undefined],
    ]);
  });

  it("takes a failed condition on a blob as the blob being there already, and nowhere else", async () => {
    const { client } = answeringClient(() => s3Error("PreconditionFailed", 412));
    const store = new S3ObjectStore({ client, bucket: "archive" });
    await expect(store.put("blobs/sha256/aa/bb/aabb.eml", Buffer.from("mime"))).resolves.toBeUndefined();
    await expect(store.put("reports/j/report.json", Buffer.from("{}"))).rejects.toMatchObject({
      name: "PreconditionFailed",
    });
  });

  it("retries a conditional write that met a concurrent one (409) later, as a retryable error", async () => {
    const { client } = answeringClient(() => s3Error("ConditionalRequestConflict", 409));
    const store = new S3ObjectStore({ client, bucket: "archive" });
    await expect(store.put("blobs/sha256/aa/bb/aabb.eml", Buffer.from("mime"))).rejects.toMatchObject({
      name: "RetryableError",
    });
  });

  it("stages large uploads in the staging bucket and publishes them into the archive with a conditional copy", async () => {
    const { client, calls } = answeringClient(() => undefined);
    const store = new S3ObjectStore({ client, bucket: "archive", prefix: "mail", stagingBucket: "staging" });
    await expect(store.put("staging/u.eml", Buffer.from("x"))).resolves.toBeUndefined();
    await store.move("staging/u.eml", "blobs/sha256/aa/bb/aabb.eml");
    await store.delete("staging/v.eml");
    expect(
      calls.map((c) => [c.command, c.input.Bucket, c.input.Key, c.input.CopySource, c.input.IfNoneMatch]),
    ).toEqual([
      ["PutObjectCommand", "staging", "mail/staging/u.eml", undefined, undefined],
      ["CopyObjectCommand", "archive", "mail/blobs/sha256/aa/bb/aabb.eml", "staging/mail/staging/u.eml", "*"],
      ["DeleteObjectCommand", "staging", "mail/staging/u.eml", undefined, undefined],
      ["DeleteObjectCommand", "staging", "mail/staging/v.eml", undefined, undefined],
    ]);
  });

  it("drops the staged upload when another stream published the same blob first", async () => {
    const { client, calls } = answeringClient((command) =>
      command === "CopyObjectCommand" ? s3Error("PreconditionFailed", 412) : undefined,
    );
    const store = new S3ObjectStore({ client, bucket: "archive", stagingBucket: "staging" });
    await store.move("staging/u.eml", "blobs/sha256/aa/bb/aabb.eml");
    expect(calls.map((c) => [c.command, c.input.Bucket])).toEqual([
      ["CopyObjectCommand", "archive"],
      ["DeleteObjectCommand", "staging"],
    ]);
  });
});
