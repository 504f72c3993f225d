import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dealStartUnits, MAX_START_UNITS } from "../../../lib/backup/start-units.js";
import { resolvePlanLimits } from "../../../lib/plan/limits.js";
import { simulateSchedule } from "../../../lib/plan/simulate.js";

describe("a job's start units", () => {
  it("deals units to the stream with the most free slots, ties to the lowest, while one has a slot free", () => {
    expect(dealStartUnits([4, 2, 2, 1, 1, 1, 1, 1, 1], 3, 4)).toEqual([[0], [1, 3, 5], [2, 4, 6]]);
    // A unit wider than what is free still goes to a stream with a free slot.
    expect(dealStartUnits([1, 1, 1, 4, 1], 1, 4)).toEqual([[0, 1, 2, 3]]);
    // Whole units: one a stream; fewer units than streams leave streams empty.
    expect(dealStartUnits([4, 4, 4], 2, 4)).toEqual([[0], [1]]);
    expect(dealStartUnits([4], 3, 4)).toEqual([[0], [], []]);
    expect(dealStartUnits([], 2, 4)).toEqual([[], []]);
    // A share below 1 counts 1 (as simulate.ts and the runner count it).
    expect(dealStartUnits([0, 0, 0, 0, 0], 1, 4)).toEqual([[0, 1, 2, 3]]);
  });

  it("caps a stream's list at one transaction's room", () => {
    const dealt = dealStartUnits(new Array(300).fill(1), 2, 512);
    expect(dealt.map((d) => d.length)).toEqual([MAX_START_UNITS, MAX_START_UNITS]);
    expect(MAX_START_UNITS).toBe(99);
  });

  it("refuses a bad stream count or slot count, naming it", () => {
    expect(() => dealStartUnits([1], -1, 4)).toThrow(/integer stream count ≥ 0, found -1/);
    expect(() => dealStartUnits([1], 1, 0)).toThrow(/integer streamSlots ≥ 1, found 0/);
  });

  it("is what the simulation starts at time 0: a prefix of the units, each once, the streams' slots filled", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(1, 2, 4), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(1, 2),
        fc.constantFrom(0, 0.1),
        (shares, streams, unitsPerStream, claimSeconds) => {
          const limits = resolvePlanLimits({ unitsPerStream, claimSeconds, unitOverheadSeconds: 0.1 });
          const slots = limits.perStreamConcurrency * unitsPerStream;
          const dealt = dealStartUnits(shares, streams, slots);
          const flat = dealt.flat().sort((a, b) => a - b);
          expect(flat).toEqual(flat.map((_, i) => i));
          const units = shares.map((c, index) => ({
            index,
            mailboxId: `m${index}`,
            cost: 10,
            serialSeconds: 10 * 0.25,
            concurrency: c,
          }));
          const schedule = simulateSchedule(units, streams, limits);
          // The units started at 0 are the dealt ones, on the same streams, none of them later
          // by a claim's time: claimed together.
          const atStart = schedule.units.filter((u) => u.startSeconds === 0);
          expect(atStart.map((u) => u.index).sort((a, b) => a - b)).toEqual(flat);
          for (const u of atStart) expect(dealt[u.stream]).toContain(u.index);
          // Every stream is full, or every unit dealt.
          if (flat.length < shares.length)
            for (const d of dealt)
              expect(d.reduce((sum, i) => sum + shares[i]!, 0)).toBeGreaterThanOrEqual(slots);
        },
      ),
      { numRuns: 200 },
    );
  });
});
