import { describe, expect, it } from "vitest";
import { type BinMailbox, binDealOrder, fewestRequests, packStreamBins } from "../../../lib/plan/bins.js";
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

/** A mailbox whose folders each make `pages` pages and export `items` items (20 a request). */
function exporting(
  index: number,
  folders: Array<{ pages: number; items: number; archive?: boolean }>,
): BinMailbox {
  const works: FolderWork[] = folders.map((f, i) => {
    const requests = f.pages + f.items / 20;
    return { folderId: `m${index}-f${i}`, work: { requests, serialSeconds: requests } };
  });
  const total = works.reduce((sum, f) => sum + f.work.requests, 0);
  return {
    mailbox: index,
    folders: works,
    work: { requests: total, serialSeconds: total },
    padSeconds: 0.5,
    exports: folders.map((f) => ({ pool: f.archive ? "archive" : "primary", requests: f.items / 20 })),
  };
}

describe("fewestRequests", () => {
  it("counts pages and the export batches rounded up per exporting mailbox", () => {
    const mb = exporting(0, [
      { pages: 1, items: 10 },
      { pages: 2, items: 15 },
      { pages: 1, items: 10, archive: true },
      { pages: 3, items: 0 },
    ]);
    expect(fewestRequests(mb, [0])).toBe(2);
    // 25 items of the primary mailbox: 2 batches, not 0.5 + 0.75 + …
    expect(fewestRequests(mb, [0, 1])).toBe(5);
    // The archive's items are batched apart from the primary's.
    expect(fewestRequests(mb, [0, 2])).toBe(4);
    expect(fewestRequests(mb, [0, 1, 2, 3])).toBe(7 + 2 + 1);
    // Without `exports` (no folder exported), the work's requests.
    expect(fewestRequests(mailbox(1, [3, 4]), [0, 1])).toBe(7);
  });
});

describe("packStreamBins by whole rounds", () => {
  it("spreads the room left over the bins, where slot-seconds fill one bin to the brim", () => {
    const tenant = [mailbox(0, [8]), mailbox(1, [7]), mailbox(2, [4]), mailbox(3, [3])];
    const fewestOf = (bins: ReturnType<typeof packStreamBins>) =>
      bins!.map((bin) => bin.reduce((sum, u) => sum + u.work.requests, 0)).sort((a, b) => a - b);
    // By slot-seconds (3 s a slot): best fit, 12 and 10.
    expect(fewestOf(packStreamBins(tenant, 2, 3, limits))).toEqual([10, 12]);
    // By 3 rounds of 4 slots: the roomiest bin that holds each, 11 and 11: a request beyond
    // the fewest in either stream still ends in 3 rounds.
    expect(fewestOf(packStreamBins(tenant, 2, 3, limits, { rounds: 3, spare: 0 }))).toEqual([11, 11]);
    expect(fewestOf(packStreamBins(tenant, 2, 3, limits, { rounds: 3, spare: 1 }))).toEqual([11, 11]);
    // 2 spare a bin leaves 10 + 10 for 22.
    expect(packStreamBins(tenant, 2, 3, limits, { rounds: 3, spare: 2 })).toBeUndefined();
  });

  it("holds at most C × rounds − spare of the fewest in a bin, each piece on ⌈fewest / rounds⌉ slots", () => {
    const tenant = Array.from({ length: 7 }, (_, m) =>
      exporting(
        m,
        Array.from({ length: 3 + (m % 4) }, (_, f) => ({
          pages: 1 + ((m + f) % 3),
          items: 5 + 7 * ((m * 3 + f) % 5),
        })),
      ),
    );
    const all = tenant.reduce(
      (sum, mb) =>
        sum +
        fewestRequests(
          mb,
          mb.folders.map((_, f) => f),
        ),
      0,
    );
    const rounds = Math.ceil(all / (3 * 4)) + 1;
    const bins = packStreamBins(tenant, 3, rounds, limits, { rounds, spare: 1 });
    expect(bins).toBeDefined();
    let placed = 0;
    for (const bin of bins!) {
      let held = 0;
      for (const u of bin) {
        const mb = tenant[u.mailbox]!;
        const members = u.folderIds.map((id) => mb.folders.findIndex((f) => f.folderId === id));
        const fewest = fewestRequests(mb, members);
        expect(u.fewest).toBe(fewest);
        held += fewest;
        if (!u.whole) expect(u.share).toBe(Math.ceil(fewest / rounds));
        placed += u.folderIds.length;
      }
      expect(held).toBeLessThanOrEqual(4 * rounds - 1);
      expect(bin.reduce((sum, u) => sum + u.share, 0)).toBeLessThanOrEqual(4);
    }
    expect(placed).toBe(tenant.reduce((sum, mb) => sum + mb.folders.length, 0));
  });

  it("refuses rooms that are not whole rounds", () => {
    const tenant = [mailbox(0, [2])];
    expect(packStreamBins(tenant, 1, 3, limits, { rounds: 0, spare: 0 })).toBeUndefined();
    expect(packStreamBins(tenant, 1, 3, limits, { rounds: 2.5, spare: 0 })).toBeUndefined();
    expect(packStreamBins(tenant, 1, 3, limits, { rounds: 2, spare: 8 })).toBeUndefined();
    // 2 rounds of 4 slots less 6: room for its 2 requests, not less.
    expect(packStreamBins(tenant, 1, 3, limits, { rounds: 2, spare: 6 })).toBeDefined();
    expect(packStreamBins(tenant, 1, 3, limits, { rounds: 2, spare: 7 })).toBeUndefined();
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
