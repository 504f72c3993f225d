/**
 * How an item body is stored: as it is, or gzip-compressed when that saves enough. The body's
 * content address stays the SHA-256 of its exact, uncompressed bytes (so deduplication holds
 * across jobs, mailboxes, content modes and settings), and a reader checks that hash after
 * decompressing. gzip because Node 20 and 22 both have it built in and anyone can undo it with
 * `gunzip`. Format: docs/archive-format.md "Compression".
 */
import { PassThrough, type Readable } from "node:stream";
import { promisify } from "node:util";
import { createGunzip, gzip } from "node:zlib";
import { BlobIntegrityError } from "./errors.js";

/** How a stored body is encoded. Absent (on lines, index entries): the bytes as they are. */
export type BodyEncoding = "gzip";

export interface CompressionOptions {
  /**
   * `gzip`: compress a body when that saves at least `minSavingPercent`; `none`: store every
   * body as it is. Default `none` (createArchive's callers choose; the S3 configuration's default
   * is `gzip`).
   */
  codec?: "gzip" | "none";
  /**
   * The share of a body's bytes compression must save for the compressed form to be kept,
   * percent, 1..90. Default 10: a smaller saving is not worth a decompression on every read.
   */
  minSavingPercent?: number;
}

export const COMPRESSION_DEFAULTS = { codec: "none", minSavingPercent: 10 } as const;

/**
 * A body larger than this is first tried on its first {@link PROBE_BYTES}: attachments (zip,
 * images, PDFs) do not compress, and a body whose start does not save enough is kept as it is
 * without compressing the whole of it.
 */
const PROBE_ABOVE = 256 * 1024;
const PROBE_BYTES = 64 * 1024;

const gzipAsync = promisify(gzip);

/**
 * A compressed body that cannot be decompressed (damaged or truncated in the archive): a damaged
 * blob like one whose bytes do not hash to its address, never passed on as good data.
 */
export class BodyEncodingError extends BlobIntegrityError {}

/** The rule that decides per body whether its compressed form is kept. */
export class BodyEncoder {
  readonly codec: "gzip" | "none";
  readonly minSavingPercent: number;

  constructor(opts: CompressionOptions = {}) {
    this.codec = opts.codec ?? COMPRESSION_DEFAULTS.codec;
    this.minSavingPercent = Math.min(
      90,
      Math.max(1, Math.floor(opts.minSavingPercent ?? COMPRESSION_DEFAULTS.minSavingPercent)),
    );
  }

  /** True when compression is on at all. */
  get enabled(): boolean {
    return this.codec === "gzip";
  }

  /** True when `stored` bytes for a body of `size` bytes save at least the minimum share. */
  pays(size: number, stored: number): boolean {
    return size > 0 && stored <= size * (1 - this.minSavingPercent / 100);
  }

  /**
   * The body as it is to be stored: its gzip form when that saves at least `minSavingPercent`
   * of its bytes, else the body itself (no encoding). A large body whose first 64 KiB do not save
   * that much is kept as it is without compressing the rest.
   */
  async encode(body: Buffer): Promise<{ bytes: Buffer; encoding?: BodyEncoding }> {
    if (!this.enabled || body.length === 0) return { bytes: body };
    if (body.length > PROBE_ABOVE && !(await this.compresses(body.subarray(0, PROBE_BYTES))))
      return { bytes: body };
    const compressed = await gzipAsync(body);
    return this.pays(body.length, compressed.length)
      ? { bytes: compressed, encoding: "gzip" }
      : { bytes: body };
  }

  /** True when the sample saves at least the minimum share once compressed. */
  async compresses(sample: Buffer): Promise<boolean> {
    if (!this.enabled || sample.length === 0) return false;
    return this.pays(sample.length, (await gzipAsync(sample)).length);
  }
}

/**
 * The body of stored bytes of an encoding, as a stream; an error of the codec (a damaged or
 * truncated compressed body: gzip checks its CRC-32 and length at the end) fails it with a
 * {@link BodyEncodingError} naming `where`, never with wrong bytes.
 */
export function decodeStream(stored: Readable, encoding: BodyEncoding, where: string): Readable {
  if (encoding !== "gzip")
    throw new BodyEncodingError(`${where}: expected encoding gzip, found ${String(encoding)}`);
  const gunzip = createGunzip();
  const out = new PassThrough();
  stored.on("error", (error) => out.destroy(error));
  gunzip.on("error", (error) =>
    out.destroy(
      new BodyEncodingError(
        `${where}: expected gzip data that decompresses to the body, found ${error.message}`,
        {
          cause: error,
        },
      ),
    ),
  );
  // A reader that stops early (a header read) releases the stored stream too.
  out.on("close", () => {
    stored.destroy();
    gunzip.destroy();
  });
  stored.pipe(gunzip).pipe(out);
  return out;
}
