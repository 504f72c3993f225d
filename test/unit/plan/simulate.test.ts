import { describe, expect, it } from "vitest";
import {
  budgetRate,
  type MailboxInterval,
  resolvePlanLimits,
  type ScheduledUnit,
  simulateSchedule,
  workSeconds,
} from "../../../lib/plan/index.js";

// Without the per-unit overhead and claims: the rates and windows alone (their own tests below).
const fast = resolvePlanLimits({
  requestLatencySeconds: 0.01,
  perByteSeconds: 0,
  unitOverheadSeconds: 0,
  claimSeconds: 0,
});

function unit(
  index: number,
  mailboxId: string,
  cost: number,
  concurrency: number,
  latency = 0.01,
): ScheduledUnit {
  return { index, mailboxId, cost, serialSeconds: cost * latency, concurrency };
}

describe("simulateSchedule", () => {
  it("runs units one after another on one stream, in the order given", () => {
    const units = [unit(0, "a", 400, 4), unit(1, "b", 200, 4), unit(2, "c", 100, 4)];
    const schedule = simulateSchedule(units, 1, fast);
    expect(schedule.units.map((u) => [u.index, u.startSeconds, u.endSeconds])).toEqual([
      [0, 0, 1],
      [1, 1, 1.5],
      [2, 1.5, 1.75],
    ]);
    expect(schedule.makespanSeconds).toBe(1.75);
  });

  it("lets a free stream pull the next unit (dynamic assignment)", () => {
    const units = [unit(0, "a", 800, 4), unit(1, "b", 400, 4), unit(2, "c", 400, 4)];
    const schedule = simulateSchedule(units, 2, fast);
    // b ends at 1 s on its stream, which then takes c: both streams end at 2 s.
    expect(schedule.units[2]).toMatchObject({
      stream: schedule.units[1]!.stream,
      startSeconds: 1,
      endSeconds: 2,
    });
    expect(schedule.makespanSeconds).toBe(2);
  });

  it("makes units of one mailbox share its allowance and budget rate", () => {
    const intervals: MailboxInterval[] = [];
    const units = [unit(0, "m", 15_000, 2), unit(1, "m", 15_000, 2)];
    const schedule = simulateSchedule(units, 2, fast, (i) => intervals.push(i));
    // Together they are one 30,000-request mailbox at C = 4: burst, then B / W.
    const alone = workSeconds({ requests: 30_000, serialSeconds: 300 }, 4, 1, fast);
    expect(schedule.makespanSeconds).toBeCloseTo(alone, 6);
    const bound = intervals.filter((i) => i.budgetBound);
    expect(bound.length).toBeGreaterThan(0);
    for (const i of bound) expect(i.requestsPerSecond).toBeLessThanOrEqual(budgetRate(fast) * (1 + 1e-9));
    for (const i of intervals) expect(i.concurrency).toBeLessThanOrEqual(4 + 1e-9);
  });

  it("scales units that ask for more than C between them down to C", () => {
    const intervals: MailboxInterval[] = [];
    const units = [unit(0, "m", 2000, 4, 0.5), unit(1, "m", 2000, 4, 0.5)];
    const schedule = simulateSchedule(units, 2, fast, (i) => intervals.push(i));
    // 4,000 requests × 0.5 s over 4 slots, not 8.
    expect(schedule.makespanSeconds).toBeCloseTo(500, 6);
    expect(Math.max(...intervals.map((i) => i.concurrency))).toBeCloseTo(4, 9);
  });

  it("does not let one mailbox's budget slow another's", () => {
    const units = [unit(0, "a", 30_000, 4), unit(1, "b", 30_000, 4)];
    const alone = workSeconds({ requests: 30_000, serialSeconds: 300 }, 4, 1, fast);
    expect(simulateSchedule(units, 2, fast).makespanSeconds).toBeCloseTo(alone, 6);
    expect(simulateSchedule(units, 1, fast).makespanSeconds).toBeCloseTo(2 * alone, 6);
  });

  it("holds a unit's stream for the per-unit overhead after its requests, not its mailbox's slots", () => {
    const withOverhead = resolvePlanLimits({ ...fast, unitOverheadSeconds: 0.5 });
    // Two units of one mailbox, 2 slots each, on two streams: their requests share the mailbox's
    // 4 slots as before (1 s each); each stream is then held 0.5 s more.
    const shared = simulateSchedule([unit(0, "m", 200, 2), unit(1, "m", 200, 2)], 2, withOverhead);
    expect(shared.units.map((u) => u.endSeconds)).toEqual([1.5, 1.5]);
    // One stream: the second unit starts after the first one's overhead.
    const serial = simulateSchedule([unit(0, "a", 400, 4), unit(1, "b", 200, 4)], 1, withOverhead);
    expect(serial.units.map((u) => [u.startSeconds, u.endSeconds])).toEqual([
      [0, 1.5],
      [1.5, 2.5],
    ]);
    // Two small units on one stream now take longer than a big one alone: a third stream pays.
    const units = [unit(0, "big", 400, 4), unit(1, "s", 180, 4), unit(2, "t", 180, 4)];
    expect(simulateSchedule(units, 2, fast).makespanSeconds).toBeCloseTo(1, 9);
    expect(simulateSchedule(units, 2, withOverhead).makespanSeconds).toBeCloseTo(1.9, 9);
    expect(simulateSchedule(units, 3, withOverhead).makespanSeconds).toBeCloseTo(1.5, 9);
    // A unit without requests still holds its stream for the overhead.
    expect(simulateSchedule([unit(0, "a", 0, 1)], 1, withOverhead).makespanSeconds).toBeCloseTo(0.5, 9);
  });

  it("runs units side by side on one stream while their shares sum to its slots (slot shares)", () => {
    // Two 2-slot units of two mailboxes: one stream of 4 slots runs both at once.
    const pair = simulateSchedule([unit(0, "a", 200, 2), unit(1, "b", 200, 2)], 1, fast);
    expect(pair.units.map((u) => [u.stream, u.startSeconds, u.endSeconds])).toEqual([
      [0, 0, 1],
      [0, 0, 1],
    ]);
    // Two streams: the second unit goes to the stream with the most free slots.
    const spread = simulateSchedule([unit(0, "a", 200, 2), unit(1, "b", 200, 2)], 2, fast);
    expect(spread.units.map((u) => u.stream)).toEqual([0, 1]);
    // A 4-slot unit claimed beside a 1-slot one runs on the 3 slots left until that one ends,
    // then on 4: 1-slot unit 100 requests (1 s); the other 700 requests: 3 × 100 in the first
    // second, then 400 at 400/s: 2 s. The stream holds 5 shares, then 4: it claims the third
    // unit only when the 4-slot one ends.
    const mixed = simulateSchedule(
      [unit(0, "a", 100, 1), unit(1, "b", 700, 4), unit(2, "c", 100, 1)],
      1,
      fast,
    );
    expect(mixed.units.map((u) => [u.index, u.startSeconds, u.endSeconds])).toEqual([
      [0, 0, 1],
      [1, 0, 2],
      [2, 2, 3],
    ]);
  });

  it("lends a stream's slots that the units' shares leave to the units that may borrow (maxConcurrency)", () => {
    // A 3-slot unit of 300 requests (1 s) and a 1-slot unit of 700 that may use 4: 100 requests
    // in the first second beside the other, then 600 at 400/s (1.5 s). Without the loan: 7 s.
    const lent = simulateSchedule(
      [unit(0, "a", 300, 3), { ...unit(1, "b", 700, 1), maxConcurrency: 4 }],
      1,
      fast,
    );
    expect(lent.units.map((u) => [u.index, u.startSeconds, u.endSeconds])).toEqual([
      [0, 0, 1],
      [1, 0, 2.5],
    ]);
    expect(simulateSchedule([unit(0, "a", 300, 3), unit(1, "b", 700, 1)], 1, fast).makespanSeconds).toBe(7);
    // Shares first: a 1-slot unit that may borrow, claimed before a 2-slot one, leaves it its 2
    // slots and borrows the 4th (200/s: 200 of its 300 requests while the other runs its 200 in
    // 1 s), then takes all 4 (100 at 400/s).
    const shares = simulateSchedule(
      [{ ...unit(0, "a", 300, 1), maxConcurrency: 4 }, unit(1, "b", 200, 2)],
      1,
      fast,
    );
    expect(shares.units.map((u) => [u.index, u.endSeconds])).toEqual([
      [0, 1.25],
      [1, 1],
    ]);
  });

  it("runs a split mailbox's units at once on several streams, never past its C", () => {
    const intervals: MailboxInterval[] = [];
    const units = [unit(0, "m", 100, 1), unit(1, "m", 100, 1), unit(2, "m", 100, 1), unit(3, "m", 100, 1)];
    const schedule = simulateSchedule(units, 4, fast, (i) => intervals.push(i));
    expect(schedule.units.map((u) => [u.stream, u.startSeconds, u.endSeconds])).toEqual([
      [0, 0, 1],
      [1, 0, 1],
      [2, 0, 1],
      [3, 0, 1],
    ]);
    expect(Math.max(...intervals.map((i) => i.concurrency))).toBeCloseTo(4, 9);
  });

  it("starts a stream's start units together, and the units it claims at once later one claim after another", () => {
    const claims = resolvePlanLimits({ ...fast, claimSeconds: 0.05 });
    // 4 one-slot units of 1 s on one stream of 4 slots: its first task carries and claims them
    // together (start-units.ts), so they start at once.
    const units = [0, 1, 2, 3].map((i) => unit(i, `m${i}`, 100, 1));
    expect(simulateSchedule(units, 1, claims).units.map((u) => u.startSeconds)).toEqual([0, 0, 0, 0]);
    // After a whole unit of 1 s, the stream claims 4 one-slot units one at a time.
    const after = [unit(9, "h", 400, 4), ...units];
    const schedule = simulateSchedule(after, 1, claims);
    const starts = schedule.units.map((u) => u.startSeconds);
    for (const [k, at] of [0, 1, 1.05, 1.1, 1.15].entries()) expect(starts[k]).toBeCloseTo(at, 9);
    expect(schedule.makespanSeconds).toBeCloseTo(2.15, 9);
    // A claim after a unit's end, long after the last claim, starts at once.
    const later = simulateSchedule([...after, unit(4, "m4", 100, 1)], 1, claims);
    expect(later.units[5]!.startSeconds).toBeCloseTo(2, 9);
    // Without claims' time they all start at once.
    expect(simulateSchedule(after, 1, fast).units.map((u) => u.startSeconds)).toEqual([0, 1, 1, 1, 1]);
  });

  it("runs unitsPerStream whole units per stream as that many streams of one", () => {
    const two = resolvePlanLimits({ ...fast, unitsPerStream: 2, unitOverheadSeconds: 0.1 });
    const one = resolvePlanLimits({ ...fast, unitOverheadSeconds: 0.1 });
    const units = Array.from({ length: 13 }, (_, i) => unit(i, `m${i}`, 100 + 37 * ((i * 7) % 13), 4));
    expect(simulateSchedule(units, 3, two).makespanSeconds).toBeCloseTo(
      simulateSchedule(units, 6, one).makespanSeconds,
      9,
    );
  });

  it("finishes zero-cost units at once and an empty list at 0", () => {
    const schedule = simulateSchedule([unit(0, "a", 0, 1), unit(1, "b", 100, 1)], 1, fast);
    expect(schedule.units[0]).toMatchObject({ startSeconds: 0, endSeconds: 0 });
    expect(schedule.makespanSeconds).toBeCloseTo(1, 9);
    expect(simulateSchedule([], 3, fast)).toEqual({ makespanSeconds: 0, units: [] });
  });

  it("refuses a stream count below 1 and a unit that cannot progress", () => {
    expect(() => simulateSchedule([unit(0, "a", 10, 1)], 0, fast)).toThrow(/stream count ≥ 1, found 0/);
    expect(() => simulateSchedule([{ ...unit(0, "a", 10, 1), concurrency: 0 }], 1, fast)).toThrow(RangeError);
  });
});
