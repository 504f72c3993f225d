import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
  type ServerSideEncryption,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { RetryableError } from "../errors.js";
import { ObjectNotFoundError } from "./errors.js";
import { assertValidKey, BLOBS_ROOT, STAGING_PREFIX } from "./keys.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "./store.js";

export interface S3ObjectStoreOptions {
  /** An S3 client from `createAwsClients` (lib/aws/clients.ts). */
  client: S3Client;
  /** Bucket name. */
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/`. Default: none (the bucket root). */
  prefix?: string;
  /** KMS key id or ARN: objects are written with SSE-KMS under it. Default: the bucket's default encryption. */
  kmsKeyId?: string;
  /**
   * Bucket that holds the staging uploads of large messages (keys under `staging/`, same prefix),
   * so the archive bucket receives only the finished blob: under Object Lock every version in the
   * archive is kept for the whole retention, and a staged copy there would double a large
   * message's locked storage. Default: the archive bucket.
   */
  stagingBucket?: string;
  /**
   * Part size of multipart uploads in bytes, 5 MiB..5 GiB (S3 limits). Default 5 MiB: a 150 MB
   * message takes 29 parts, and the memory of an upload stays small (≈ partSize × (queueSize + 1)).
   */
  partSize?: number;
  /**
   * Parts uploaded at once per upload, 1..16. Default 1: memory per upload ≈ partSize ×
   * (queueSize + 1), and one part at a time keeps a controller with a 100 MB message under 200 MB.
   */
  queueSize?: number;
}

const MiB = 1024 * 1024;

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** S3's answer to a conditional write whose condition failed: the key already holds an object. */
function isPreconditionFailed(error: unknown): boolean {
  return (error as { name?: string })?.name === "PreconditionFailed" || statusOf(error) === 412;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(error) === 404;
}

/**
 * The SDK already retried (maxAttempts); what is still throttled or 5xx is worth another try later,
 * and so is a 409 ConditionalRequestConflict (a concurrent conditional write of the same key).
 */
function classify(error: unknown, what: string): unknown {
  const status = statusOf(error);
  if (status === 409 || status === 429 || status === 503 || (status !== undefined && status >= 500)) {
    return new RetryableError(`${what}: expected S3 to answer, found HTTP ${status}`, { cause: error });
  }
  return error;
}

/**
 * Blob keys are content addresses: whatever is there holds the same bytes, so a blob is written
 * only where nothing is (`If-None-Match: *`) and can never be overwritten, not even by a retry.
 */
function isBlobKey(key: string): boolean {
  // Packs and their indexes (blobs/packs/…) too: each has a key of its own, never written twice.
  return key.startsWith(BLOBS_ROOT);
}

/** The archive in an S3 bucket (or an S3-compatible emulator), keys under an optional prefix. */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly stagingBucket: string;
  private readonly prefix: string;
  private readonly sse: {
    ServerSideEncryption?: ServerSideEncryption;
    SSEKMSKeyId?: string;
    BucketKeyEnabled?: boolean;
  };
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(opts: S3ObjectStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.stagingBucket = opts.stagingBucket ?? opts.bucket;
    const prefix = (opts.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.prefix = prefix ? `${prefix}/` : "";
    this.location = `s3://${opts.bucket}/${this.prefix}`;
    // A bucket key cuts KMS requests (and their cost) for the many small catalog objects.
    this.sse = opts.kmsKeyId
      ? { ServerSideEncryption: "aws:kms", SSEKMSKeyId: opts.kmsKeyId, BucketKeyEnabled: true }
      : {};
    this.partSize = Math.max(5 * MiB, opts.partSize ?? 5 * MiB);
    this.queueSize = Math.min(16, Math.max(1, opts.queueSize ?? 1));
  }

  private full(key: string): string {
    assertValidKey(key);
    return `${this.prefix}${key}`;
  }

  /** Staging uploads live in the staging bucket; everything else in the archive bucket. */
  private bucketOf(key: string): string {
    return key.startsWith(STAGING_PREFIX) ? this.stagingBucket : this.bucket;
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void> {
    const params = {
      Bucket: this.bucketOf(key),
      Key: this.full(key),
      ContentType: opts?.contentType ?? "application/octet-stream",
      ...this.sse,
      // A single put and the completion of a multipart upload both carry the condition.
      ...(isBlobKey(key) ? { IfNoneMatch: "*" } : {}),
    };
    try {
      if (Buffer.isBuffer(body) && body.length <= this.partSize) {
        await this.client.send(new PutObjectCommand({ ...params, Body: body }));
        return;
      }
      // Streams (and large buffers) go in parts: a message is never held whole in memory.
      const upload = new Upload({
        client: this.client,
        params: { ...params, Body: body },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (error) {
      // The blob is already there: same address, same bytes.
      if (isBlobKey(key) && isPreconditionFailed(error)) return;
      throw classify(error, `put ${this.location}${key}`);
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucketOf(key), Key: this.full(key) }),
      );
      return out.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(key, { cause: error });
      throw classify(error, `get ${this.location}${key}`);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Readable> {
    if (length === 0) return Readable.from([]);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucketOf(key),
          Key: this.full(key),
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      return out.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(key, { cause: error });
      throw classify(error, `get ${this.location}${key} bytes ${offset}..${offset + length - 1}`);
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    const body = await this.get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucketOf(key), Key: this.full(key) }),
      );
      return { size: out.ContentLength ?? 0 };
    } catch (error) {
      if (isMissing(error)) return null;
      throw classify(error, `head ${this.location}${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: `${this.prefix}${prefix}`,
            ContinuationToken: token,
          }),
        );
      } catch (error) {
        throw classify(error, `list ${this.location}${prefix}`);
      }
      for (const o of out.Contents ?? []) {
        if (o.Key) yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.full(from);
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucketOf(to),
          Key: this.full(to),
          CopySource: `${this.bucketOf(from)}/${source.split("/").map(encodeURIComponent).join("/")}`,
          ...this.sse,
          ...(isBlobKey(to) ? { IfNoneMatch: "*" } : {}),
        }),
      );
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(from, { cause: error });
      // Another stream published the same blob first: nothing to copy.
      if (!(isBlobKey(to) && isPreconditionFailed(error))) {
        throw classify(error, `copy ${this.location}${from} to ${to}`);
      }
    }
    await this.delete(from);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucketOf(key), Key: this.full(key) }));
    } catch (error) {
      if (isMissing(error)) return;
      throw classify(error, `delete ${this.location}${key}`);
    }
  }
}
