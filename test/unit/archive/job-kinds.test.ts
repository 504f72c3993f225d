import { describe, expect, it } from "vitest";
import { type CatalogEntry, writeCatalogPart, writeFolders } from "../../../lib/archive/catalog.js";
import { jobItemKinds } from "../../../lib/archive/job-kinds.js";
import { writeManifest } from "../../../lib/archive/manifest.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";

const SHA = "a".repeat(64);

function item(messageId: string, folderId: string, kind?: string): CatalogEntry {
  return {
    kind: "upsert",
    messageId,
    folderId,
    sha256: SHA,
    size: 10,
    meta: kind ? { id: messageId, kind } : { id: messageId },
  };
}

const tree = (archiveFolder: "primary" | "archive") => [
  { folderId: "inbox", parentId: "root", path: "Inbox", displayName: "Inbox" },
  { folderId: "old", parentId: "root", path: "Old", displayName: "Old", mailbox: archiveFolder },
];

async function finalize(store: MemoryObjectStore, jobId: string) {
  await writeManifest(store, {
    jobId,
    status: "complete",
    endedAt: "2026-12-06T00:00:00.000Z",
    mailboxes: [{ mailboxId: "m", status: "complete" }],
  });
}

describe("jobItemKinds", () => {
  it("counts a job's items by kind, and those in archive folders by the tree of the newest finalized job that wrote one", async () => {
    const store = new MemoryObjectStore();
    // j1: the tree with "old" in the archive mailbox, finalized.
    await writeFolders(store, "m", "j1", tree("archive"));
    await finalize(store, "j1");
    // j2: wrote another tree but never finalized: readers do not count it.
    await writeFolders(store, "m", "j2", tree("primary"));
    // j3: the tree unchanged since j1, so it wrote none; two items in "old", one event in the inbox.
    await writeCatalogPart(store, { jobId: "j3", mailboxId: "m", folderId: "old", unit: 0, page: 0 }, [
      item("a", "old"),
      item("b", "old"),
    ]);
    await writeCatalogPart(store, { jobId: "j3", mailboxId: "m", folderId: "inbox", unit: 0, page: 0 }, [
      item("c", "inbox", "event"),
      { kind: "removed", messageId: "d", folderId: "inbox" },
    ]);
    await finalize(store, "j3");
    expect(await jobItemKinds(store, "j3", ["m"])).toEqual({ byKind: { mail: 2, event: 1 }, inArchives: 2 });
    // A job's own tree wins over an older one.
    await writeFolders(store, "m", "j4", tree("primary"));
    await writeCatalogPart(store, { jobId: "j4", mailboxId: "m", folderId: "old", unit: 0, page: 0 }, [
      item("e", "old"),
    ]);
    await finalize(store, "j4");
    expect(await jobItemKinds(store, "j4", ["m"])).toEqual({ byKind: { mail: 1 }, inArchives: 0 });
  });
});
