import { describe, expect, it } from "vitest";
import { exportBatchesOf } from "../../../lib/backup/unit-backup.js";

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
