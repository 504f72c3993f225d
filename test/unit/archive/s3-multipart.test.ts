import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { MIN_PART_SIZE, uploadStream } from "../../../lib/archive/s3-multipart.js";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";

type Call = { command: string; input: Record<string, unknown> };

/** What a command resolves to, as the SDK's deserializer would hand it back. */
const answer = (output: Record<string, unknown>) =>
  ({ output: { $metadata: {}, ...output }, response: {} }) as never;

/**
 * An S3 client that never sends: a middleware answers each command as S3 would (upload id,
 * part ETags) after a short pause, and records what it was asked, the parts in flight at once
 * and the memory each part's bytes live in.
 */
function fakeS3(options: { failPart?: number } = {}) {
  const calls: Call[] = [];
  const partBodies = new Map<number, Buffer>();
  const backingStores = new Set<ArrayBufferLike>();
  let inFlight = 0;
  let maxInFlight = 0;
  const client = new S3Client({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:9",
    forcePathStyle: true,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      const command = String(context.commandName);
      calls.push({ command, input });
      if (command === "CreateMultipartUploadCommand") return answer({ UploadId: "up-1" });
      if (command === "UploadPartCommand") {
        const body = input.Body as Buffer;
        const part = input.PartNumber as number;
        backingStores.add(body.buffer);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Copy now: the uploader may reuse the bytes once this request has settled.
        partBodies.set(part, Buffer.from(body));
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        if (part === options.failPart)
          throw Object.assign(new Error("part failed"), { name: "InternalError" });
        return answer({ ETag: `"etag-${part}"`, ChecksumCRC32: `crc-${part}` });
      }
      return answer({});
    },
    { step: "initialize", name: "fakeS3" },
  );
  return {
    client,
    calls,
    partBodies,
    backingStores,
    maxInFlight: () => maxInFlight,
    commands: () => calls.map((c) => c.command),
  };
}

/** `total` deterministic bytes in chunks of `chunk` bytes (an odd size, so parts straddle chunks). */
function source(total: number, chunk = 100_003): { bytes: Buffer; stream: Readable } {
  const bytes = Buffer.alloc(total);
  for (let i = 0; i < total; i++) bytes[i] = (i * 31 + (i >> 9)) & 0xff;
  const chunks: Buffer[] = [];
  for (let at = 0; at < total; at += chunk) chunks.push(bytes.subarray(at, Math.min(total, at + chunk)));
  return { bytes, stream: Readable.from(chunks) };
}

const target = { Bucket: "archive", Key: "staging/x.eml", ContentType: "message/rfc822" };

describe("uploadStream", () => {
  it("uploads full parts of partSize and a shorter last part that reassemble to the input, then completes them in order", async () => {
    const s3 = fakeS3();
    const { bytes, stream } = source(3 * MIN_PART_SIZE + 12_345);
    await uploadStream(s3.client, target, stream, { partSize: MIN_PART_SIZE, queueSize: 2 });

    const sizes = [...s3.partBodies.entries()].sort(([a], [b]) => a - b).map(([, b]) => b.length);
    expect(sizes).toEqual([MIN_PART_SIZE, MIN_PART_SIZE, MIN_PART_SIZE, 12_345]);
    const joined = Buffer.concat([1, 2, 3, 4].map((n) => s3.partBodies.get(n)!));
    expect(joined.equals(bytes)).toBe(true);

    const complete = s3.calls.find((c) => c.command === "CompleteMultipartUploadCommand")!;
    expect(complete.input).toMatchObject({ Bucket: "archive", Key: "staging/x.eml", UploadId: "up-1" });
    expect((complete.input.MultipartUpload as { Parts: unknown[] }).Parts).toEqual(
      [1, 2, 3, 4].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"`, ChecksumCRC32: `crc-${n}` })),
    );
    expect(s3.calls.find((c) => c.command === "CreateMultipartUploadCommand")?.input).toMatchObject({
      ...target,
      ChecksumAlgorithm: "CRC32",
    });
  });

  it("keeps memory fixed: at most queueSize parts in flight and queueSize + 1 part buffers, reused for every part", async () => {
    const s3 = fakeS3();
    const partSize = MIN_PART_SIZE;
    const { stream } = source(12 * partSize + 1, 65_536);
    await uploadStream(s3.client, target, stream, { partSize, queueSize: 2 });

    expect(s3.partBodies.size).toBe(13);
    expect(s3.maxInFlight()).toBeLessThanOrEqual(2);
    // 13 parts went through no more than 3 distinct pieces of memory: nothing per part is allocated.
    expect(s3.backingStores.size).toBeLessThanOrEqual(3);
  });

  it("sends one PutObject when the whole stream fits in one part", async () => {
    const s3 = fakeS3();
    const { bytes, stream } = source(300_000);
    await uploadStream(s3.client, target, stream, { partSize: MIN_PART_SIZE, queueSize: 2 });
    expect(s3.commands()).toEqual(["PutObjectCommand"]);
    expect((s3.calls[0]!.input.Body as Buffer).equals(bytes)).toBe(true);
    expect(s3.calls[0]!.input).toMatchObject(target);
  });

  it("aborts the multipart upload and rethrows when a part fails", async () => {
    const s3 = fakeS3({ failPart: 2 });
    const { stream } = source(4 * MIN_PART_SIZE);
    await expect(
      uploadStream(s3.client, target, stream, { partSize: MIN_PART_SIZE, queueSize: 2 }),
    ).rejects.toThrow("part failed");
    expect(s3.commands()).toContain("AbortMultipartUploadCommand");
    expect(s3.commands()).not.toContain("CompleteMultipartUploadCommand");
    expect(s3.calls.find((c) => c.command === "AbortMultipartUploadCommand")?.input).toMatchObject({
      Bucket: "archive",
      Key: "staging/x.eml",
      UploadId: "up-1",
    });
  });

  it("refuses a part size below S3's minimum", async () => {
    const s3 = fakeS3();
    await expect(
      uploadStream(s3.client, target, Readable.from([]), { partSize: MIN_PART_SIZE - 1, queueSize: 2 }),
    ).rejects.toThrow(/partSize: expected an integer ≥ 5242880, found 5242879/);
    expect(s3.calls).toEqual([]);
  });
});

describe("S3ObjectStore multipart settings", () => {
  it("streams a message in 8 MiB parts with 2 in flight by default", async () => {
    const s3 = fakeS3();
    const store = new S3ObjectStore({ client: s3.client, bucket: "archive" });
    const { stream } = source(2 * 8 * 1024 * 1024 + 1, 1 << 20);
    await store.put("staging/y.eml", stream, { contentType: "message/rfc822" });
    const sizes = [...s3.partBodies.values()].map((b) => b.length).sort((a, b) => b - a);
    expect(sizes).toEqual([8 * 1024 * 1024, 8 * 1024 * 1024, 1]);
    expect(s3.maxInFlight()).toBeLessThanOrEqual(2);
    expect(s3.backingStores.size).toBeLessThanOrEqual(3);
  });
});
