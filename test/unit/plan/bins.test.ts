import { describe, expect, it } from "vitest";
import { binDealOrder, packStreamBins } from "../../../lib/plan/bins.js";
import { resolvePlanLimits } from "../../../lib/plan/index.js";
import type { FolderWork } from "../../../lib/plan/split.js";

const limits = resolvePlanLimits({ requestLatencySeconds: 1, perByteSeconds: 0, unitOverheadSeconds: 0 });

/** A mailbox of folders of the given requests (1 s each). */
function mailbox(index: number, requests: number[]) {
  const folders: FolderWork[] = requests.map((r, f) => ({
    folderId: `m${index}-f${f}`,
    work: { requests: r, serialSeconds: r },
  }));
  const total = requests.reduce((a, b) => a + b, 0);
  return { mailbox: index, folders, work: { requests: total, serialSeconds: total } };
}

describe("packStreamBins", () => {
  it("keeps mailboxes whole where they fit and cuts one into the roomiest bins where none does", () => {
    // 2 streams of 4 slots × 3 s = 12 slot-seconds each; 10 + 8 + 6 = 24.
    const bins = packStreamBins(
      [mailbox(0, [5, 5]), mailbox(1, [4, 4]), mailbox(2, [2, 2, 2])],
      2,
      3,
      limits,
    )!;
    expect(bins).toHaveLength(2);
    const seconds = bins.map((bin) => bin.reduce((sum, u) => sum + u.work.serialSeconds, 0));
    expect(seconds).toEqual([12, 12]);
    const units = bins.flat();
    expect(
      units
        .filter((u) => u.whole)
        .map((u) => u.mailbox)
        .sort(),
    ).toEqual([0, 1]);
    const pieces = units.filter((u) => !u.whole);
    expect(pieces.map((u) => u.mailbox)).toEqual([2, 2]);
    // A piece's share: the slots that end it within 3 s; the whole mailboxes share the rest.
    for (const bin of bins) {
      expect(bin.reduce((sum, u) => sum + u.share, 0)).toBe(4);
      for (const u of bin) if (!u.whole) expect(u.share).toBe(Math.ceil(u.work.serialSeconds / 3));
    }
    expect(pieces.flatMap((u) => u.folderIds).sort()).toEqual(["m2-f0", "m2-f1", "m2-f2"]);
  });

  it("does not fit a folder larger than every bin's room, nor more work than the streams hold", () => {
    expect(packStreamBins([mailbox(0, [13])], 2, 3, limits)).toBeUndefined();
    expect(packStreamBins([mailbox(0, [6, 6]), mailbox(1, [6, 6, 1])], 2, 3, limits)).toBeUndefined();
  });
});

describe("binDealOrder", () => {
  it("orders the units so that the start deal hands each stream its bin", () => {
    const bins = packStreamBins(
      [mailbox(0, [5, 5]), mailbox(1, [4, 4]), mailbox(2, [2, 2, 2])],
      2,
      3,
      limits,
    )!;
    const order = binDealOrder(bins, 4)!;
    expect(order).toHaveLength(bins.flat().length);
    // Replay the deal (lib/backup/start-units.ts): each unit to the stream with the most free slots.
    const held = [0, 0];
    const streamOf = new Map<number, number>();
    for (const [b, i] of order) {
      const s = held[0]! <= held[1]! ? 0 : 1;
      if (streamOf.has(b)) expect(streamOf.get(b)).toBe(s);
      streamOf.set(b, s);
      held[s]! += bins[b]![i]!.share;
    }
    expect(held).toEqual([4, 4]);
  });

  it("refuses bins whose shares leave a stream a slot the deal would fill from another bin", () => {
    const half = {
      mailbox: 0,
      folderIds: ["a"],
      work: { requests: 1, serialSeconds: 1 },
      whole: true,
      pieces: 1,
    };
    expect(
      binDealOrder(
        [
          [{ ...half, share: 2 }],
          [
            { ...half, mailbox: 1, share: 2 },
            { ...half, mailbox: 2, share: 1 },
          ],
        ],
        4,
      ),
    ).toBeUndefined();
  });
});
