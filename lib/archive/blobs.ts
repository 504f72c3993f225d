/**
 * Content-addressed item bodies (blobs): an item body is stored once under the SHA-256 of its
 * bytes, with its kind in the key (`blobs/sha256/<aa>/<bb>/<sha256>.<ext>`): a message's MIME as
 * a plain `.eml` that ordinary tools open, an item's export stream (the mailbox import/export
 * API's opaque full-fidelity data) as `.fts`, byte for byte as the service gave it.
 */
import { createHash, randomUUID } from "node:crypto";
import { PassThrough, Readable, Transform, type Writable } from "node:stream";
import { createGzip } from "node:zlib";
import type { BlobKind } from "../backup/ports.js";
import { type BodyEncoder, type BodyEncoding, decodeStream } from "./encoding.js";
import { BlobIntegrityError } from "./errors.js";
import { BLOB_EXTENSIONS, blobKey, STAGING_PREFIX } from "./keys.js";
import type { ObjectStore } from "./store.js";

export type { BlobKind } from "../backup/ports.js";

/** The content type each kind of blob is written with. */
const CONTENT_TYPES: Record<BlobKind, string> = {
  mime: "message/rfc822",
  export: "application/octet-stream",
};

export interface StoredBlob {
  /** Lowercase hex SHA-256 of the bytes: the blob's address. */
  sha256: string;
  /** Size in bytes (of the body itself, uncompressed). */
  size: number;
  /** The blob's key in the archive. */
  key: string;
  /** True when the archive already held this content, so nothing new was written. */
  existed: boolean;
  /** Set when the body lies in a pack (then `key` is the pack's key). */
  pack?: PackLocation;
  /** Set when the body is stored compressed (its own object's key then ends in `.gz`). */
  encoding?: BodyEncoding;
}

/** @deprecated name of {@link StoredBlob}, kept for callers that store MIME. */
export type StoredMime = StoredBlob;

export interface StoreBlobOptions {
  /** Compresses a body where it pays (encoding.ts). Default: every body stored as it is. */
  encoder?: BodyEncoder;
  /**
   * Bytes kept in memory before the body is spilled to a staging upload, 1 B..64 MiB.
   * Default 4 MiB: most items are smaller and are written once, straight to their address.
   */
  memoryThresholdBytes?: number;
  /**
   * The body's stored form, when the caller already encoded it with `encoder` (a Buffer body
   * within the memory threshold only): it is not encoded again. Default: encoded here.
   */
  encoded?: { bytes: Buffer; encoding?: BodyEncoding };
}
export type StoreMimeOptions = StoreBlobOptions;

const DEFAULT_THRESHOLD = 4 * 1024 * 1024;

/** The bytes a body may have and still be held in memory and written at once (the memory threshold). */
export function memoryThresholdOf(opts: StoreBlobOptions): number {
  return Math.min(64 * 1024 * 1024, Math.max(1, opts.memoryThresholdBytes ?? DEFAULT_THRESHOLD));
}

/** A body streamed to staging (above the memory threshold) is compressed when its first MiB pays. */
const SPILL_PROBE_BYTES = 1024 * 1024;

/** The content type of a body compressed with gzip (`.gz`), whatever its kind. */
const GZIP_CONTENT_TYPE = "application/gzip";

/** Stores a message's MIME (a blob of kind `mime`, `.eml`); see {@link storeBlob}. */
export function storeMime(
  store: ObjectStore,
  stream: Readable,
  opts: StoreBlobOptions = {},
): Promise<StoredBlob> {
  return storeBlob(store, "mime", stream, opts);
}

/**
 * Stores an item body of a kind under its content address, hashing while it streams. A body up
 * to the threshold is held in memory, compressed when that pays (`encoder`), and written to its
 * address when that is still empty. A larger one is streamed (compressed when its first MiB
 * compresses) to a staging key (multipart on S3) and then moved to its address, or dropped when
 * the address already exists: memory stays bounded whatever the size. The address exists when
 * the body is stored in either form (`<sha256>.<ext>` or `<sha256>.<ext>.gz`): the same bytes are
 * never stored twice. A retried call with the same bytes writes the same key with the same content.
 */
export async function storeBlob(
  store: ObjectStore,
  kind: BlobKind,
  body: Readable | Buffer,
  opts: StoreBlobOptions = {},
): Promise<StoredBlob> {
  const threshold = memoryThresholdOf(opts);
  // A body already in memory within the threshold is hashed and written as it is: no stream
  // to take it apart and no copy to put it together again.
  if (Buffer.isBuffer(body) && body.length <= threshold) {
    return storeWhole(store, kind, body, createHash("sha256").update(body).digest("hex"), opts);
  }
  const stream = Buffer.isBuffer(body) ? Readable.from([body]) : body;
  const hash = createHash("sha256");
  let size = 0;
  let held: Buffer[] = [];
  let spill: { key: string; pass: Writable; done: Promise<void>; encoding?: BodyEncoding } | undefined;

  try {
    for await (const raw of stream) {
      // A view of the chunk, not a copy: a large message would otherwise leave a dead copy of
      // every byte for the garbage collector.
      const bytes = raw as Uint8Array;
      const chunk =
        typeof raw === "string"
          ? Buffer.from(raw)
          : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      hash.update(chunk);
      size += chunk.length;
      if (!spill) {
        held.push(chunk);
        if (size <= threshold) continue;
        const first = Buffer.concat(held);
        held = [];
        const compress = (await opts.encoder?.compresses(first.subarray(0, SPILL_PROBE_BYTES))) === true;
        const encoding: BodyEncoding | undefined = compress ? "gzip" : undefined;
        const key = `${STAGING_PREFIX}${randomUUID()}.${BLOB_EXTENSIONS[kind]}${compress ? ".gz" : ""}`;
        const pass = compress ? createGzip() : new PassThrough();
        spill = {
          key,
          pass,
          done: store.put(key, pass, { contentType: compress ? GZIP_CONTENT_TYPE : CONTENT_TYPES[kind] }),
          ...(encoding ? { encoding } : {}),
        };
        // Surface an upload failure while we are still writing, instead of waiting forever on drain.
        spill.done.catch(() => {});
        await write(spill, first);
      } else {
        await write(spill, chunk);
      }
    }
  } catch (error) {
    if (spill) {
      spill.pass.destroy(error as Error);
      await spill.done.catch(() => {});
      await store.delete(spill.key).catch(() => {});
    }
    throw error;
  }

  const sha256 = hash.digest("hex");
  if (spill) {
    spill.pass.end();
    await spill.done;
    const existing = await findStoredBlob(store, sha256, kind, size, spill.encoding);
    if (existing) {
      await store.delete(spill.key);
      return { sha256, size, existed: true, ...existing };
    }
    const key = blobKey(sha256, kind, spill.encoding);
    await store.move(spill.key, key);
    return { sha256, size, key, existed: false, ...(spill.encoding ? { encoding: spill.encoding } : {}) };
  }
  return storeWhole(store, kind, held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held), sha256, opts);
}

/** Stores a body held whole (within the memory threshold) at its address, unless it is there. */
async function storeWhole(
  store: ObjectStore,
  kind: BlobKind,
  whole: Buffer,
  sha256: string,
  opts: StoreBlobOptions,
): Promise<StoredBlob> {
  const size = whole.length;
  const encoded = opts.encoded ?? (opts.encoder ? await opts.encoder.encode(whole) : { bytes: whole });
  const existing = await findStoredBlob(store, sha256, kind, size, encoded.encoding);
  if (existing) return { sha256, size, existed: true, ...existing };
  const key = blobKey(sha256, kind, encoded.encoding);
  await store.put(key, encoded.bytes, {
    contentType: encoded.encoding ? GZIP_CONTENT_TYPE : CONTENT_TYPES[kind],
  });
  return { sha256, size, key, existed: false, ...(encoded.encoding ? { encoding: encoded.encoding } : {}) };
}

/**
 * The object holding a body of its own, in either form: the form about to be written first
 * (one HEAD when it exists), then the other (written by an earlier version, or under another
 * compression setting). Undefined when neither exists.
 */
export async function findStoredBlob(
  store: ObjectStore,
  sha256: string,
  kind: BlobKind,
  size: number,
  preferred?: BodyEncoding,
): Promise<{ key: string; encoding?: BodyEncoding } | undefined> {
  for (const encoding of preferred ? [preferred, undefined] : [undefined, "gzip" as const]) {
    const key = blobKey(sha256, kind, encoding);
    const found = await store.head(key);
    // A plain object is whole when it has the body's size; a compressed one's size is its own.
    if (found && (encoding ? found.size > 0 || size === 0 : found.size === size))
      return { key, ...(encoding ? { encoding } : {}) };
  }
  return undefined;
}

/** Writes one chunk, waiting for the upload to take it (or failing when the upload failed). */
async function write(spill: { pass: Writable; done: Promise<void> }, chunk: Buffer): Promise<void> {
  if (spill.pass.write(chunk)) return;
  await Promise.race([
    new Promise<void>((resolve) => spill.pass.once("drain", resolve)),
    spill.done.then(() => {
      throw new Error("expected the staging upload to consume the whole message, found it finished early");
    }),
  ]);
}

export interface ReadBlobOptions {
  /** The blob's kind. Default `mime`. */
  kind?: BlobKind;
  /**
   * Recompute the SHA-256 while reading and fail the stream at its end with
   * {@link BlobIntegrityError} when it differs from the address. Default false.
   */
  verify?: boolean;
}

/** Where a small item body lies inside a pack (docs/archive-format.md "Packs"). */
export interface PackLocation {
  /** The pack's key (`blobs/packs/mailbox=<m>/<id>.pack`). */
  key: string;
  /** First byte of the body in the pack. */
  offset: number;
  /** Bytes the body takes in the pack (compressed, when its `encoding` says so). */
  length: number;
}

/**
 * A blob to read: its SHA-256 (an object of its own at its content address), or a catalog
 * line's `{ sha256, pack }` (inside a pack when `pack` is set).
 */
export type BlobRef =
  | string
  | { sha256: string; pack?: PackLocation | undefined; encoding?: BodyEncoding | undefined };

/**
 * The blob's bytes: one GET of its own object, or one ranged GET of its pack, decompressed when
 * the reference says it is stored compressed (`encoding`; its own object is then `….gz`): a
 * damaged compressed body fails the stream with a `BodyEncodingError`. Throws
 * `ObjectNotFoundError` when missing.
 */
export async function readBlob(
  store: ObjectStore,
  ref: BlobRef,
  opts: ReadBlobOptions = {},
): Promise<Readable> {
  const sha256 = typeof ref === "string" ? ref : ref.sha256;
  const pack = typeof ref === "string" ? undefined : ref.pack;
  const encoding = typeof ref === "string" ? undefined : ref.encoding;
  const key = pack
    ? `${pack.key} bytes ${pack.offset}..${pack.offset + pack.length - 1}`
    : blobKey(sha256, opts.kind, encoding);
  const stored = pack ? await store.getRange(pack.key, pack.offset, pack.length) : await store.get(key);
  const body = encoding ? decodeStream(stored, encoding, `blob ${key}`) : stored;
  if (!opts.verify) return body;
  const hash = createHash("sha256");
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const found = hash.digest("hex");
      done(
        found === sha256
          ? null
          : new BlobIntegrityError(`blob ${key}: expected content hashing to ${sha256}, found ${found}`),
      );
    },
  });
  body.on("error", (e) => check.destroy(e));
  return body.pipe(check);
}

/** True when the archive holds the blob as an object of its own (as it is, or compressed). */
export async function hasBlob(store: ObjectStore, sha256: string, kind: BlobKind = "mime"): Promise<boolean> {
  return (
    (await store.head(blobKey(sha256, kind))) !== null ||
    (await store.head(blobKey(sha256, kind, "gzip"))) !== null
  );
}
