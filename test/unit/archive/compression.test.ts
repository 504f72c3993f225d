/**
 * Compression where it pays (docs/archive-format.md "Compression"): the per-body rule, bodies of
 * their own (`….gz`) and packed ones (index version 2, catalog `encoding`), read back byte for
 * byte and checked against the SHA-256 of the uncompressed bytes; damaged compressed data is a
 * named error, never wrong bytes; old, uncompressed forms keep reading and deduplicating.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { readBlob, storeBlob } from "../../../lib/archive/blobs.js";
import { readCatalogPart, type UpsertEntry } from "../../../lib/archive/catalog.js";
import { BodyEncoder, BodyEncodingError } from "../../../lib/archive/encoding.js";
import { BlobIntegrityError } from "../../../lib/archive/errors.js";
import { blobKey, catalogPartKey, packPrefix } from "../../../lib/archive/keys.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import { readMailboxPackIndexes } from "../../../lib/archive/packs.js";
import { sha, upsert } from "../../support/archive-entries.js";

const GZIP = { codec: "gzip" as const };

/** MIME-like text: compresses well. */
function text(bytes: number, seed = "a"): Buffer {
  const line = `Subject: quarterly plan ${seed}\r\nThe numbers for the next quarter are attached below.\r\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failureOf(stream: Promise<Readable>): Promise<unknown> {
  try {
    await bytesOf(await stream);
  } catch (error) {
    return error;
  }
  return undefined;
}

async function lines(store: MemoryObjectStore, mailboxId: string): Promise<UpsertEntry[]> {
  const read = await readCatalogPart(
    store,
    catalogPartKey({ jobId: "j1", mailboxId, folderId: "f", unit: 0, page: 0 }),
  );
  return read.entries.filter((e): e is UpsertEntry => e.kind === "upsert");
}

describe("the rule (BodyEncoder)", () => {
  it("compresses text, keeps incompressible bytes as they are, and never with codec none", async () => {
    const on = new BodyEncoder(GZIP);
    const mime = text(20_000);
    const encoded = await on.encode(mime);
    expect(encoded.encoding).toBe("gzip");
    expect(encoded.bytes.length).toBeLessThan(mime.length * 0.9);
    expect(gunzipSync(encoded.bytes).equals(mime)).toBe(true);

    const zip = randomBytes(20_000);
    const raw = await on.encode(zip);
    expect(raw.encoding).toBeUndefined();
    expect(raw.bytes).toBe(zip);

    const off = new BodyEncoder({ codec: "none" });
    expect((await off.encode(mime)).encoding).toBeUndefined();
    expect((await new BodyEncoder().encode(mime)).encoding).toBeUndefined();
  });

  it("keeps the compressed form only when it saves at least minSavingPercent (bounds 1..90)", async () => {
    // Three parts random, one part text: gzip saves about a fifth.
    const mixed = Buffer.concat([randomBytes(15_000), text(5_000)]);
    const stored = gzipSync(mixed).length;
    const saving = 1 - stored / mixed.length;
    expect(saving).toBeGreaterThan(0.1);
    expect(saving).toBeLessThan(0.3);
    expect((await new BodyEncoder({ ...GZIP, minSavingPercent: 10 }).encode(mixed)).encoding).toBe("gzip");
    expect((await new BodyEncoder({ ...GZIP, minSavingPercent: 40 }).encode(mixed)).encoding).toBeUndefined();
    const rule = new BodyEncoder({ ...GZIP, minSavingPercent: 10 });
    expect(rule.pays(1000, 900)).toBe(true);
    expect(rule.pays(1000, 901)).toBe(false);
    expect(rule.pays(0, 0)).toBe(false);
    expect(new BodyEncoder({ ...GZIP, minSavingPercent: 0 }).minSavingPercent).toBe(1);
    expect(new BodyEncoder({ ...GZIP, minSavingPercent: 99 }).minSavingPercent).toBe(90);
  });

  it("decides a large body on its first 64 KiB: an attachment-like start keeps it as it is", async () => {
    const body = Buffer.concat([randomBytes(64 * 1024), text(400 * 1024)]);
    expect((await new BodyEncoder(GZIP).encode(body)).encoding).toBeUndefined();
    const textFirst = Buffer.concat([text(400 * 1024), randomBytes(64 * 1024)]);
    expect((await new BodyEncoder(GZIP).encode(textFirst)).encoding).toBe("gzip");
  });
});

describe("bodies of their own", () => {
  it("stores a compressible body as <sha256>.<ext>.gz (gunzip gives the exact bytes) and an incompressible one as it is", async () => {
    const store = new MemoryObjectStore();
    const encoder = new BodyEncoder(GZIP);
    const mime = text(300_000);
    const stored = await storeBlob(store, "mime", mime, { encoder });
    expect(stored).toMatchObject({ sha256: sha(mime), size: mime.length, existed: false, encoding: "gzip" });
    expect(stored.key).toBe(`${blobKey(sha(mime))}.gz`);
    expect(gunzipSync(await store.getBytes(stored.key)).equals(mime)).toBe(true);
    expect(await store.head(blobKey(sha(mime)))).toBeNull();
    const back = await bytesOf(
      await readBlob(store, { sha256: stored.sha256, encoding: "gzip" }, { verify: true }),
    );
    expect(back.equals(mime)).toBe(true);

    const zip = randomBytes(300_000);
    const plain = await storeBlob(store, "export", zip, { encoder });
    expect(plain.encoding).toBeUndefined();
    expect(plain.key).toBe(blobKey(sha(zip), "export"));
  });

  it("streams a body above the memory threshold through a compressed staging object when its start compresses", async () => {
    const store = new MemoryObjectStore();
    const mime = text(3 * 1024 * 1024, "big");
    const stored = await storeBlob(
      store,
      "mime",
      Readable.from([mime.subarray(0, 1 << 20), mime.subarray(1 << 20)]),
      {
        encoder: new BodyEncoder(GZIP),
        memoryThresholdBytes: 64 * 1024,
      },
    );
    expect(stored).toMatchObject({ existed: false, encoding: "gzip", key: `${blobKey(sha(mime))}.gz` });
    expect([...store.objects.keys()].filter((k) => k.startsWith("staging/"))).toEqual([]);
    expect(gunzipSync(await store.getBytes(stored.key)).equals(mime)).toBe(true);
  });

  it("deduplicates across forms: a body stored as it is (an older archive) is not stored again compressed, nor the other way round", async () => {
    const store = new MemoryObjectStore();
    const mime = text(200_000);
    const old = await storeBlob(store, "mime", mime);
    expect(old.encoding).toBeUndefined();
    const again = await storeBlob(store, "mime", mime, { encoder: new BodyEncoder(GZIP) });
    expect(again).toMatchObject({ existed: true, key: blobKey(sha(mime)) });
    expect(again.encoding).toBeUndefined();
    expect(await store.head(`${blobKey(sha(mime))}.gz`)).toBeNull();

    const other = text(200_000, "b");
    await storeBlob(store, "mime", other, { encoder: new BodyEncoder(GZIP) });
    const plain = await storeBlob(store, "mime", other);
    expect(plain).toMatchObject({ existed: true, encoding: "gzip", key: `${blobKey(sha(other))}.gz` });
  });

  it("a damaged or truncated compressed object is a named error (BodyEncodingError, a BlobIntegrityError), never wrong bytes", async () => {
    const store = new MemoryObjectStore();
    const mime = text(200_000);
    const { key } = await storeBlob(store, "mime", mime, { encoder: new BodyEncoder(GZIP) });
    const good = await store.getBytes(key);
    const ref = { sha256: sha(mime), encoding: "gzip" as const };

    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] = (flipped[Math.floor(flipped.length / 2)] as number) ^ 0xff;
    await store.put(key, flipped);
    for (const verify of [true, false]) {
      const error = await failureOf(readBlob(store, ref, { verify }));
      expect(error).toBeInstanceOf(BodyEncodingError);
      expect(error).toBeInstanceOf(BlobIntegrityError);
      expect((error as Error).message).toContain(key);
    }

    await store.put(key, good.subarray(0, good.length - 100));
    expect(await failureOf(readBlob(store, ref, { verify: true }))).toBeInstanceOf(BodyEncodingError);

    // Valid gzip of other bytes: decompresses, then the hash check refuses it.
    await store.put(key, gzipSync(text(200_000, "x")));
    const wrong = await failureOf(readBlob(store, ref, { verify: true }));
    expect(wrong).toBeInstanceOf(BlobIntegrityError);
    expect(wrong).not.toBeInstanceOf(BodyEncodingError);
  });
});

describe("packing decided on the stored size", () => {
  const threshold = 128 * 1024;
  const key = (page: number) => ({ jobId: "j1", mailboxId: "m1", folderId: "f", unit: 0, page });

  it("packs a body of 128 KiB or more that compresses below 128 KiB, and keeps one that does not as an object of its own", async () => {
    const store = new MemoryObjectStore();
    const archive = createArchive(store, { packs: { thresholdBytes: threshold }, compression: GZIP });
    const mime = text(300_000);
    const attachment = Buffer.from(randomBytes(150_000).toString("base64"));
    const packed = await archive.storeBlob("mime", Readable.from([mime]), { mailboxId: "m1" });
    const own = await archive.storeBlob("mime", attachment, { mailboxId: "m1" });
    expect(packed).toMatchObject({ sha256: sha(mime), size: mime.length, encoding: "gzip", existed: false });
    expect(packed.pack?.length).toBeLessThan(threshold);
    expect(own.pack).toBeUndefined();
    expect(own).toMatchObject({ key: `${blobKey(sha(attachment))}.gz`, encoding: "gzip" });
    await archive.writeCatalogPart(key(0), [upsert("a", mime), upsert("b", attachment)]);

    const [la, lb] = await lines(store, "m1");
    expect(la).toMatchObject({ sha256: sha(mime), size: mime.length, encoding: "gzip" });
    expect(la?.pack?.key.startsWith(packPrefix("m1"))).toBe(true);
    expect(lb?.pack).toBeUndefined();
    expect(store.objects.has(`${blobKey(sha(mime))}.gz`)).toBe(false);
    expect((await bytesOf(await readBlob(store, la as UpsertEntry, { verify: true }))).equals(mime)).toBe(
      true,
    );
    expect(
      (await bytesOf(await readBlob(store, lb as UpsertEntry, { verify: true }))).equals(attachment),
    ).toBe(true);
    const found = await readMailboxPackIndexes(store, "m1");
    expect(found.entries).toEqual([
      expect.objectContaining({
        sha256: sha(mime),
        size: mime.length,
        length: la?.pack?.length,
        encoding: "gzip",
      }),
    ]);

    // Another process finds it in the pack index: not stored again, and its line names the pack.
    const next = createArchive(store, { packs: { thresholdBytes: threshold }, compression: GZIP });
    expect(await next.storeBlob("mime", mime, { mailboxId: "m1" })).toMatchObject({
      existed: true,
      pack: la?.pack,
    });
    await next.writeCatalogPart(key(1), [upsert("a", mime)]);
    const again = await readCatalogPart(store, catalogPartKey(key(1)));
    expect(again.entries[0]).toMatchObject({ pack: la?.pack, encoding: "gzip" });
  });

  it("keeps reading and deduplicating a body an earlier version stored as its own object, and packs nothing without compression", async () => {
    const store = new MemoryObjectStore();
    const mime = text(300_000, "old");
    // An earlier version decided on the original size: the body is its own compressed object.
    await storeBlob(store, "mime", mime, { encoder: new BodyEncoder(GZIP) });
    const next = createArchive(store, { packs: { thresholdBytes: threshold }, compression: GZIP });
    const stored = await next.storeBlob("mime", mime, { mailboxId: "m1" });
    expect(stored).toMatchObject({ existed: true, key: `${blobKey(sha(mime))}.gz`, encoding: "gzip" });
    expect(stored.pack).toBeUndefined();
    await next.writeCatalogPart(key(0), [upsert("a", mime)]);
    const [line] = await lines(store, "m1");
    expect(line?.pack).toBeUndefined();
    expect((await bytesOf(await readBlob(store, line as UpsertEntry, { verify: true }))).equals(mime)).toBe(
      true,
    );

    const plain = createArchive(new MemoryObjectStore(), { packs: { thresholdBytes: threshold } });
    expect((await plain.storeBlob("mime", mime, { mailboxId: "m1" })).pack).toBeUndefined();
  });
});

describe("packed bodies", () => {
  it("packs a compressible body compressed and an incompressible one as it is; the index (version 2) and the catalog line say so; one ranged read gives the exact bytes", async () => {
    const store = new MemoryObjectStore();
    const archive = createArchive(store, {
      packs: { thresholdBytes: 128 * 1024, maxPackBytes: 1024 * 1024 },
      compression: GZIP,
    });
    const mime = text(50_000);
    const zip = randomBytes(50_000);
    const a = await archive.storeBlob("mime", mime, { mailboxId: "m1" });
    const b = await archive.storeBlob("mime", zip, { mailboxId: "m1" });
    expect(a.encoding).toBe("gzip");
    expect(a.pack?.length).toBeLessThan(mime.length / 2);
    expect(b.encoding).toBeUndefined();
    expect(b.pack?.length).toBe(zip.length);
    await archive.writeCatalogPart({ jobId: "j1", mailboxId: "m1", folderId: "f", unit: 0, page: 0 }, [
      upsert("a", mime),
      upsert("b", zip),
    ]);

    const [la, lb] = await lines(store, "m1");
    expect(la).toMatchObject({ sha256: sha(mime), size: mime.length, encoding: "gzip" });
    expect(lb?.encoding).toBeUndefined();
    expect(lb?.pack?.length).toBe(zip.length);

    const indexKey = [...store.objects.keys()].find((k) => k.endsWith(".index.json")) as string;
    const index = JSON.parse((await store.getBytes(indexKey)).toString());
    expect(index.version).toBe(2);
    expect(index.entries).toEqual([
      expect.objectContaining({
        sha256: sha(mime),
        length: la?.pack?.length,
        size: mime.length,
        encoding: "gzip",
      }),
      expect.objectContaining({ sha256: sha(zip), length: zip.length, size: zip.length }),
    ]);
    expect(index.entries[1].encoding).toBeUndefined();

    let ranged = 0;
    const getRange = store.getRange.bind(store);
    store.getRange = (key, offset, length) => {
      ranged++;
      return getRange(key, offset, length);
    };
    expect((await bytesOf(await readBlob(store, la as UpsertEntry, { verify: true }))).equals(mime)).toBe(
      true,
    );
    expect((await bytesOf(await readBlob(store, lb as UpsertEntry, { verify: true }))).equals(zip)).toBe(
      true,
    );
    expect(ranged).toBe(2);
    // By hand: the range is a whole gzip member.
    const pack = await store.getBytes(la?.pack?.key as string);
    const range = pack.subarray(
      la?.pack?.offset,
      (la?.pack?.offset as number) + (la?.pack?.length as number),
    );
    expect(gunzipSync(range).equals(mime)).toBe(true);
  });

  it("deduplicates against packs of index version 1 (uncompressed) and across processes by the uncompressed hash", async () => {
    const store = new MemoryObjectStore();
    const mime = text(40_000);
    // An older writer: packs of index version 1, nothing compressed.
    const old = createArchive(store, { packs: { thresholdBytes: 128 * 1024 } });
    await old.storeBlob("mime", mime, { mailboxId: "m1" });
    await old.writeCatalogPart({ jobId: "j1", mailboxId: "m1", folderId: "f", unit: 0, page: 0 }, [
      upsert("a", mime),
    ]);
    const oldIndex = [...store.objects.keys()].find((k) => k.endsWith(".index.json")) as string;
    const v1 = JSON.parse((await store.getBytes(oldIndex)).toString());
    v1.version = 1;
    for (const e of v1.entries) delete e.size;
    await store.put(oldIndex, Buffer.from(JSON.stringify(v1)));

    const next = createArchive(store, { packs: { thresholdBytes: 128 * 1024 }, compression: GZIP });
    const again = await next.storeBlob("mime", mime, { mailboxId: "m1" });
    expect(again).toMatchObject({ existed: true, sha256: sha(mime) });
    expect(again.encoding).toBeUndefined();
    const fresh = text(40_000, "new");
    const stored = await next.storeBlob("mime", fresh, { mailboxId: "m1" });
    expect(stored.encoding).toBe("gzip");
    await next.writeCatalogPart({ jobId: "j1", mailboxId: "m1", folderId: "f", unit: 0, page: 1 }, [
      upsert("a", mime),
      upsert("c", fresh),
    ]);

    // A third process finds both through the indexes of versions 1 and 2, without storing again.
    const third = createArchive(store, { packs: { thresholdBytes: 128 * 1024 }, compression: GZIP });
    expect((await third.storeBlob("mime", fresh, { mailboxId: "m1" })).existed).toBe(true);
    const found = await readMailboxPackIndexes(store, "m1");
    // In the order of the packs' keys, which start with their millisecond: two packs written in
    // the same one are ordered by their random part, so the entries are compared as a set.
    const byHash = (a: string[], b: string[]) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0);
    expect(found.entries.map((e) => [e.sha256, e.encoding ?? "identity"]).sort(byHash)).toEqual(
      [
        [sha(mime), "identity"],
        [sha(fresh), "gzip"],
      ].sort(byHash),
    );
    expect(
      [...store.objects.keys()].filter((k) => k.startsWith(packPrefix("m1")) && k.endsWith(".pack")),
    ).toHaveLength(2);
  });

  it("a large body of its own is named with its encoding on the catalog line, found by HEAD when the process did not store it", async () => {
    const store = new MemoryObjectStore();
    const archive = createArchive(store, { packs: { thresholdBytes: 1024 }, compression: GZIP });
    // Base64 text: compresses by a quarter, so its stored form stays above the pack threshold.
    const mime = Buffer.from(randomBytes(75_000).toString("base64"));
    const stored = await archive.storeBlob("mime", Readable.from([mime]), { mailboxId: "m1" });
    expect(stored).toMatchObject({ encoding: "gzip", key: `${blobKey(sha(mime))}.gz` });
    await archive.writeCatalogPart({ jobId: "j1", mailboxId: "m1", folderId: "f", unit: 0, page: 0 }, [
      upsert("a", mime),
    ]);
    const [line] = await lines(store, "m1");
    expect(line).toMatchObject({ encoding: "gzip" });
    expect(line?.pack).toBeUndefined();
    expect((await bytesOf(await readBlob(store, line as UpsertEntry, { verify: true }))).equals(mime)).toBe(
      true,
    );

    const other = createArchive(store, { packs: { thresholdBytes: 1024 }, compression: GZIP });
    await other.writeCatalogPart({ jobId: "j1", mailboxId: "m2", folderId: "f", unit: 0, page: 0 }, [
      upsert("a", mime),
    ]);
    expect((await lines(store, "m2"))[0]).toMatchObject({ encoding: "gzip" });
  });
});
