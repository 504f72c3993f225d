import { Readable } from "node:stream";
import { ObjectNotFoundError } from "./errors.js";
import { assertValidKey } from "./keys.js";
import type { ObjectInfo, ObjectStore, PutOptions } from "./store.js";

/** An archive in memory, for unit tests of code that uses an {@link ObjectStore}. Same key rules. */
export class MemoryObjectStore implements ObjectStore {
  readonly location = "memory:";
  readonly objects = new Map<string, Buffer>();

  async put(key: string, body: Buffer | Readable, _opts?: PutOptions): Promise<void> {
    assertValidKey(key);
    if (Buffer.isBuffer(body)) {
      this.objects.set(key, Buffer.from(body));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    this.objects.set(key, Buffer.concat(chunks));
  }

  async get(key: string): Promise<Readable> {
    return Readable.from([await this.getBytes(key)]);
  }

  async getRange(key: string, offset: number, length: number): Promise<Readable> {
    const bytes = await this.getBytes(key);
    if (offset + length > bytes.length)
      throw new ObjectNotFoundError(`${key} bytes ${offset}..${offset + length - 1}`);
    return Readable.from([bytes.subarray(offset, offset + length)]);
  }

  async getBytes(key: string): Promise<Buffer> {
    assertValidKey(key);
    const bytes = this.objects.get(key);
    if (!bytes) throw new ObjectNotFoundError(key);
    return Buffer.from(bytes);
  }

  async head(key: string): Promise<{ size: number } | null> {
    const bytes = this.objects.get(key);
    return bytes ? { size: bytes.length } : null;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, bytes] of [...this.objects])
      if (key.startsWith(prefix)) yield { key, size: bytes.length };
  }

  async move(from: string, to: string): Promise<void> {
    assertValidKey(to);
    this.objects.set(to, await this.getBytes(from));
    this.objects.delete(from);
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
}
