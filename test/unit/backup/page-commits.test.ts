import { describe, expect, it } from "vitest";
import { PageCommits } from "../../../lib/backup/page-commits.js";
import type { ArchiveSink, CatalogEntry, CatalogPartKey } from "../../../lib/backup/ports.js";
import { RetryableError } from "../../../lib/errors.js";

/** Records part writes; fails the parts named in `failing`; reports `pending` pack bytes. */
class PartLog implements ArchiveSink {
  readonly written: string[] = [];
  readonly failing = new Set<string>();
  pending = 0;
  async storeBlob(): Promise<never> {
    throw new Error("not used");
  }
  async writeCatalogPart(key: CatalogPartKey, _entries: CatalogEntry[]) {
    const name = `${key.folderId}/${key.page}`;
    if (this.failing.has(name)) throw new RetryableError(`part ${name}: the store answered 503`);
    this.written.push(name);
  }
  pendingPackBytes() {
    return this.pending;
  }
}

const key = (folderId: string, page: number): CatalogPartKey => ({
  jobId: "J",
  mailboxId: "M",
  folderId,
  unit: 0,
  page,
});
const entries: CatalogEntry[] = [{ kind: "removed", messageId: "x", folderId: "A" }];

describe("PageCommits", () => {
  it("holds pages until maxPages, then writes their parts and records them in the order held", async () => {
    const archive = new PartLog();
    const commits = new PageCommits(archive, "M", { maxPages: 3, maxHoldMs: 60_000 });
    const recorded: string[] = [];
    await commits.hold({ part: { key: key("A", 0), entries }, record: () => recorded.push("A/0") });
    await commits.hold({ record: () => recorded.push("B end (no part)") });
    expect(archive.written).toEqual([]);
    expect(recorded).toEqual([]);
    await commits.hold({ part: { key: key("A", 1), entries }, record: () => recorded.push("A/1") });
    expect(archive.written.sort()).toEqual(["A/0", "A/1"]);
    expect(recorded).toEqual(["A/0", "B end (no part)", "A/1"]);
    // The unit's end commits what is left.
    await commits.hold({ part: { key: key("A", 2), entries }, record: () => recorded.push("A/2") });
    await commits.commit();
    expect(recorded.at(-1)).toBe("A/2");
  });

  it("commits at once when the mailbox's waiting pack bytes reach a pack, and when maxHoldMs is 0", async () => {
    const archive = new PartLog();
    const commits = new PageCommits(archive, "M", { maxPages: 100, maxHoldMs: 60_000, packBytes: 1000 });
    await commits.hold({ part: { key: key("A", 0), entries }, record: () => {} });
    expect(archive.written).toEqual([]);
    archive.pending = 1000;
    await commits.hold({ part: { key: key("A", 1), entries }, record: () => {} });
    expect(archive.written.sort()).toEqual(["A/0", "A/1"]);

    const each = new PageCommits(new PartLog(), "M", { maxHoldMs: 0 });
    let recorded = 0;
    await each.hold({ record: () => recorded++ });
    expect(recorded).toBe(1);
  });

  it("commits in the background once the oldest page was held maxHoldMs", async () => {
    const archive = new PartLog();
    const commits = new PageCommits(archive, "M", { maxPages: 100, maxHoldMs: 20 });
    let recorded = false;
    await commits.hold({ part: { key: key("A", 0), entries }, record: () => (recorded = true) });
    expect(recorded).toBe(false);
    await expect.poll(() => recorded, { timeout: 5_000 }).toBe(true);
    expect(archive.written).toEqual(["A/0"]);
  });

  it("records no page of a batch whose part write failed, nor any page after it", async () => {
    const archive = new PartLog();
    archive.failing.add("A/1");
    const commits = new PageCommits(archive, "M", { maxPages: 2, maxHoldMs: 60_000 });
    const recorded: string[] = [];
    await commits.hold({ part: { key: key("A", 0), entries }, record: () => recorded.push("A/0") });
    await expect(
      commits.hold({ part: { key: key("A", 1), entries }, record: () => recorded.push("A/1") }),
    ).rejects.toThrow(/503/);
    expect(recorded).toEqual([]);
    expect(commits.failure).toBeInstanceOf(RetryableError);
    archive.failing.clear();
    await expect(commits.hold({ record: () => recorded.push("later") })).rejects.toThrow(/503/);
    await expect(commits.commit()).rejects.toThrow(/503/);
    expect(recorded).toEqual([]);
  });
});
