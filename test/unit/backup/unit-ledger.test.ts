import { afterEach, describe, expect, it, vi } from "vitest";
import type { UnitCheckpoint, UnitProgress, UnitStatePort } from "../../../lib/backup/ports.js";
import { emptyProgress } from "../../../lib/backup/progress.js";
import { UnitLedger } from "../../../lib/backup/unit-ledger.js";

const unit = { jobId: "j", index: 0, mailboxId: "m", folderIds: ["a", "b"], concurrency: 4 };
const one = (): UnitProgress => ({ ...emptyProgress(), items: 1 });

/** A state port whose checkpoint writes end when the test says so. */
function heldWrites() {
  const writes: Array<{ checkpoint: UnitCheckpoint; end: () => void }> = [];
  const state: UnitStatePort = {
    syncState: async () => undefined,
    checkpoint: (checkpoint) => new Promise<void>((resolve) => writes.push({ checkpoint, end: resolve })),
  };
  return { state, writes };
}

describe("UnitLedger", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hands over what a write in flight left unwritten as soon as that write ends, without waiting for the interval", async () => {
    vi.useFakeTimers();
    const { state, writes } = heldWrites();
    const ledger = new UnitLedger(unit, { folderIndex: 0, page: 0 }, state, 60_000);
    ledger.pageStored("a", "link-a1", 1, one());
    // The first write waits for the interval, then goes out (and stays in flight).
    await vi.advanceTimersByTimeAsync(60_000);
    expect(writes).toHaveLength(1);
    // More is recorded while it is in flight; then the unit ends.
    ledger.folderFinished("a", "delta-a", one(), true);
    let handed: Awaited<ReturnType<UnitLedger["takeUnwritten"]>> | "waiting" = "waiting";
    const taking = ledger.takeUnwritten().then((last) => {
      handed = last;
    });
    writes[0]!.end();
    // No time passes: the ledger must not wait for the next interval before handing over.
    await vi.advanceTimersByTimeAsync(0);
    expect(handed).not.toBe("waiting");
    await taking;
    expect(writes).toHaveLength(1);
    expect(handed).toMatchObject({
      delta: { items: 1 },
      staged: [{ mailboxId: "m", folderId: "a", deltaLink: "delta-a" }],
      checkpoint: { folderIndex: 1 },
    });
  });

  it("writes the pages a commit records in one go with one write, even when the interval has passed", async () => {
    const { state, writes } = heldWrites();
    const ledger = new UnitLedger(unit, { folderIndex: 0, page: 0 }, state, 0);
    ledger.pageStored("a", "link-a1", 1, one());
    ledger.folderFinished("a", "delta-a", one(), true);
    ledger.pageStored("b", "link-b1", 1, one());
    await Promise.resolve();
    await Promise.resolve();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.checkpoint).toMatchObject({
      folderIndex: 1,
      page: 3,
      openFolders: [{ folderId: "b" }],
    });
    writes[0]!.end();
    await ledger.flush();
    expect(writes).toHaveLength(1);
  });

  it("starts no write while held, and hands everything recorded meanwhile to the unit's end", async () => {
    const { state, writes } = heldWrites();
    const ledger = new UnitLedger(unit, { folderIndex: 0, page: 0 }, state, 0);
    ledger.holdWrites();
    ledger.folderFinished("a", "delta-a", one(), true);
    ledger.folderFinished("b", "delta-b", one(), true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(writes).toHaveLength(0);
    const last = await ledger.takeUnwritten();
    expect(writes).toHaveLength(0);
    expect(last).toMatchObject({ checkpoint: { folderIndex: 2, page: 2 }, delta: { items: 2 } });
    expect(last?.staged.map((l) => l.folderId)).toEqual(["a", "b"]);
  });

  it("writes what was recorded while held once flushed", async () => {
    const { state, writes } = heldWrites();
    const ledger = new UnitLedger(unit, { folderIndex: 0, page: 0 }, state, 60_000);
    ledger.holdWrites();
    ledger.folderFinished("a", "delta-a", one(), true);
    expect(writes).toHaveLength(0);
    const flushing = ledger.flush();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.checkpoint).toMatchObject({ folderIndex: 1, page: 1 });
    writes[0]!.end();
    await flushing;
  });
});
