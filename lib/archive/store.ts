/**
 * The archive's storage port: a flat, write-once key space. Two adapters share one key layout,
 * so every archive command works on both: S3ObjectStore (s3-store.ts, a bucket) and
 * LocalObjectStore (local-store.ts, a folder on a disk or NAS).
 */
import type { Readable } from "node:stream";
import { ObjectNotFoundError } from "./errors.js";

export interface PutOptions {
  /** MIME type recorded with the object (S3 `Content-Type`). Default `application/octet-stream`. */
  contentType?: string;
}

export interface ObjectInfo {
  key: string;
  /** Size in bytes. */
  size: number;
}

export interface ObjectStore {
  /** A short description for messages and logs, e.g. `s3://bucket/prefix` or `/mnt/archive`. */
  readonly location: string;
  /**
   * Stores the body under the key, replacing what is there (the archive only ever rewrites a key
   * with the same content, so this is write-once in effect). A stream is consumed to its end.
   */
  put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void>;
  /** The object's bytes as a stream. Throws {@link ObjectNotFoundError} when it is missing. */
  get(key: string): Promise<Readable>;
  /**
   * `length` bytes of the object from `offset` (one ranged read). Throws {@link ObjectNotFoundError}
   * when it is missing; the stream fails when the object is shorter than asked.
   */
  getRange(key: string, offset: number, length: number): Promise<Readable>;
  /** The object's bytes. Throws {@link ObjectNotFoundError} when it is missing. For small objects. */
  getBytes(key: string): Promise<Buffer>;
  /** Size of the object, or null when it is missing. */
  head(key: string): Promise<{ size: number } | null>;
  /** Every object whose key starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Moves an object to another key (S3: copy, then delete; local: rename). Used to publish a
   * staged upload under its content address.
   */
  move(from: string, to: string): Promise<void>;
  /** Removes the object; no error when it is missing. */
  delete(key: string): Promise<void>;
}

/** The object's bytes, or undefined when it is missing. */
export async function getBytesIfExists(store: ObjectStore, key: string): Promise<Buffer | undefined> {
  try {
    return await store.getBytes(key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}

/** Collects a listing (sorted by key in code-unit order, so callers see the same order on every target). */
export async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
