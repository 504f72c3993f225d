import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CatalogEntry,
  toJsonLines,
  writeCatalogPart,
  writeFolders,
} from "../../../lib/archive/catalog.js";
import { CatalogDamageError, CatalogLineError, CatalogPartError } from "../../../lib/archive/errors.js";
import { catalogPartKey, manifestKey, snapshotKey } from "../../../lib/archive/keys.js";
import { listFinalizedJobs, writeManifest } from "../../../lib/archive/manifest.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import {
  compactMailbox,
  MailboxState,
  type MailboxView,
  mailboxViewAt,
} from "../../../lib/archive/replay.js";

const MBX = "mbx-1";
const J1 = "2026-11-01T00-00-00Z-aaaa";
const J2 = "2026-11-02T00-00-00Z-bbbb";
const J3 = "2026-11-03T00-00-00Z-cccc";
const J4 = "2026-11-04T00-00-00Z-dddd";

const hash = (n: number) => n.toString(16).padStart(64, "0");
const up = (
  messageId: string,
  folderId: string,
  n: number,
  meta: Record<string, unknown> = {},
): CatalogEntry => ({
  kind: "upsert",
  messageId,
  folderId,
  sha256: hash(n),
  size: n,
  changeKey: `ck-${n}`,
  meta: { id: messageId, ...meta },
});
const rm = (messageId: string, folderId: string): CatalogEntry => ({ kind: "removed", messageId, folderId });
const reset = (folderId: string): CatalogEntry => ({ kind: "folder-reset", folderId });

async function part(
  store: MemoryObjectStore,
  jobId: string,
  folderId: string,
  unit: number,
  page: number,
  e: CatalogEntry[],
) {
  await writeCatalogPart(store, { mailboxId: MBX, jobId, folderId, unit, page }, e);
}

async function finalize(store: MemoryObjectStore, jobId: string, status: "complete" | "failed" = "complete") {
  await writeManifest(store, {
    jobId,
    status: status === "failed" ? "failed" : "complete",
    endedAt: "2026-11-29T00:00:00.000Z",
    mailboxes: [{ mailboxId: MBX, status }],
  });
}

/** folderId → sorted message ids (what a user sees), plus each message's sha. */
function layout(view: MailboxView): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of view.folders)
    if (f.messages.length) out[f.folderId] = f.messages.map((m) => `${m.messageId}@${m.sha256.slice(-2)}`);
  return out;
}

describe("mailboxViewAt", () => {
  it("replays adds, updates and removes across jobs", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [
      reset("inbox"),
      up("m1", "inbox", 1),
      up("m2", "inbox", 2),
      up("m3", "inbox", 3),
    ]);
    await finalize(store, J1);
    await part(store, J2, "inbox", 0, 0, [
      up("m2", "inbox", 0x22, { isRead: true }),
      rm("m3", "inbox"),
      up("m4", "inbox", 4),
    ]);
    await finalize(store, J2);

    const view = await mailboxViewAt(store, MBX, "latest");
    expect(view.jobId).toBe(J2);
    expect(view.jobs).toEqual([J1, J2]);
    expect(layout(view)).toEqual({ inbox: ["m1@01", "m2@22", "m4@04"] });
    const m2 = view.folders[0]!.messages.find((m) => m.messageId === "m2")!;
    expect(m2).toMatchObject({ jobId: J2, changeKey: "ck-34", meta: { isRead: true } });
    expect(view.errors).toEqual([]);
  });

  it("ends a move in the new folder whichever of the two parts replays first", async () => {
    // m1 moves inbox → archive: the removal (folder "inbox") sorts after the upsert ("archive").
    // m2 moves archive → inbox: the removal sorts before the upsert. Units reverse it once more.
    for (const [unitA, unitB] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const store = new MemoryObjectStore();
      await part(store, J1, "inbox", unitA, 0, [up("m1", "inbox", 1)]);
      await part(store, J1, "archive", unitB, 0, [up("m2", "archive", 2)]);
      await finalize(store, J1);
      await part(store, J2, "inbox", unitA, 0, [rm("m1", "inbox"), up("m2", "inbox", 2)]);
      await part(store, J2, "archive", unitB, 0, [up("m1", "archive", 1), rm("m2", "archive")]);
      await finalize(store, J2);
      expect(layout(await mailboxViewAt(store, MBX, "latest"))).toEqual({
        archive: ["m1@01"],
        inbox: ["m2@02"],
      });
    }
  });

  it("gives the same result for moves and updates in any part order (property)", () => {
    // Within one job every message changes at most once per folder; a move is an upsert in the
    // new folder and a removal from the old one. Then the order of parts must not matter.
    const folders = ["a", "b", "c"];
    const change = fc.record({
      to: fc.constantFrom(...folders),
      kind: fc.constantFrom("move", "update", "delete"),
    });
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 8 }), fc.nat(), (changes, seed) => {
        const start = new MailboxState();
        for (let i = 0; i < changes.length; i++) start.apply(up(`m${i}`, folders[i % 3]!, i), "J1", true);
        const parts = new Map<string, CatalogEntry[]>(folders.map((f) => [f, []]));
        changes.forEach((c, i) => {
          const from = folders[i % 3]!;
          if (c.kind === "delete") parts.get(from)!.push(rm(`m${i}`, from));
          else if (c.kind === "update" || c.to === from) parts.get(from)!.push(up(`m${i}`, from, 100 + i));
          else {
            parts.get(c.to)!.push(up(`m${i}`, c.to, i));
            parts.get(from)!.push(rm(`m${i}`, from));
          }
        });
        const replay = (order: string[]) => {
          const s = new MailboxState();
          for (const m of start.messages.values()) s.messages.set(m.messageId, { ...m });
          for (const f of order) for (const e of parts.get(f)!) s.apply(e, "J2", true);
          return [...s.messages.values()].map((m) => `${m.messageId}:${m.folderId}:${m.size}`).sort();
        };
        const rotated = [...folders.slice(seed % 3), ...folders.slice(0, seed % 3)];
        expect(replay(rotated)).toEqual(replay([...folders].reverse()));
        expect(replay(folders)).toEqual(replay(rotated));
      }),
    );
  });

  it("clears a folder on folder-reset before its full re-enumeration, and only that folder", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [up("m1", "inbox", 1), up("m2", "inbox", 2)]);
    await part(store, J1, "sent", 0, 0, [up("s1", "sent", 3)]);
    await finalize(store, J1);
    // 410 in J2: two incremental pages, then a resync that re-enumerates m2 only.
    await part(store, J2, "inbox", 0, 0, [up("m5", "inbox", 5)]);
    await part(store, J2, "inbox", 0, 1, [reset("inbox"), up("m2", "inbox", 2)]);
    await part(store, J2, "inbox", 0, 2, [up("m6", "inbox", 6)]);
    await finalize(store, J2);
    expect(layout(await mailboxViewAt(store, MBX, "latest"))).toEqual({
      inbox: ["m2@02", "m6@06"],
      sent: ["s1@03"],
    });
  });

  it("does not apply folder-reset of a job in which the mailbox failed (keeps what it cannot prove gone)", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [up("m1", "inbox", 1), up("m2", "inbox", 2)]);
    await finalize(store, J1);
    await part(store, J2, "inbox", 0, 0, [reset("inbox"), up("m2", "inbox", 0x22)]);
    await finalize(store, J2, "failed");
    expect(layout(await mailboxViewAt(store, MBX, "latest"))).toEqual({ inbox: ["m1@01", "m2@22"] });
  });

  it("ignores jobs without a manifest and shows an earlier point in time", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [up("m1", "inbox", 1)]);
    await finalize(store, J1);
    await part(store, J2, "inbox", 0, 0, [up("m2", "inbox", 2), rm("m1", "inbox")]);
    await finalize(store, J2);
    await part(store, J3, "inbox", 0, 0, [up("m3", "inbox", 3)]); // still running: no manifest

    expect(layout(await mailboxViewAt(store, MBX, "latest"))).toEqual({ inbox: ["m2@02"] });
    const early = await mailboxViewAt(store, MBX, J1);
    expect(early.jobId).toBe(J1);
    expect(layout(early)).toEqual({ inbox: ["m1@01"] });
    // A job id between two jobs shows the earlier one.
    expect((await mailboxViewAt(store, MBX, "2026-11-01T12-00-00Z-zzzz")).jobId).toBe(J1);
    expect((await mailboxViewAt(store, MBX, "2026-10-01T00-00-00Z-0000")).jobId).toBeUndefined();
  });

  it("names folders from the newest folders record (renames show)", async () => {
    const store = new MemoryObjectStore();
    await writeFolders(store, MBX, J1, [
      { folderId: "f1", parentId: "root", path: "Projects", displayName: "Projects" },
    ]);
    await part(store, J1, "f1", 0, 0, [up("m1", "f1", 1)]);
    await finalize(store, J1);
    await writeFolders(store, MBX, J2, [
      { folderId: "f1", parentId: "root", path: "Done", displayName: "Done" },
    ]);
    await finalize(store, J2);
    expect((await mailboxViewAt(store, MBX, J1)).folders[0]).toMatchObject({
      folderId: "f1",
      path: "Projects",
    });
    expect((await mailboxViewAt(store, MBX, J2)).folders[0]).toMatchObject({ folderId: "f1", path: "Done" });
  });

  it("reports a damaged line with its key and line number and still replays the rest of the part", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [up("m1", "inbox", 1), up("m2", "inbox", 2), up("m3", "inbox", 3)]);
    const key = catalogPartKey({ mailboxId: MBX, jobId: J1, folderId: "inbox", unit: 0, page: 0 });
    const lines = store.objects.get(key)!.toString().split("\n");
    // Line 1 is the part's header; line 3 is m2.
    lines[2] = lines[2]!.slice(0, 20);
    store.objects.set(key, Buffer.from(lines.join("\n")));
    await finalize(store, J1);

    const view = await mailboxViewAt(store, MBX, "latest");
    expect(layout(view)).toEqual({ inbox: ["m1@01", "m3@03"] });
    expect(view.errors).toHaveLength(2);
    // The header tells that the part is no longer what was written, the line parser which line.
    expect(view.errors[0]).toBeInstanceOf(CatalogPartError);
    expect(view.errors[0]!.message).toContain("altered");
    expect(view.errors[1]).toBeInstanceOf(CatalogLineError);
    expect(view.errors[1]).toMatchObject({ key, line: 3 });
    expect(view.errors[1]!.message).toContain(`${key} line 3`);
    await expect(mailboxViewAt(store, MBX, "latest", { strict: true })).rejects.toThrow(CatalogDamageError);
  });

  it("tells a part that lost its last lines (cut at a line boundary) from a whole one", async () => {
    const store = new MemoryObjectStore();
    await part(store, J1, "inbox", 0, 0, [up("m1", "inbox", 1), up("m2", "inbox", 2), up("m3", "inbox", 3)]);
    const key = catalogPartKey({ mailboxId: MBX, jobId: J1, folderId: "inbox", unit: 0, page: 0 });
    const lines = store.objects.get(key)!.toString().trimEnd().split("\n");
    store.objects.set(key, Buffer.from(`${lines.slice(0, -1).join("\n")}\n`));
    await finalize(store, J1);

    const view = await mailboxViewAt(store, MBX, "latest");
    expect(layout(view)).toEqual({ inbox: ["m1@01", "m2@02"] });
    expect(view.errors.map((e) => e.message)).toEqual([
      `catalog ${key}: expected 3 lines after its header (as written), found 2: 1 lost (truncated)`,
    ]);
  });

  it("reads a part of format 1 (no header) as it is, unless its job's manifest says its parts have headers", async () => {
    const store = new MemoryObjectStore();
    const key = catalogPartKey({ mailboxId: MBX, jobId: J1, folderId: "inbox", unit: 0, page: 0 });
    store.objects.set(key, toJsonLines([up("m1", "inbox", 1)]));
    await writeManifest(store, {
      jobId: J1,
      status: "complete",
      endedAt: "2026-11-01T00:00:00Z",
      mailboxes: [{ mailboxId: MBX, status: "complete" }],
    });
    // Written by today's code, the manifest records part format 2: a part without a header is damaged.
    const strictView = await mailboxViewAt(store, MBX, "latest");
    expect(strictView.errors.map((e) => e.constructor)).toEqual([CatalogPartError]);
    expect(strictView.errors[0]!.message).toContain("expected a header line");
    // An old manifest (format 1, no catalogPartVersion): the same part is fine.
    const manifest = JSON.parse(store.objects.get(manifestKey(J1))!.toString());
    delete manifest.catalogPartVersion;
    store.objects.set(manifestKey(J1), Buffer.from(JSON.stringify(manifest)));
    const oldView = await mailboxViewAt(store, MBX, "latest");
    expect(oldView.errors).toEqual([]);
    expect(layout(oldView)).toEqual({ inbox: ["m1@01"] });
  });
});

describe("compactMailbox", () => {
  async function history(store: MemoryObjectStore) {
    await writeFolders(store, MBX, J1, [
      { folderId: "inbox", parentId: "r", path: "Inbox", displayName: "Inbox" },
    ]);
    await part(store, J1, "inbox", 0, 0, [reset("inbox"), up("m1", "inbox", 1), up("m2", "inbox", 2)]);
    await part(store, J1, "old", 1, 0, [up("o1", "old", 7)]);
    await finalize(store, J1);
    await part(store, J2, "inbox", 0, 0, [rm("m1", "inbox"), up("m3", "inbox", 3)]);
    await part(store, J2, "old", 1, 0, [up("m1", "old", 1)]);
    await finalize(store, J2);
  }

  it("writes a snapshot whose replay equals the full replay, now and after later jobs", async () => {
    const store = new MemoryObjectStore();
    await history(store);
    const compacted = await compactMailbox(store, MBX, J2);
    expect(compacted).toEqual({ key: snapshotKey(MBX, J2), jobId: J2, messages: 4 });

    const fromSnapshot = await mailboxViewAt(store, MBX, J2);
    const full = await mailboxViewAt(store, MBX, J2, { useSnapshots: false });
    expect(fromSnapshot.snapshotJobId).toBe(J2);
    expect(full.snapshotJobId).toBeUndefined();
    expect(fromSnapshot.folders).toEqual(full.folders);
    expect(fromSnapshot.jobs).toEqual(full.jobs);

    await part(store, J3, "inbox", 0, 0, [up("m2", "inbox", 0x22), rm("m3", "inbox")]);
    await finalize(store, J3);
    const later = await mailboxViewAt(store, MBX, "latest");
    expect(later.snapshotJobId).toBe(J2);
    expect(later.folders).toEqual(
      (await mailboxViewAt(store, MBX, "latest", { useSnapshots: false })).folders,
    );
    expect(layout(later)).toEqual({ inbox: ["m2@22"], old: ["m1@01", "o1@07"] });
  });

  it("does not use a snapshot that lacks a job finalized after it was written", async () => {
    const store = new MemoryObjectStore();
    await history(store);
    await part(store, J3, "inbox", 0, 0, [up("late", "inbox", 9)]); // J3 not finalized yet
    await part(store, J4, "inbox", 0, 0, [up("m4", "inbox", 4)]);
    await finalize(store, J4);
    await compactMailbox(store, MBX, J4);
    await finalize(store, J3); // the sweep finalizes J3 late

    const view = await mailboxViewAt(store, MBX, "latest");
    expect(view.snapshotJobId).toBeUndefined();
    expect(view.notes.join("\n")).toContain(J3);
    expect(layout(view).inbox).toContain("late@09");
    expect(view.folders).toEqual(
      (await mailboxViewAt(store, MBX, "latest", { useSnapshots: false })).folders,
    );
  });

  it("falls back to the full replay, with a note, when the snapshot is damaged", async () => {
    const store = new MemoryObjectStore();
    await history(store);
    await compactMailbox(store, MBX, J2);
    const key = snapshotKey(MBX, J2);
    const lines = store.objects.get(key)!.toString().split("\n");
    lines[2] = "{broken";
    store.objects.set(key, Buffer.from(lines.join("\n")));
    const view = await mailboxViewAt(store, MBX, "latest");
    expect(view.snapshotJobId).toBeUndefined();
    expect(view.notes.join("\n")).toContain(`${key} line 3`);
    expect(view.folders).toEqual(
      (await mailboxViewAt(store, MBX, "latest", { useSnapshots: false })).folders,
    );
    expect(layout(view)).toEqual({ inbox: ["m2@02", "m3@03"], old: ["m1@01", "o1@07"] });
  });

  it("lists finalized jobs in time order", async () => {
    const store = new MemoryObjectStore();
    await finalize(store, J3);
    await finalize(store, J1);
    await part(store, J2, "inbox", 0, 0, []);
    expect(await listFinalizedJobs(store)).toEqual([J1, J3]);
  });

  it("refuses to compact over a damaged line", async () => {
    const store = new MemoryObjectStore();
    await history(store);
    const key = catalogPartKey({ mailboxId: MBX, jobId: J2, folderId: "old", unit: 1, page: 0 });
    store.objects.set(key, Buffer.from("{not json\n"));
    await expect(compactMailbox(store, MBX, J2)).rejects.toThrow(CatalogDamageError);
    expect(store.objects.has(snapshotKey(MBX, J2))).toBe(false);
  });
});
