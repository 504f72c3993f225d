/**
 * An archive written before compression (catalog part format 3, pack indexes of version 1, bodies
 * as they are; test/fixtures/archive-v3) stays readable by every command, and a backup that
 * compresses deduplicates against its packs and objects instead of storing them again.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { readCatalogPart, type UpsertEntry } from "../../../lib/archive/catalog.js";
import { LocalObjectStore } from "../../../lib/archive/local-store.js";
import { readPackIndex } from "../../../lib/archive/packs.js";
import { listAll } from "../../../lib/archive/store.js";
import { exportCommand } from "../../../lib/cli/commands/export.js";
import { getCommand } from "../../../lib/cli/commands/get.js";
import { verifyCommand } from "../../../lib/cli/commands/verify.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import type { VerifyResult } from "../../../lib/verify/verify-blobs.js";
import { sha } from "../../support/archive-entries.js";
import { captureIO } from "../../support/command-io.js";

const fixture = join(import.meta.dirname, "../../fixtures/archive-v3");
const made = JSON.parse(readFileSync(join(fixture, "made.json"), "utf8")) as { jobs: string[] };

let dir: string;
let archive: string;
let store: LocalObjectStore;

async function upserts(): Promise<Array<UpsertEntry & { key: string }>> {
  const parts = (await listAll(store, "catalog/")).filter((o) => o.key.includes("/part-"));
  const out: Array<UpsertEntry & { key: string }> = [];
  for (const p of parts)
    for (const e of (await readCatalogPart(store, p.key)).entries)
      if (e.kind === "upsert") out.push({ ...e, key: p.key });
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "archive-v3-"));
  archive = join(dir, "archive");
  cpSync(join(fixture, "archive"), archive, { recursive: true });
  store = new LocalObjectStore(archive);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an archive of format 3 (packs, nothing compressed; written by cbadf4e)", () => {
  it("is that format indeed: pack indexes of version 1, parts of format 3, no encoding anywhere", async () => {
    const keys = (await listAll(store, "")).map((o) => o.key);
    const indexes = keys.filter((k) => k.endsWith(".index.json"));
    expect(indexes.length).toBeGreaterThan(1);
    for (const k of indexes) expect((await readPackIndex(store, k)).version).toBe(1);
    expect(keys.filter((k) => k.endsWith(".gz"))).toEqual([]);
    expect(keys.some((k) => /^blobs\/sha256\/.*\.eml$/.test(k))).toBe(true);
    expect(keys.some((k) => /^blobs\/sha256\/.*\.fts$/.test(k))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(archive, "jobs", made.jobs[0]!, "manifest.json"), "utf8"));
    expect(manifest.catalogPartVersion).toBe(3);
    const lines = await upserts();
    expect(lines.some((l) => l.pack)).toBe(true);
    expect(lines.some((l) => !l.pack)).toBe(true);
    expect(lines.some((l) => l.export?.pack)).toBe(true);
    expect(lines.every((l) => l.encoding === undefined)).toBe(true);
  });

  it("hands out packed and unpacked messages byte for byte, exports and verifies clean", async () => {
    const lines = await upserts();
    for (const line of [lines.find((l) => l.pack), lines.find((l) => !l.pack)]) {
      const got = captureIO();
      expect(await getCommand(line!.messageId, { archive }, got.io)).toBe(EXIT.ok);
      expect(sha(got.out.bytes())).toBe(line!.sha256);
    }
    const address = JSON.parse(readFileSync(join(archive, "jobs", made.jobs[0]!, "manifest.json"), "utf8"))
      .mailboxes[0].address as string;
    const exported = captureIO();
    expect(
      await exportCommand(
        address,
        undefined,
        { archive, output: join(dir, "export"), json: true },
        exported.io,
      ),
    ).toBe(EXIT.ok);
    expect((JSON.parse(exported.out.text()) as { messages: number }).messages).toBeGreaterThan(0);

    const verified = captureIO();
    expect(await verifyCommand(undefined, { archive, json: true }, verified.io)).toBe(EXIT.ok);
    const result = JSON.parse(verified.out.text()) as VerifyResult;
    expect(result).toMatchObject({ problems: [], catalogErrors: [], countProblems: [], packIndexErrors: [] });
    expect(result.jobs).toEqual(made.jobs);
    expect(result.blobsChecked).toBeGreaterThan(lines.length);
  });

  it("a backup that compresses stores none of its bodies again: packed ones by the old indexes, others by their .eml/.fts", async () => {
    const lines = await upserts();
    const packed = lines.find((l) => l.pack)!;
    const own = lines.find((l) => !l.pack && l.export === undefined) ?? lines.find((l) => !l.pack)!;
    const bytes = async (l: UpsertEntry) =>
      l.pack
        ? store.getBytes(l.pack.key).then((b) => b.subarray(l.pack!.offset, l.pack!.offset + l.pack!.length))
        : store.getBytes(
            `blobs/sha256/${l.sha256.slice(0, 2)}/${l.sha256.slice(2, 4)}/${l.sha256}.${l.content === "export" ? "fts" : "eml"}`,
          );
    const mailboxId = decodeURIComponent(/mailbox=([^/]+)/.exec(packed.key)![1]!);
    const before = (await listAll(store, "blobs/")).length;
    const next = createArchive(store, { packs: { thresholdBytes: 4096 }, compression: { codec: "gzip" } });
    const kind = (l: UpsertEntry) => (l.content === "export" ? ("export" as const) : ("mime" as const));
    const a = await next.storeBlob(kind(packed), await bytes(packed), { mailboxId });
    expect(a).toMatchObject({ existed: true, sha256: packed.sha256, pack: packed.pack });
    const b = await next.storeBlob(kind(own), await bytes(own), { mailboxId });
    expect(b).toMatchObject({ existed: true, sha256: own.sha256 });
    expect(b.encoding).toBeUndefined();
    expect((await listAll(store, "blobs/")).length).toBe(before);
  });

  it("verify names a damaged pack index (and says PROBLEMS) while every message still reads back", async () => {
    const copy = join(dir, "damaged");
    cpSync(join(fixture, "archive"), copy, { recursive: true });
    const copied = new LocalObjectStore(copy);
    const index = (await listAll(copied, "blobs/packs/")).find((o) => o.key.endsWith(".index.json"))!.key;
    await copied.put(
      index,
      Buffer.from('{"format":"mailstream.pack-index","version":1,"entries":[{"sha256":"x"}]}'),
    );
    const verified = captureIO();
    expect(await verifyCommand(undefined, { archive: copy }, verified.io)).toBe(EXIT.damaged);
    expect(verified.out.text()).toContain(
      `damaged pack index (its bodies are stored again by the next backup): pack index ${index}`,
    );
    expect(verified.out.text()).toMatch(
      /PROBLEMS: .* 0 missing, 0 damaged; 0 catalog damages; 0 differences between catalog and report; 1 damaged pack indexes/,
    );
  });
});
