import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { hasBlob, readBlob, storeBlob, storeMime } from "../../../lib/archive/blobs.js";
import { BlobIntegrityError } from "../../../lib/archive/errors.js";
import { blobKey } from "../../../lib/archive/keys.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import type { PutOptions } from "../../../lib/archive/store.js";
import { sha } from "../../support/archive-entries.js";

/** Records how each key was written: as one buffer or as a stream. */
class RecordingStore extends MemoryObjectStore {
  readonly puts: Array<{ key: string; streamed: boolean }> = [];
  override async put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void> {
    this.puts.push({ key, streamed: !Buffer.isBuffer(body) });
    return super.put(key, body, opts);
  }
}

/** The bytes in chunks of `chunk` bytes, as a network stream would deliver them. */
function chunked(bytes: Buffer, chunk: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

describe("storeMime", () => {
  it("stores a small message under its SHA-256 in one write", async () => {
    const store = new RecordingStore();
    const mime = Buffer.from("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n");
    const stored = await storeMime(store, chunked(mime, 7));
    expect(stored).toEqual({ sha256: sha(mime), size: mime.length, key: blobKey(sha(mime)), existed: false });
    expect(store.puts).toEqual([{ key: blobKey(sha(mime)), streamed: false }]);
    expect(await readAll(await readBlob(store, stored.sha256))).toEqual(mime);
  });

  it("hashes a message larger than the memory threshold while streaming it through a staging key", async () => {
    const store = new RecordingStore();
    const mime = randomBytes(300_000);
    const stored = await storeMime(store, chunked(mime, 4096), { memoryThresholdBytes: 10_000 });
    expect(stored.sha256).toBe(sha(mime));
    expect(stored.size).toBe(mime.length);
    expect(stored.existed).toBe(false);
    // The large message went to the store as a stream, never as one buffer.
    expect(store.puts).toHaveLength(1);
    expect(store.puts[0]!.streamed).toBe(true);
    expect(store.puts[0]!.key.startsWith("staging/")).toBe(true);
    // Only the content-addressed blob remains.
    expect([...store.objects.keys()]).toEqual([blobKey(sha(mime))]);
    expect(await store.getBytes(stored.key)).toEqual(mime);
  });

  it("stores identical content once and says it existed", async () => {
    for (const threshold of [1 << 20, 1000]) {
      const store = new RecordingStore();
      const mime = randomBytes(50_000);
      const first = await storeMime(store, chunked(mime, 999), { memoryThresholdBytes: threshold });
      const second = await storeMime(store, chunked(mime, 5000), { memoryThresholdBytes: threshold });
      expect(first.existed).toBe(false);
      expect(second).toEqual({ ...first, existed: true });
      expect([...store.objects.keys()]).toEqual([first.key]);
    }
  });

  it("gives different content different keys", async () => {
    const store = new MemoryObjectStore();
    const a = await storeMime(store, Readable.from([Buffer.from("a")]));
    const b = await storeMime(store, Readable.from([Buffer.from("b")]));
    expect(a.key).not.toBe(b.key);
    expect(store.objects.size).toBe(2);
  });

  it("fails, leaving no staging object, when the source stream breaks", async () => {
    const store = new MemoryObjectStore();
    async function* broken() {
      yield randomBytes(20_000);
      yield randomBytes(20_000);
      throw new Error("connection reset");
    }
    await expect(storeMime(store, Readable.from(broken()), { memoryThresholdBytes: 1000 })).rejects.toThrow(
      "connection reset",
    );
    expect(store.objects.size).toBe(0);
  });
});

describe("storeBlob", () => {
  it("keeps the kind in the key: the same bytes as MIME and as an export stream are two blobs", async () => {
    const store = new RecordingStore();
    const bytes = randomBytes(3000);
    const asExport = await storeBlob(store, "export", bytes);
    expect(asExport).toEqual({
      sha256: sha(bytes),
      size: 3000,
      key: blobKey(sha(bytes), "export"),
      existed: false,
    });
    expect(asExport.key.endsWith(".fts")).toBe(true);
    expect(await hasBlob(store, sha(bytes), "export")).toBe(true);
    expect(await hasBlob(store, sha(bytes), "mime")).toBe(false);
    expect((await storeBlob(store, "export", chunked(bytes, 100))).existed).toBe(true);
    const asMime = await storeBlob(store, "mime", chunked(bytes, 100));
    expect(asMime).toMatchObject({ key: blobKey(sha(bytes), "mime"), existed: false });
    expect(await readAll(await readBlob(store, sha(bytes), { kind: "export", verify: true }))).toEqual(bytes);
  });

  it("spills a large export stream through a staging key of its kind", async () => {
    const store = new RecordingStore();
    const bytes = randomBytes(50_000);
    const stored = await storeBlob(store, "export", chunked(bytes, 4096), { memoryThresholdBytes: 10_000 });
    expect(stored.key).toBe(blobKey(sha(bytes), "export"));
    expect(store.puts[0]?.key).toMatch(/^staging\/.*\.fts$/);
    expect([...store.objects.keys()]).toEqual([blobKey(sha(bytes), "export")]);
  });
});

describe("readBlob", () => {
  it("detects content that no longer matches its address when asked to verify", async () => {
    const store = new MemoryObjectStore();
    const stored = await storeMime(store, Readable.from([Buffer.from("original")]));
    expect((await readAll(await readBlob(store, stored.sha256, { verify: true }))).toString()).toBe(
      "original",
    );
    store.objects.set(stored.key, Buffer.from("tampered"));
    await expect(readAll(await readBlob(store, stored.sha256, { verify: true }))).rejects.toThrow(
      BlobIntegrityError,
    );
  });
});
