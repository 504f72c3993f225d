import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { readBlob } from "../../../lib/archive/blobs.js";
import { readCatalogPart, type UpsertEntry } from "../../../lib/archive/catalog.js";
import { blobKey, catalogPartKey, packPrefix } from "../../../lib/archive/keys.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import {
  type PackIndexDamageError,
  readMailboxPackIndexes,
  readPackIndex,
} from "../../../lib/archive/packs.js";
import type { PutOptions } from "../../../lib/archive/store.js";
import { sha, upsert } from "../../support/archive-entries.js";

const PACKS = { packs: { thresholdBytes: 1024, maxPackBytes: 1024 * 1024 } };

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function catalogLines(store: MemoryObjectStore, mailboxId: string, page = 0): Promise<UpsertEntry[]> {
  const read = await readCatalogPart(
    store,
    catalogPartKey({ jobId: "j1", mailboxId, folderId: "f", unit: 0, page }),
  );
  return read.entries.filter((e): e is UpsertEntry => e.kind === "upsert");
}

/** Keys a store holds under a prefix. */
const keysUnder = (store: MemoryObjectStore, prefix: string) =>
  [...store.objects.keys()].filter((k) => k.startsWith(prefix)).sort();

describe("packs", () => {
  it("packs small bodies (one pack and its index per catalog write), keeps large ones as objects, and reads both back exactly", async () => {
    const store = new MemoryObjectStore();
    const archive = createArchive(store, PACKS);
    const small = [randomBytes(10), randomBytes(700), Buffer.alloc(0), randomBytes(1023)];
    const large = randomBytes(1024);
    const stored = [];
    for (const body of small)
      stored.push(await archive.storeBlob("mime", Readable.from([body]), { mailboxId: "mb" }));
    const big = await archive.storeBlob(
      "mime",
      Readable.from([large.subarray(0, 500), large.subarray(500)]),
      {
        mailboxId: "mb",
      },
    );
    expect(stored.every((s) => s.pack !== undefined && !s.existed)).toBe(true);
    expect(big.pack).toBeUndefined();
    // Nothing of a pack is written before the catalog part that needs it.
    expect(keysUnder(store, "blobs/packs/")).toEqual([]);
    expect(store.objects.has(blobKey(sha(large)))).toBe(true);

    await archive.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page: 0 }, [
      ...small.map((b, i) => upsert(`m${i}`, b)),
      upsert("big", large),
    ]);
    const packs = keysUnder(store, packPrefix("mb"));
    expect(packs.filter((k) => k.endsWith(".pack"))).toHaveLength(1);
    expect(packs.filter((k) => k.endsWith(".index.json"))).toHaveLength(1);
    const packKey = packs.find((k) => k.endsWith(".pack"))!;
    expect(store.objects.get(packKey)!.length).toBe(small.reduce((n, b) => n + b.length, 0));

    const lines = await catalogLines(store, "mb");
    expect(lines.find((l) => l.messageId === "big")!.pack).toBeUndefined();
    for (const [i, body] of small.entries()) {
      const line = lines.find((l) => l.messageId === `m${i}`)!;
      expect(line.pack?.key).toBe(packKey);
      expect(await bytesOf(await readBlob(store, line, { verify: true }))).toEqual(body);
    }
    expect(await bytesOf(await readBlob(store, lines.find((l) => l.messageId === "big")!))).toEqual(large);

    const index = await readMailboxPackIndexes(store, "mb");
    expect(index.entries.map((e) => e.sha256).sort()).toEqual(small.map(sha).sort());
  });

  it("packs export streams too: an item kept as its export stream and a message's export stream in mode both name their own pack places, read back as .fts by kind", async () => {
    const store = new MemoryObjectStore();
    const archive = createArchive(store, PACKS);
    const event = randomBytes(300);
    const mime = randomBytes(400);
    const stream = randomBytes(500);
    const bigStream = randomBytes(2048);
    // The same bytes as MIME and as an export stream are two bodies.
    const twin = randomBytes(200);
    const owner = { mailboxId: "mb" };
    await archive.storeBlob("export", event, owner);
    await archive.storeBlob("mime", mime, owner);
    await archive.storeBlob("export", stream, owner);
    await archive.storeBlob("export", Readable.from([bigStream]), owner);
    await archive.storeBlob("mime", twin, owner);
    await archive.storeBlob("export", twin, owner);
    const exportOf = (b: Buffer) => ({ sha256: sha(b), size: b.length });
    await archive.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page: 0 }, [
      { ...upsert("event", event), content: "export", itemClass: "IPM.Appointment" },
      { ...upsert("both", mime), export: exportOf(stream) },
      { ...upsert("big", bigStream), content: "export" },
      { ...upsert("twin", twin), export: exportOf(twin) },
    ]);
    const lines = await catalogLines(store, "mb");
    const line = (id: string) => lines.find((l) => l.messageId === id)!;
    expect(line("event")).toMatchObject({ content: "export", itemClass: "IPM.Appointment" });
    expect(line("event").pack).toBeDefined();
    expect(line("both").pack).toBeDefined();
    expect(line("both").export?.pack).toBeDefined();
    expect(line("both").export?.pack).not.toEqual(line("both").pack);
    expect(line("big").pack).toBeUndefined();
    expect(store.objects.has(blobKey(sha(bigStream), "export"))).toBe(true);
    expect(line("twin").export?.pack).toBeDefined();
    expect(line("twin").export?.pack).not.toEqual(line("twin").pack);
    const read = async (ref: Parameters<typeof readBlob>[1], kind: "mime" | "export") =>
      bytesOf(await readBlob(store, ref, { verify: true, kind }));
    expect(await read(line("event"), "export")).toEqual(event);
    expect(await read(line("both"), "mime")).toEqual(mime);
    expect(await read(line("both").export!, "export")).toEqual(stream);
    expect(await read(line("big"), "export")).toEqual(bigStream);
    expect(await read(line("twin").export!, "export")).toEqual(twin);
    const index = await readMailboxPackIndexes(store, "mb");
    expect(index.entries.map((e) => `${e.kind}:${e.sha256}`).sort()).toEqual(
      [
        `export:${sha(event)}`,
        `mime:${sha(mime)}`,
        `export:${sha(stream)}`,
        `mime:${sha(twin)}`,
        `export:${sha(twin)}`,
      ].sort(),
    );
  });

  it("stores identical content once: within a pack, across mailboxes of a process, across processes (from the index, no HEAD)", async () => {
    const store = new MemoryObjectStore();
    const heads: string[] = [];
    const head = store.head.bind(store);
    store.head = async (key: string) => {
      heads.push(key);
      return head(key);
    };
    const body = randomBytes(100);
    const first = createArchive(store, PACKS);
    const a = await first.storeBlob("mime", body, { mailboxId: "a" });
    const again = await first.storeBlob("mime", Buffer.from(body), { mailboxId: "a" });
    const otherMailbox = await first.storeBlob("mime", Buffer.from(body), { mailboxId: "b" });
    expect([a.existed, again.existed, otherMailbox.existed]).toEqual([false, true, true]);
    expect(otherMailbox.pack).toEqual(a.pack);
    await first.writeCatalogPart({ jobId: "j1", mailboxId: "b", folderId: "f", unit: 0, page: 0 }, [
      upsert("x", body),
    ]);
    expect((await catalogLines(store, "b"))[0]!.pack).toEqual(a.pack);

    // A later process (a new archive over the same store) finds it in the mailbox's pack index.
    const later = createArchive(store, PACKS);
    const next = await later.storeBlob("mime", Buffer.from(body), { mailboxId: "a" });
    expect(next.existed).toBe(true);
    expect(next.pack).toEqual(a.pack);
    // The same bytes as another kind are another body.
    expect((await later.storeBlob("export", Buffer.from(body), { mailboxId: "a" })).existed).toBe(false);
    expect(heads).toEqual([]);
    expect(keysUnder(store, "blobs/packs/").filter((k) => k.endsWith(".pack"))).toHaveLength(1);
  });

  it("a part written after its body's pack still names that pack when other mailboxes' units dropped the mailbox's index meanwhile", async () => {
    const store = new MemoryObjectStore();
    // Every index beyond 2 mailboxes is dropped.
    const archive = createArchive(store, { packs: { ...PACKS.packs, mailboxesKept: 2, bodiesKept: 0 } });
    const part = (mailboxId: string, page: number) => ({
      jobId: "j1",
      mailboxId,
      folderId: "f",
      unit: 0,
      page,
    });
    const [first, second] = [randomBytes(100), randomBytes(100)];
    // Both bodies go into mailbox a's open pack; the first page's part writes that pack.
    await archive.storeBlob("mime", first, { mailboxId: "a" });
    const held = await archive.storeBlob("mime", second, { mailboxId: "a" });
    await archive.writeCatalogPart(part("a", 0), [upsert("m0", first)]);
    // Twelve other mailboxes' bodies come in: a's index is dropped.
    for (let i = 0; i < 12; i++) await archive.storeBlob("mime", randomBytes(50), { mailboxId: `other${i}` });
    // The second page's part (held back, as a unit holds its pages) names the written pack.
    await archive.writeCatalogPart(part("a", 1), [upsert("m1", second)]);
    const [line] = await catalogLines(store, "a", 1);
    expect(line!.pack).toEqual(held.pack);
    expect((await bytesOf(await readBlob(store, line!))).equals(second)).toBe(true);
    expect(keysUnder(store, "blobs/packs/mailbox=a/").filter((k) => k.endsWith(".pack"))).toHaveLength(1);

    // With nothing remembered (writtenKept 0) the part is refused rather than naming nothing.
    const forgetful = createArchive(new MemoryObjectStore(), {
      packs: { ...PACKS.packs, mailboxesKept: 2, bodiesKept: 0, writtenKept: 0 },
    });
    await forgetful.storeBlob("mime", first, { mailboxId: "a" });
    await forgetful.storeBlob("mime", second, { mailboxId: "a" });
    await forgetful.writeCatalogPart(part("a", 0), [upsert("m0", first)]);
    for (let i = 0; i < 12; i++)
      await forgetful.storeBlob("mime", randomBytes(50), { mailboxId: `other${i}` });
    await expect(forgetful.writeCatalogPart(part("a", 1), [upsert("m1", second)])).rejects.toThrow(
      /expected it in a written pack of mailbox a, found it lost/,
    );
  });

  it("keeps the indexes of many small mailboxes (up to bodiesKept bodies): a mailbox met again is not listed and read again", async () => {
    const store = new MemoryObjectStore();
    const lists: string[] = [];
    const list = store.list.bind(store);
    store.list = (prefix: string) => {
      lists.push(prefix);
      return list(prefix);
    };
    // A body stored and its part written: the mailbox's index holds nothing pending (droppable).
    const storeAndWrite = async (
      archive: ReturnType<typeof createArchive>,
      mailboxId: string,
      page: number,
    ) => {
      const body = randomBytes(50);
      await archive.storeBlob("mime", body, { mailboxId });
      await archive.writeCatalogPart({ jobId: "j1", mailboxId, folderId: "f", unit: 0, page }, [
        upsert(`x${page}`, body),
      ]);
    };
    const archive = createArchive(store, PACKS);
    for (let i = 0; i < 30; i++) await storeAndWrite(archive, `m${i}`, 0);
    expect(lists).toEqual(Array.from({ length: 30 }, (_, i) => packPrefix(`m${i}`)));
    for (let i = 0; i < 30; i++) await storeAndWrite(archive, `m${i}`, 1);
    expect(lists).toHaveLength(30);

    // Beyond bodiesKept, the least recently used beyond mailboxesKept are dropped (and listed again).
    const small = createArchive(store, { packs: { ...PACKS.packs, mailboxesKept: 3, bodiesKept: 4 } });
    lists.length = 0;
    for (let i = 0; i < 6; i++) await storeAndWrite(small, `n${i}`, 0);
    expect(lists).toHaveLength(6);
    await storeAndWrite(small, "n1", 1);
    expect(lists).toHaveLength(6);
    await storeAndWrite(small, "n0", 1);
    expect(lists).toHaveLength(7);
  });

  it("finds a body in another kept mailbox's packs, not in a dropped one's, and forgets it everywhere when its pack fails", async () => {
    const store = new MemoryObjectStore();
    const body = randomBytes(100);
    // An earlier process packed the body for mailbox a.
    const earlier = createArchive(store, PACKS);
    const original = await earlier.storeBlob("mime", body, { mailboxId: "a" });
    await earlier.writeCatalogPart({ jobId: "j1", mailboxId: "a", folderId: "f", unit: 0, page: 0 }, [
      upsert("m", body),
    ]);

    // Indexes beyond two mailboxes are dropped (and none holds many bodies to keep them).
    const archive = createArchive(store, { packs: { ...PACKS.packs, mailboxesKept: 2, bodiesKept: 0 } });
    expect((await archive.storeBlob("mime", Buffer.from(body), { mailboxId: "a" })).pack).toEqual(
      original.pack,
    );
    // Mailbox b meets the same bytes while a's index is kept: found there, not packed again.
    const inB = await archive.storeBlob("mime", Buffer.from(body), { mailboxId: "b" });
    expect([inB.existed, inB.pack]).toEqual([true, original.pack]);
    // Mailboxes c and d drop a's and b's indexes: d no longer finds the body through them.
    await archive.storeBlob("mime", randomBytes(10), { mailboxId: "c" });
    const inD = await archive.storeBlob("mime", Buffer.from(body), { mailboxId: "d" });
    expect(inD.existed).toBe(false);
    expect(inD.pack?.key).toMatch(/^blobs\/packs\/mailbox=d\//);

    // A body pending in e's open pack is found by f; when e's pack fails, neither knows it.
    const put = store.put.bind(store);
    store.put = async (key: string, b: Buffer | Readable, opts?: PutOptions) => {
      if (key.startsWith(packPrefix("e"))) throw new Error("connection reset");
      return put(key, b, opts);
    };
    const shared = randomBytes(100);
    const both = createArchive(store, PACKS);
    const inE = await both.storeBlob("mime", shared, { mailboxId: "e" });
    const inF = await both.storeBlob("mime", Buffer.from(shared), { mailboxId: "f" });
    expect([inE.existed, inF.existed, inF.pack]).toEqual([false, true, inE.pack]);
    await expect(
      both.writeCatalogPart({ jobId: "j1", mailboxId: "e", folderId: "f", unit: 0, page: 0 }, [
        upsert("m", shared),
      ]),
    ).rejects.toThrow(/found it lost/);
    const again = await both.storeBlob("mime", Buffer.from(shared), { mailboxId: "f" });
    expect(again.existed).toBe(false);
    expect(again.pack?.key).toMatch(/^blobs\/packs\/mailbox=f\//);
  });

  it("a crash before the catalog write leaves nothing; a pack without its index is never taken for stored data", async () => {
    const store = new MemoryObjectStore();
    const body = randomBytes(200);
    const crashed = createArchive(store, PACKS);
    await crashed.storeBlob("mime", body, { mailboxId: "mb" });
    // The process dies here: its open pack was never written, and nothing names it.
    expect(keysUnder(store, "blobs/")).toEqual([]);

    // The next one writes the pack, then fails to write its index (a crash between the two PUTs).
    const put = store.put.bind(store);
    store.put = async (key: string, b: Buffer | Readable, opts?: PutOptions) => {
      if (key.endsWith(".index.json")) throw new Error("connection reset");
      return put(key, b, opts);
    };
    const failing = createArchive(store, PACKS);
    expect((await failing.storeBlob("mime", body, { mailboxId: "mb" })).existed).toBe(false);
    await expect(
      failing.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page: 0 }, [
        upsert("m", body),
      ]),
    ).rejects.toThrow(/expected it in a written pack/);
    expect(keysUnder(store, "catalog/")).toEqual([]);
    expect(keysUnder(store, "blobs/packs/").filter((k) => k.endsWith(".pack"))).toHaveLength(1);

    // A resumed process does not take the orphan pack for stored data: it stores the body again.
    store.put = put;
    const resumed = createArchive(store, PACKS);
    const again = await resumed.storeBlob("mime", body, { mailboxId: "mb" });
    expect(again.existed).toBe(false);
    await resumed.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page: 0 }, [
      upsert("m", body),
    ]);
    const [line] = await catalogLines(store, "mb");
    expect(await bytesOf(await readBlob(store, line!, { verify: true }))).toEqual(body);
    // The failing process, told of its lost pack, stores the body again when it meets it.
    expect((await failing.storeBlob("mime", body, { mailboxId: "mb" })).existed).toBe(false);
  });

  it("merges a mailbox's indexes once there are more than mergeAbove, and later loads read the merged one", async () => {
    const store = new MemoryObjectStore();
    const opts = { packs: { thresholdBytes: 1024, mergeAbove: 2 } };
    const bodies = [randomBytes(50), randomBytes(60), randomBytes(70)];
    for (const [page, body] of bodies.entries()) {
      const archive = createArchive(store, opts);
      await archive.storeBlob("mime", body, { mailboxId: "mb" });
      await archive.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page }, [
        upsert(`m${page}`, body),
      ]);
    }
    expect(keysUnder(store, packPrefix("mb")).filter((k) => k.endsWith(".index.json"))).toHaveLength(3);
    // Loading 3 indexes (> 2) merges them.
    const loader = createArchive(store, opts);
    expect((await loader.storeBlob("mime", bodies[0]!, { mailboxId: "mb" })).existed).toBe(true);
    const merged = keysUnder(store, packPrefix("mb")).filter((k) => /\/merged-[^/]*\.index\.json$/.test(k));
    expect(merged).toHaveLength(1);
    const read = await readMailboxPackIndexes(store, "mb");
    expect(read.read).toEqual(merged);
    expect(read.entries.map((e) => e.sha256).sort()).toEqual(bodies.map(sha).sort());
  });

  it("leaves a damaged pack index out (its bodies are stored again, reported), and reads what a damaged merged index covered", async () => {
    const store = new MemoryObjectStore();
    const opts = { packs: { thresholdBytes: 1024, mergeAbove: 10 } };
    const bodies = [randomBytes(50), randomBytes(60), randomBytes(70), randomBytes(80)];
    for (const [page, body] of bodies.entries()) {
      const archive = createArchive(store, opts);
      await archive.storeBlob("mime", body, { mailboxId: "mb" });
      await archive.writeCatalogPart({ jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page }, [
        upsert(`m${page}`, body),
      ]);
    }
    const indexes = keysUnder(store, packPrefix("mb")).filter((k) => k.endsWith(".index.json"));
    // The first body's index is cut short: not JSON any more.
    const first = indexes.find((k) => store.objects.get(k)!.includes(sha(bodies[0]!)))!;
    store.objects.set(first, store.objects.get(first)!.subarray(0, 40));
    await expect(readPackIndex(store, first)).rejects.toMatchObject({
      name: "PackIndexDamageError",
      key: first,
      message: expect.stringContaining("expected JSON"),
    });
    const damaged: PackIndexDamageError[] = [];
    const loader = createArchive(store, {
      packs: { ...opts.packs, mergeAbove: 2, onDamagedIndex: (e) => damaged.push(e) },
    });
    // Loading (and merging the 3 indexes still readable) does not fail; the lost index's body is
    // not taken for stored, the others are.
    expect((await loader.storeBlob("mime", bodies[0]!, { mailboxId: "mb" })).existed).toBe(false);
    expect((await loader.storeBlob("mime", bodies[1]!, { mailboxId: "mb" })).existed).toBe(true);
    expect(damaged.map((e) => e.key)).toEqual([first]);
    // A wrong shape is damage too; a damaged merged index falls back to the indexes it covered.
    const merged = keysUnder(store, packPrefix("mb")).find((k) => /\/merged-[^/]*\.index\.json$/.test(k))!;
    store.objects.set(merged, Buffer.from('{"format":"mailstream.pack-index","version":9,"entries":[]}'));
    const found = await readMailboxPackIndexes(store, "mb");
    expect(found.damaged.map((e) => e.key).sort()).toEqual([first, merged].sort());
    expect(found.damaged.find((e) => e.key === merged)!.message).toContain("version");
    expect(found.entries.map((e) => e.sha256).sort()).toEqual(bodies.slice(1).map(sha).sort());
  });

  it("reads a range of a local-folder object", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { LocalObjectStore } = await import("../../../lib/archive/local-store.js");
    const store = new LocalObjectStore(mkdtempSync(join(tmpdir(), "packs-")));
    await store.put("blobs/packs/x.pack", Buffer.from("0123456789"));
    expect((await bytesOf(await store.getRange("blobs/packs/x.pack", 3, 4))).toString()).toBe("3456");
    expect((await bytesOf(await store.getRange("blobs/packs/x.pack", 3, 0))).toString()).toBe("");
  });

  it("never rewrites or deletes an object (an archive under Object Lock): packing, a failed pack, a retry and a merge", async () => {
    /** Write-once like a locked bucket seen by the archive: a second PUT to a key or a DELETE fails. */
    class WriteOnceStore extends MemoryObjectStore {
      override async put(key: string, body: Buffer | Readable, opts?: PutOptions): Promise<void> {
        if (this.objects.has(key))
          throw new Error(`${key}: expected a new key under Object Lock, found it written`);
        return super.put(key, body, opts);
      }
      override async delete(key: string): Promise<void> {
        throw new Error(`${key}: expected no delete under Object Lock`);
      }
    }
    const store = new WriteOnceStore();
    const opts = { packs: { thresholdBytes: 1024, mergeAbove: 2 } };
    const bodies = Array.from({ length: 4 }, () => randomBytes(300));
    for (const [page, body] of bodies.entries()) {
      const archive = createArchive(store, opts);
      await archive.storeBlob("mime", body, { mailboxId: "mb" });
      await archive.storeBlob("mime", bodies[0]!, { mailboxId: "mb" });
      const part = { jobId: "j1", mailboxId: "mb", folderId: "f", unit: 0, page };
      await archive.writeCatalogPart(part, [upsert(`m${page}`, body), upsert("m0", bodies[0]!)]);
    }
    const lines = [0, 1, 2, 3].map((page) => catalogLines(store, "mb", page));
    for (const [page, line] of (await Promise.all(lines)).entries())
      expect(await bytesOf(await readBlob(store, line[0]!, { verify: true }))).toEqual(bodies[page]);
  });
});
