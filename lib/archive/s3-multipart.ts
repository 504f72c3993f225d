/**
 * A multipart upload from a stream whose memory is fixed: `queueSize + 1` part buffers, filled in
 * place and reused, whatever the object's size.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: its stream chunker collects the incoming chunks and
 * `Buffer.concat`s them into a fresh buffer for every part (and keeps the rest as a view of that
 * buffer). Each part buffer lives as long as its upload, so it reaches V8's old generation and is
 * freed only by a full garbage collection; a 100 MB message then leaves tens of MiB of dead part
 * buffers in the controller between collections (see bench/controller-rss.md). Here the same few
 * buffers carry every part.
 */
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { FatalError, RetryableError } from "../errors.js";

/** S3's smallest part (all but the last), in bytes. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part number. */
const MAX_PARTS = 10_000;

export interface MultipartSettings {
  /** Bytes per part (all but the last), ≥ {@link MIN_PART_SIZE}. */
  partSize: number;
  /** Parts uploaded at once, ≥ 1. Memory is `partSize × (queueSize + 1)`. */
  queueSize: number;
}

/** What every request of the upload carries: bucket, key, content type, encryption. */
export type UploadTarget = Pick<
  CreateMultipartUploadCommandInput,
  "Bucket" | "Key" | "ContentType" | "ServerSideEncryption" | "SSEKMSKeyId" | "BucketKeyEnabled"
> & { Bucket: string; Key: string };

/**
 * Uploads `body` to `target`: one PutObject when it fits in one part, else a multipart upload
 * (aborted, parts and all, when anything fails). Reading pauses while `queueSize` parts are in
 * flight and the next one is full, so a slow S3 slows the source instead of filling memory.
 */
export async function uploadStream(
  client: S3Client,
  target: UploadTarget,
  body: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array>,
  settings: MultipartSettings,
): Promise<void> {
  if (!Number.isInteger(settings.partSize) || settings.partSize < MIN_PART_SIZE) {
    throw new RangeError(`partSize: expected an integer ≥ ${MIN_PART_SIZE}, found ${settings.partSize}`);
  }
  if (!Number.isInteger(settings.queueSize) || settings.queueSize < 1) {
    throw new RangeError(`queueSize: expected an integer ≥ 1, found ${settings.queueSize}`);
  }
  const upload = new PartUploader(client, target, settings);
  try {
    for await (const raw of body) {
      const chunk = typeof raw === "string" ? Buffer.from(raw) : raw;
      await upload.write(chunk);
    }
    await upload.finish();
  } catch (error) {
    await upload.abort();
    throw error;
  }
}

class PartUploader {
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private current: Buffer | undefined;
  private filled = 0;
  private partNumber = 0;
  private uploadId: Promise<string> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly done: CompletedPart[] = [];
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly target: UploadTarget,
    private readonly settings: MultipartSettings,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    let offset = 0;
    while (offset < chunk.byteLength) {
      this.current ??= this.takeBuffer();
      const n = Math.min(chunk.byteLength - offset, this.current.length - this.filled);
      this.current.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.current.length) await this.sendCurrent();
    }
  }

  async finish(): Promise<void> {
    if (this.uploadId === undefined) {
      // Everything fitted in one part: a plain PutObject, as lib-storage does.
      const bytes = this.current ? this.current.subarray(0, this.filled) : Buffer.alloc(0);
      await this.client.send(new PutObjectCommand({ ...this.target, Body: bytes }));
      return;
    }
    if (this.filled > 0) await this.sendCurrent();
    await this.settle();
    this.throwIfFailed();
    const parts = [...this.done].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.target.Bucket,
        Key: this.target.Key,
        UploadId: await this.uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  }

  /** Waits for the parts in flight, then removes the upload and its parts (best effort). */
  async abort(): Promise<void> {
    await this.settle();
    const uploadId = await this.uploadId?.catch(() => undefined);
    if (!uploadId) return;
    await this.client
      .send(
        new AbortMultipartUploadCommand({
          Bucket: this.target.Bucket,
          Key: this.target.Key,
          UploadId: uploadId,
        }),
      )
      .catch(() => {});
  }

  /**
   * A free part buffer. At most `queueSize` parts are in flight while one is filled, so the pool
   * never holds more than `queueSize + 1` buffers.
   */
  private takeBuffer(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    this.allocated++;
    if (this.allocated > this.settings.queueSize + 1) {
      throw new FatalError(
        `multipart upload of ${this.target.Key}: expected at most ${this.settings.queueSize + 1} part buffers, found a need for ${this.allocated}`,
      );
    }
    return Buffer.allocUnsafeSlow(this.settings.partSize);
  }

  /** Sends the filled part once fewer than `queueSize` parts are in flight (reading waits meanwhile). */
  private async sendCurrent(): Promise<void> {
    while (this.inFlight.size >= this.settings.queueSize) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const buffer = this.current!;
    const length = this.filled;
    this.current = undefined;
    this.filled = 0;
    this.partNumber++;
    if (this.partNumber > MAX_PARTS) {
      throw new RangeError(
        `multipart upload of ${this.target.Key}: expected at most ${MAX_PARTS} parts of ${this.settings.partSize} bytes, found more`,
      );
    }
    this.uploadId ??= this.create();
    const partNumber = this.partNumber;
    const sending: Promise<void> = this.sendPart(partNumber, buffer.subarray(0, length))
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        // The SDK is done with the bytes once the request settled (retries included): reuse them.
        this.free.push(buffer);
        this.inFlight.delete(sending);
      });
    this.inFlight.add(sending);
  }

  private async create(): Promise<string> {
    const calculation = await this.client.config.requestChecksumCalculation();
    const out = await this.client.send(
      new CreateMultipartUploadCommand({
        ...this.target,
        // As lib-storage: with checksums on by default, the parts carry CRC32s the upload expects.
        ...(calculation === "WHEN_SUPPORTED" ? { ChecksumAlgorithm: "CRC32" as const } : {}),
      }),
    );
    if (!out.UploadId) {
      throw new RetryableError(
        `multipart upload of ${this.target.Key}: expected an UploadId from S3, found none`,
      );
    }
    return out.UploadId;
  }

  private async sendPart(partNumber: number, bytes: Buffer): Promise<void> {
    const uploadId = await this.uploadId!;
    const out = await this.client.send(
      new UploadPartCommand({
        Bucket: this.target.Bucket,
        Key: this.target.Key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: bytes,
      }),
    );
    if (!out.ETag) {
      throw new RetryableError(
        `multipart upload of ${this.target.Key}: expected an ETag for part ${partNumber}, found none`,
      );
    }
    this.done.push({
      PartNumber: partNumber,
      ETag: out.ETag,
      ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
      ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
      ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
      ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
      ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
    });
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
