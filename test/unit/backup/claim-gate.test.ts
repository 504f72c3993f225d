import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ClaimGate, ClaimRefusedError } from "../../../lib/backup/claim-gate.js";
import type { ArchiveSink, UnitStatePort } from "../../../lib/backup/ports.js";
import { ruleFor } from "../../../lib/errors.js";

/** An archive and a unit state port that record what reaches them. */
function recorders() {
  const calls: string[] = [];
  const archive: ArchiveSink = {
    storeBlob: async (kind) => {
      calls.push(`blob ${kind}`);
      return { sha256: "x", size: 1, existed: false };
    },
    writeCatalogPart: async (key) => {
      calls.push(`part ${key.page}`);
    },
    pendingPackBytes: () => 7,
  };
  const state: UnitStatePort = {
    syncState: async () => {
      calls.push("syncState");
      return "link";
    },
    committedSyncState: async () => {
      calls.push("committedSyncState");
      return { deltaLink: "link" };
    },
    checkpoint: async () => {
      calls.push("checkpoint");
    },
  };
  return { calls, archive, state };
}

const partKey = { jobId: "J", mailboxId: "m", folderId: "f", unit: 0, page: 3 };
const progress = { items: 0, bytes: 0, removed: 0, deduplicated: 0, requests: 0, throttled: 0 };
const tick = () => new Promise((r) => setTimeout(r, 5));

describe("ClaimGate", () => {
  it("holds writes and answers until the claim is granted, then lets them through; reads pass at once", async () => {
    const gate = new ClaimGate();
    const { calls, archive, state } = recorders();
    const gatedArchive = gate.archive(archive);
    const gatedState = gate.unitState(state);
    const blob = gatedArchive.storeBlob("mime", Buffer.from("a"));
    const part = gatedArchive.writeCatalogPart(partKey, []);
    const checkpoint = gatedState.checkpoint({ folderIndex: 0, page: 1 }, progress);
    const answer = gate.after("page");
    expect(await gatedState.syncState("m", "f")).toBe("link");
    expect(await gatedState.committedSyncState!("m", "f")).toEqual({ deltaLink: "link" });
    expect(gatedArchive.pendingPackBytes!("m")).toBe(7);
    await tick();
    expect(calls).toEqual(["syncState", "committedSyncState"]);
    gate.open();
    expect(await answer).toBe("page");
    await Promise.all([blob, part, checkpoint]);
    expect(calls).toEqual(["syncState", "committedSyncState", "blob mime", "part 3", "checkpoint"]);
    expect(await gate.granted()).toBe(true);
    // Once open, no wait: an answer is passed on as it is.
    expect(gate.after("next")).toBe("next");
    expect(gate.pass()).toBeUndefined();
  });

  it("fails every write and answer once the claim is refused, writing nothing and destroying a body stream unread", async () => {
    const gate = new ClaimGate();
    const { calls, archive, state } = recorders();
    const gatedArchive = gate.archive(archive);
    const body = Readable.from([Buffer.from("never read")]);
    const blob = gatedArchive.storeBlob("export", body);
    const checkpoint = gate.unitState(state).checkpoint({ folderIndex: 0, page: 1 }, progress);
    const answer = gate.after("page");
    const refusal = new ClaimRefusedError("J", 3, 0);
    gate.refuse(refusal);
    await expect(blob).rejects.toBe(refusal);
    await expect(checkpoint).rejects.toBe(refusal);
    await expect(answer).rejects.toBe(refusal);
    await expect(gatedArchive.writeCatalogPart(partKey, [])).rejects.toBe(refusal);
    expect(() => gate.check()).toThrow(refusal);
    expect(body.destroyed).toBe(true);
    expect(calls).toEqual([]);
    expect(await gate.granted()).toBe(false);
    // Settled once: a later open changes nothing.
    gate.open();
    expect(gate.state).toBe("refused");
    // Superseded: the unit stops at once, nothing retried, the task drops it.
    expect(ruleFor(refusal)).toBe("drop");
    expect(refusal.name).toBe("ClaimRefusedError");
  });
});
