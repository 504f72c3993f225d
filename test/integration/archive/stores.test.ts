import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { readBlob, storeMime } from "../../../lib/archive/blobs.js";
import { readCatalogPart, toJsonLines } from "../../../lib/archive/catalog.js";
import { CatalogLineError, InvalidKeyError, ObjectNotFoundError } from "../../../lib/archive/errors.js";
import { LocalObjectStore, listAll, type ObjectStore, S3ObjectStore } from "../../../lib/archive/index.js";
import { catalogPartKey } from "../../../lib/archive/keys.js";
import { readManifest } from "../../../lib/archive/manifest.js";
import { compactMailbox, mailboxViewAt } from "../../../lib/archive/replay.js";
import { readReport } from "../../../lib/archive/reports.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
let tempRoot: string;
beforeAll(async () => {
  aws = await useAwsEmulators();
  tempRoot = await fs.mkdtemp(path.join(tmpdir(), "mailstream-archive-"));
});
afterAll(async () => {
  await aws?.stop();
  if (tempRoot) await fs.rm(tempRoot, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
let seq = 0;
const adapters: Array<[string, () => Promise<ObjectStore>]> = [
  [
    "S3 (fauxqs)",
    async () => new S3ObjectStore({ client: aws.clients.s3, bucket: await aws.createBucket() }),
  ],
  ["local folder", async () => new LocalObjectStore(path.join(tempRoot, `archive-${seq++}`))],
];

const BLOCK = randomBytes(MiB);

/** `size` bytes, the same on every call, produced in 1 MiB chunks (never held whole). */
function generated(size: number, seed: number): Readable {
  let produced = 0;
  let index = 0;
  return new Readable({
    read() {
      if (produced >= size) return void this.push(null);
      const n = Math.min(MiB, size - produced);
      // Each chunk differs from the others (an index stamped in), so block reordering would show.
      const chunk = Buffer.from(BLOCK.subarray(0, n));
      chunk.writeUInt32LE(seed, 0);
      chunk.writeUInt32LE(index++, 4);
      produced += n;
      this.push(chunk);
    },
  });
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

describe.each(adapters)("archive on %s", (_name, open) => {
  it("streams a 20 MiB message through a multipart staging upload to its content address", async () => {
    const store = await open();
    const expected = await sha256Of(generated(20 * MiB, 7));
    const stored = await storeMime(store, generated(20 * MiB, 7));
    expect(stored).toMatchObject({ ...expected, existed: false });
    expect(await store.head(stored.key)).toEqual({ size: 20 * MiB });
    expect(await sha256Of(await readBlob(store, stored.sha256, { verify: true }))).toEqual(expected);
    // Nothing is left under staging/, and storing it again writes nothing new.
    expect(await listAll(store, "staging/")).toEqual([]);
    expect((await storeMime(store, generated(20 * MiB, 7))).existed).toBe(true);
    expect((await listAll(store, "blobs/")).map((o) => o.key)).toEqual([stored.key]);
  });

  it("round-trips the catalog, folders, manifest and report through the pipeline's archive", async () => {
    const store = await open();
    const archive = createArchive(store);
    const jobId = "2026-11-29T04-38-00Z-ab12";
    const mailboxId = "6f1c7a5e-0000-4000-8000-000000000001";
    const folderId = "AAMkAGI2/THVfAAA=";
    const blob = await archive.storeBlob(
      "mime",
      Readable.from([Buffer.from("Subject: hi\r\n\r\nhello\r\n")]),
    );
    const meta = { id: "msg-1", changeKey: "CQAAAB", isRead: false, subject: "hi", categories: ["Blue"] };
    await archive.recordFolders(jobId, mailboxId, [
      { id: folderId, parentFolderId: "root", path: "Inbox", displayName: "Inbox" },
    ]);
    await archive.writeCatalogPart({ jobId, mailboxId, folderId, unit: 2, page: 0 }, [
      { kind: "folder-reset", folderId },
      { kind: "upsert", messageId: "msg-1", folderId, sha256: blob.sha256, size: blob.size, meta },
      { kind: "removed", messageId: "msg-0", folderId },
    ]);
    const key = catalogPartKey({ jobId, mailboxId, folderId, unit: 2, page: 0 });
    const read = await readCatalogPart(store, key);
    expect(read.errors).toEqual([]);
    expect(read.entries).toEqual([
      { kind: "folder-reset", folderId },
      {
        kind: "upsert",
        messageId: "msg-1",
        folderId,
        sha256: blob.sha256,
        size: blob.size,
        changeKey: "CQAAAB",
        meta,
      },
      { kind: "removed", messageId: "msg-0", folderId },
    ]);

    // Not finalized yet: the job does not count.
    expect((await mailboxViewAt(store, mailboxId, "latest")).jobId).toBeUndefined();
    const report = {
      jobId,
      status: "complete" as const,
      endedAt: "2026-11-29T05:00:00.000Z",
      mailboxes: [{ mailboxId, status: "complete" as const }],
      extra: 1,
    };
    await archive.writeReport(report);
    await archive.writeManifest(report);
    expect((await readManifest(store, jobId))?.mailboxes).toEqual([{ mailboxId, status: "complete" }]);
    expect((await readReport<typeof report>(store, jobId))?.report).toEqual(report);

    const view = await mailboxViewAt(store, mailboxId, "latest");
    expect(view.jobId).toBe(jobId);
    expect(view.folders).toEqual([
      {
        folderId,
        parentId: "root",
        path: "Inbox",
        displayName: "Inbox",
        messages: [
          {
            messageId: "msg-1",
            folderId,
            sha256: blob.sha256,
            size: blob.size,
            changeKey: "CQAAAB",
            meta,
            jobId,
          },
        ],
      },
    ]);

    // Compaction writes a snapshot (streamed) that the next replay starts from, with the same view.
    const compacted = await compactMailbox(store, mailboxId, jobId);
    expect(compacted).toMatchObject({ jobId, messages: 1 });
    const fromSnapshot = await mailboxViewAt(store, mailboxId, "latest");
    expect(fromSnapshot.snapshotJobId).toBe(jobId);
    expect(fromSnapshot.folders).toEqual(view.folders);
  });

  it("reports a damaged catalog line with its key and line number; the rest of the part stays readable", async () => {
    const store = await open();
    const key = catalogPartKey({ mailboxId: "m", jobId: "j", folderId: "f", unit: 0, page: 3 });
    const good = toJsonLines([
      { kind: "removed", messageId: "a", folderId: "f" },
      { kind: "removed", messageId: "b", folderId: "f" },
    ]).toString();
    const [first, second] = good.trimEnd().split("\n");
    await store.put(
      key,
      Buffer.from(`${first}\n{"kind":"upsert","messageId":"x"\n${second}\n{"kind":"teleported"}\n`),
    );
    const read = await readCatalogPart(store, key);
    expect(read.entries.map((e) => (e.kind === "removed" ? e.messageId : e.kind))).toEqual(["a", "b"]);
    expect(read.errors.map((e) => [e.key, (e as CatalogLineError).line])).toEqual([
      [key, 2],
      [key, 4],
    ]);
    expect(read.errors[0]).toBeInstanceOf(CatalogLineError);
    expect(read.errors[1]!.message).toContain(`catalog ${key} line 4`);
  });

  it("lists by any prefix, reads, moves and deletes with the same keys", async () => {
    const store = await open();
    const keys = [
      "catalog/mailbox=a/job=1/x.jsonl",
      "catalog/mailbox=a/job=2/y.jsonl",
      "catalog/mailbox=ab/z.jsonl",
      "reports/r.json",
    ];
    for (const k of keys) await store.put(k, Buffer.from(k));
    expect((await listAll(store, "catalog/mailbox=a/")).map((o) => o.key)).toEqual(keys.slice(0, 2));
    expect((await listAll(store, "catalog/mailbox=a")).map((o) => o.key)).toEqual(keys.slice(0, 3));
    expect(await listAll(store, "catalog/mailbox=a/job=1/")).toEqual([
      { key: keys[0], size: keys[0]!.length },
    ]);
    expect(await listAll(store, "nothing/")).toEqual([]);
    await store.move(keys[3]!, "reports/moved.json");
    expect(await store.head(keys[3]!)).toBeNull();
    expect((await store.getBytes("reports/moved.json")).toString()).toBe(keys[3]);
    await store.delete("reports/moved.json");
    await store.delete("reports/moved.json");
    await expect(store.getBytes("reports/moved.json")).rejects.toThrow(ObjectNotFoundError);
    await expect(store.get("reports/moved.json")).rejects.toThrow(ObjectNotFoundError);
    await expect(store.put("../escape", Buffer.from("x"))).rejects.toThrow(InvalidKeyError);
  });
});

describe("local folder specifics", () => {
  it("keeps every key inside the root and never lists a half-written file", async () => {
    const root = path.join(tempRoot, "specifics");
    const store = new LocalObjectStore(root);
    for (const bad of ["a/../../x", "/etc/passwd", "a\\..\\b", "a/.tmp-123"]) {
      await expect(store.put(bad, Buffer.from("x")), bad).rejects.toThrow(InvalidKeyError);
    }
    await store.put("jobs/j/manifest.json", Buffer.from("{}"));
    await fs.writeFile(path.join(root, "jobs", "j", ".tmp-crashed"), "partial");
    expect(await listAll(store, "jobs/")).toEqual([{ key: "jobs/j/manifest.json", size: 2 }]);
    // The same key layout as S3: a key is a relative file path under the root.
    expect(await fs.readFile(path.join(root, "jobs", "j", "manifest.json"), "utf8")).toBe("{}");
  });

  it("refuses a temporary file's name in any segment, and heads only files", async () => {
    const store = new LocalObjectStore(path.join(tempRoot, "temp-names"));
    for (const bad of [".tmp-x", "a/.tmp-x/b", "a/b/.tmp-"]) {
      await expect(store.put(bad, Buffer.from("x")), bad).rejects.toThrow(InvalidKeyError);
      await expect(store.head(bad), bad).rejects.toThrow(InvalidKeyError);
    }
    await store.put("a/x.tmp-/b.tmp-", Buffer.from("kept"));
    expect(await store.head("a/x.tmp-/b.tmp-")).toEqual({ size: 4 });
    // A missing file, a file under a missing folder, and a folder are no objects.
    expect(await store.head("a/missing")).toBeNull();
    expect(await store.head("nowhere/at/all")).toBeNull();
    expect(await store.head("a/x.tmp-")).toBeNull();
    // A path through a file is an error of the file system, not a missing object.
    await expect(store.head("a/x.tmp-/b.tmp-/c")).rejects.toMatchObject({ code: "ENOTDIR" });
  });

  it("writes into a folder it made before even when that folder was removed behind its back", async () => {
    const root = path.join(tempRoot, "removed-folders");
    const store = new LocalObjectStore(root);
    await store.put("blobs/sha256/aa/bb/one.fts", Buffer.from("one"));
    await fs.rm(path.join(root, "blobs"), { recursive: true });
    await store.put("blobs/sha256/aa/bb/two.fts", Buffer.from("two"));
    expect((await store.getBytes("blobs/sha256/aa/bb/two.fts")).toString()).toBe("two");
    await fs.rm(root, { recursive: true });
    await store.put("blobs/sha256/aa/bb/three.fts", Readable.from([Buffer.from("three")]));
    expect(await listAll(store, "")).toEqual([{ key: "blobs/sha256/aa/bb/three.fts", size: 5 }]);
  });
});

describe("S3 specifics", () => {
  it("keeps a prefixed archive inside its prefix", async () => {
    const bucket = await aws.createBucket();
    const prefixed = new S3ObjectStore({ client: aws.clients.s3, bucket, prefix: "tenant-a/" });
    const bare = new S3ObjectStore({ client: aws.clients.s3, bucket });
    await prefixed.put("reports/j/report.json", Buffer.from("{}"));
    expect(await listAll(prefixed, "reports/")).toEqual([{ key: "reports/j/report.json", size: 2 }]);
    expect((await listAll(bare, "")).map((o) => o.key)).toEqual(["tenant-a/reports/j/report.json"]);
    expect(prefixed.location).toBe(`s3://${bucket}/tenant-a/`);
  });
});
