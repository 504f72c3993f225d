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

  it("writes a commit's parts 16 at a time as a window: the next starts when any one is written", async () => {
    const started: number[] = [];
    const finish = new Map<number, (failure?: Error) => void>();
    let inFlight = 0;
    let most = 0;
    const archive = new PartLog();
    archive.writeCatalogPart = (k: CatalogPartKey) => {
      started.push(k.page);
      most = Math.max(most, ++inFlight);
      return new Promise<void>((resolve, reject) =>
        finish.set(k.page, (failure) => {
          inFlight--;
          if (failure) reject(failure);
          else resolve();
        }),
      );
    };
    const commits = new PageCommits(archive, "M", { maxPages: 100, maxHoldMs: 60_000 });
    let recorded = 0;
    for (let page = 0; page < 20; page++)
      await commits.hold({ part: { key: key("A", page), entries }, record: () => recorded++ });
    const done = commits.commit();
    await expect.poll(() => started.length).toBe(16);
    // Part 0 is slow; part 1 written: part 16 starts without waiting for part 0.
    finish.get(1)!();
    await expect.poll(() => started.length).toBe(17);
    expect(started.at(-1)).toBe(16);
    for (const page of [...finish.keys()].filter((p) => p !== 1)) finish.get(page)!();
    await expect.poll(() => started.length).toBe(20);
    for (const page of [17, 18, 19]) finish.get(page)!();
    await done;
    expect(most).toBe(16);
    expect(recorded).toBe(20);

    // A failed part: no later part starts, and no page is recorded.
    const failing = new PageCommits(archive, "M", { maxPages: 100, maxHoldMs: 60_000 });
    started.length = 0;
    finish.clear();
    let failedRecorded = 0;
    for (let page = 0; page < 20; page++)
      await failing.hold({ part: { key: key("B", page), entries }, record: () => failedRecorded++ });
    const failed = failing.commit();
    await expect.poll(() => started.length).toBe(16);
    finish.get(0)!(new RetryableError("part B/0: the store answered 503"));
    await expect(failed).rejects.toThrow(/503/);
    for (const [page, end] of finish) if (page !== 0) end();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(started).toHaveLength(16);
    expect(failedRecorded).toBe(0);
  });
});
