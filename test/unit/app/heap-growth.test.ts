import { describe, expect, it } from "vitest";
import { CONTROLLER_HEAP_GROWING_PERCENT, limitHeapGrowth } from "../../../lib/app/heap-growth.js";

describe("limitHeapGrowth", () => {
  it("accepts the controller's growth factor", () => {
    expect(CONTROLLER_HEAP_GROWING_PERCENT).toBe(50);
    expect(() => limitHeapGrowth()).not.toThrow();
  });

  it("refuses a percent V8 would misread, naming what it expected", () => {
    for (const bad of [0, -5, 301, 1.5, Number.NaN]) {
      expect(() => limitHeapGrowth(bad)).toThrow(
        /heap growing percent: expected an integer in 1\.\.300, found/,
      );
    }
  });
});
