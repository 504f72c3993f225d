import { describe, expect, it } from "vitest";
import { type FolderWork, resolvePlanLimits } from "../../../lib/plan/index.js";
import { type Lane, packable, packSlots, pieceOrder, type SlotPiece } from "../../../lib/plan/slot-pack.js";
import { seededRandom } from "./tenants.js";

const limits = resolvePlanLimits({
  requestLatencySeconds: 0.4,
  perByteSeconds: 0,
  unitOverheadSeconds: 0.1,
  claimSeconds: 0.05,
});

function folder(id: string, requests: number): FolderWork {
  return { folderId: id, work: { requests, serialSeconds: requests * limits.requestLatencySeconds } };
}

/** A mailbox of folders of the given requests each. */
function mailbox(m: number, requests: number[]) {
  return { mailbox: m, folders: requests.map((r, f) => folder(`m${m}-f${f}`, r)) };
}

/** `streams` streams of 4 one-slot lanes, the k-th lane of each starting k claims later. */
function lanesOf(streams: number): Lane[] {
  return Array.from({ length: 4 * streams }, (_, i) => ({
    width: 1,
    startSeconds: Math.floor(i / streams) * limits.claimSeconds,
  }));
}

/** What every layout keeps: each folder once, ≤ C slots a mailbox, lanes within the capacity. */
function checkLayout(
  pieces: readonly SlotPiece[],
  mailboxes: ReadonlyArray<ReturnType<typeof mailbox>>,
  lanes: readonly Lane[],
  capacity: number,
): void {
  const placed = pieces.flatMap((p) => p.folderIds).sort();
  expect(placed).toEqual(mailboxes.flatMap((m) => m.folders.map((f) => f.folderId)).sort());
  for (const m of mailboxes) {
    const mine = pieces.filter((p) => p.mailbox === m.mailbox);
    expect(mine.reduce((sum, p) => sum + p.width, 0)).toBeLessThanOrEqual(limits.perMailboxConcurrency);
    expect(mine.every((p) => p.pieces === mine.length)).toBe(true);
    // Each piece's work is that of its folders.
    for (const p of mine) {
      const requests = p.folderIds.reduce(
        (sum, id) => sum + m.folders.find((f) => f.folderId === id)!.work.requests,
        0,
      );
      expect(p.work.requests).toBe(requests);
    }
  }
  lanes.forEach((lane, l) => {
    const onLane = pieces.filter((p) => p.lane === l).sort((a, b) => a.startSeconds - b.startSeconds);
    let at = lane.startSeconds;
    for (const p of onLane) {
      // One after another from the lane's start, none overlapping the one before.
      expect(p.startSeconds).toBeCloseTo(at, 9);
      at = p.startSeconds + p.work.serialSeconds / p.width + limits.unitOverheadSeconds;
    }
    expect(at).toBeLessThanOrEqual(capacity + 1e-9);
  });
}

describe("packSlots", () => {
  it("fills each lane to the capacity with folder groups, cutting a mailbox where a lane ends", () => {
    // 6 mailboxes of 18 folders of 1 request (7.2 s one after another) on 4 streams of 4 slots:
    // 43.2 s of requests in 16 lanes of 3.2 s (less the claims' stagger and the units' overhead).
    const mailboxes = Array.from({ length: 6 }, (_, m) => mailbox(m, new Array(18).fill(1)));
    const lanes = lanesOf(4);
    const pieces = packSlots(mailboxes, lanes, 3.2, limits)!;
    expect(pieces).toBeDefined();
    checkLayout(pieces, mailboxes, lanes, 3.2);
    // A mailbox longer than a lane is cut: more pieces than mailboxes, each of one slot.
    expect(pieces.length).toBeGreaterThan(6);
    expect(pieces.every((p) => p.width === 1)).toBe(true);
  });

  it("keeps every invariant on random mailboxes and lanes", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = seededRandom(seed);
      const count = 2 + Math.floor(random() * 30);
      const mailboxes = Array.from({ length: count }, (_, m) =>
        mailbox(
          m,
          Array.from({ length: 1 + Math.floor(random() * 25) }, () => 1 + Math.floor(random() ** 3 * 12)),
        ),
      );
      const lanes = lanesOf(1 + Math.floor(random() * 16));
      const capacity = 1 + random() * 6;
      const fitting = mailboxes.filter(
        (m) =>
          packable(
            {
              requests: m.folders.reduce((s, f) => s + f.work.requests, 0),
              serialSeconds: m.folders.reduce((s, f) => s + f.work.serialSeconds, 0),
            },
            capacity,
            limits,
          ) && m.folders.every((f) => f.work.serialSeconds + limits.unitOverheadSeconds <= capacity - 0.2),
      );
      const pieces = packSlots(fitting, lanes, capacity, limits);
      if (pieces) checkLayout(pieces, fitting, lanes, capacity);
    }
  });

  it("starts a mailbox in a fresh lane when it would need more than C pieces from where the last one ended", () => {
    // Lanes of 2.1 s: the first mailbox (1.2 s) leaves 0.8 s; the second (18 folders of 0.4 s)
    // fits 5 folders a fresh lane (2 s of room), so 4 lanes from a fresh one, but not 0.8 s and 3.
    const lanes: Lane[] = Array.from({ length: 8 }, () => ({ width: 1, startSeconds: 0 }));
    const mailboxes = [mailbox(0, [3]), mailbox(1, new Array(18).fill(1))];
    const pieces = packSlots(mailboxes, lanes, 2.1, limits)!;
    checkLayout(pieces, mailboxes, lanes, 2.1);
    const second = pieces.filter((p) => p.mailbox === 1);
    expect(second.length).toBe(4);
    expect(second.every((p) => p.lane >= 1 && p.startSeconds === 0)).toBe(true);
  });

  it("gives up when the mailboxes do not fit in the lanes", () => {
    const mailboxes = Array.from({ length: 6 }, (_, m) => mailbox(m, new Array(18).fill(1)));
    expect(packSlots(mailboxes, lanesOf(2), 3, limits)).toBeUndefined();
    // A mailbox whose requests exceed C lanes' room cannot be laid out at all.
    expect(packSlots([mailbox(0, new Array(40).fill(1))], lanesOf(4), 3, limits)).toBeUndefined();
  });
});

describe("packable", () => {
  it("takes a mailbox of at most C lanes' room and one window's requests", () => {
    const work = (requests: number) => ({ requests, serialSeconds: requests * 0.4 });
    // 4 × (3 − 0.1) s = 11.6 s of requests: 29 at 0.4 s.
    expect(packable(work(28), 3, limits)).toBe(true);
    expect(packable(work(30), 3, limits)).toBe(false);
    expect(packable(work(0), 3, limits)).toBe(false);
    expect(packable(work(28), 3, { ...limits, budgetPerWindow: 20 })).toBe(false);
  });
});

describe("pieceOrder", () => {
  it("orders pieces by their start in the layout, the longer first among those that start together", () => {
    const mailboxes = Array.from({ length: 6 }, (_, m) => mailbox(m, new Array(10 + m).fill(1)));
    const pieces = packSlots(mailboxes, lanesOf(4), 3, limits)!;
    const ordered = pieceOrder(pieces, limits);
    expect(ordered).toHaveLength(pieces.length);
    ordered.forEach((p, i) => {
      const next = ordered[i + 1];
      if (!next) return;
      expect(p.startSeconds).toBeLessThanOrEqual(next.startSeconds);
      if (p.startSeconds === next.startSeconds)
        expect(p.work.serialSeconds).toBeGreaterThanOrEqual(next.work.serialSeconds);
    });
  });
});
