import { describe, expect, it } from "vitest";
import { exportBatchesOf, fewestExportRequests, splitExports } from "../../../lib/backup/export-batches.js";

describe("exportBatchesOf", () => {
  const items = (sizes: number[]) => sizes.map((size, i) => ({ id: `i${i}`, size }));
  it("puts at most 20 items in a request", () => {
    const batches = exportBatchesOf(items(Array.from({ length: 45 }, () => 1_000)));
    expect(batches.map((b) => b.length)).toEqual([20, 20, 5]);
  });
  it("keeps a request's data to about 8 MiB: a large item goes alone, none is dropped", () => {
    const mib = 1024 * 1024;
    const batches = exportBatchesOf(items([3 * mib, 3 * mib, 3 * mib, 100 * mib, 1_000]));
    expect(batches.map((b) => b.map((x) => x.id))).toEqual([["i0", "i1"], ["i2"], ["i3"], ["i4"]]);
  });
  it("counts items of unknown size as small", () => {
    expect(exportBatchesOf([{ id: "a" }, { id: "b" }]).map((b) => b.length)).toEqual([2]);
  });
});

describe("splitExports", () => {
  const mib = 1024 * 1024;
  const items = (sizes: number[]) => sizes.map((size, i) => ({ id: `i${i}`, size }));
  it("streams each item above 4 MiB alone and batches the rest", () => {
    const { streamed, batches } = splitExports(items([1_000, 5 * mib, 2_000, 100 * mib]), true);
    expect(streamed.map((x) => x.id)).toEqual(["i1", "i3"]);
    expect(batches.map((b) => b.map((x) => x.id))).toEqual([["i0", "i2"]]);
  });
  it("batches every item when the source cannot stream", () => {
    const { streamed, batches } = splitExports(items([1_000, 9 * mib]), false);
    expect(streamed).toEqual([]);
    expect(batches.map((b) => b.map((x) => x.id))).toEqual([["i0"], ["i1"]]);
  });
});

describe("fewestExportRequests", () => {
  const mib = 1024 * 1024;
  it("counts 20 items or 8 MiB per request at most, and each item above 4 MiB alone", () => {
    expect(fewestExportRequests([])).toBe(0);
    expect(fewestExportRequests(Array.from({ length: 41 }, () => ({ size: 100 })))).toBe(3);
    // 3 × 3 MiB = 9 MiB: two requests by bytes though 3 items fit one by count.
    expect(fewestExportRequests([{ size: 3 * mib }, { size: 3 * mib }, { size: 3 * mib }])).toBe(2);
    expect(fewestExportRequests([{ size: 100 * mib }, { size: 5 * mib }, { size: 10 }])).toBe(3);
  });
});
