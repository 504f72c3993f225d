import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compareJobIds } from "../../../lib/archive/keys.js";
import { jobIdForTick, jobIdTime } from "../../../lib/state/job-id.js";
import { streamSk, unitSk } from "../../../lib/state/keys.js";
import { counterAdds } from "../../../lib/state/table.js";

describe("jobIdForTick", () => {
  it("gives the same id for the same tick and trigger", () => {
    const a = jobIdForTick(new Date("2026-11-29T04:38:00.987Z"), "schedule");
    const b = jobIdForTick(new Date("2026-11-29T04:38:00.987Z"), "schedule");
    expect(a).toBe(b);
    expect(a).toMatch(/^2026-11-29T04-38-00Z\.987-[0-9a-f]{8}$/);
    expect(jobIdForTick(new Date("2026-11-29T04:38:00Z"), "schedule")).toMatch(
      /^2026-11-29T04-38-00Z\.000-[0-9a-f]{8}$/,
    );
  });

  it("tells triggers and ticks apart", () => {
    const t = new Date("2026-11-29T04:38:00Z");
    expect(jobIdForTick(t, "schedule")).not.toBe(jobIdForTick(t, "on-demand:r1"));
    expect(jobIdForTick(t, "schedule")).not.toBe(jobIdForTick(new Date("2026-11-29T04:38:01Z"), "schedule"));
    expect(jobIdForTick(t, "on-demand:r1")).not.toBe(
      jobIdForTick(new Date("2026-11-29T04:38:00.001Z"), "on-demand:r1"),
    );
  });

  it("sorts by time as strings, across days and years", () => {
    const times = [
      "2025-12-31T23:59:59Z",
      "2026-01-01T00:00:00Z",
      "2026-11-29T04:38:00Z",
      "2026-11-29T14:00:00Z",
    ];
    const ids = times.map((t, i) => jobIdForTick(new Date(t), `trigger-${3 - i}`));
    expect([...ids].sort()).toEqual(ids);
    expect(ids.map((id) => jobIdTime(id)?.toISOString())).toEqual(
      times.map((t) => new Date(t).toISOString()),
    );
  });

  it("sorts jobs started within one second by their millisecond, whatever their hashes", () => {
    // Many on-demand requests of one second: with the second alone their order was their hashes'.
    const times = Array.from({ length: 50 }, (_, i) => new Date(Date.UTC(2026, 11, 7, 1, 2, 3, i * 20)));
    const ids = times.map((t, i) => jobIdForTick(t, `on-demand:request-${i}`));
    expect([...ids].sort(compareJobIds)).toEqual(ids);
    expect(ids.map((id) => jobIdTime(id)?.getTime())).toEqual(times.map((t) => t.getTime()));
  });

  it("orders ids written by older versions (whole seconds) before the new ids of their second", () => {
    // Ids of job records and archives written before the millisecond was kept (test/fixtures).
    const made = JSON.parse(readFileSync("test/fixtures/archive-v3/made.json", "utf8")) as { jobs: string[] };
    const old = made.jobs;
    expect(old).toHaveLength(2);
    for (const oldId of old) {
      const second = jobIdTime(oldId)!;
      expect(second.getUTCMilliseconds()).toBe(0);
      const before = jobIdForTick(new Date(second.getTime() - 1), "on-demand:x");
      const sameSecond = jobIdForTick(second, "schedule");
      const later = jobIdForTick(new Date(second.getTime() + 999), "on-demand:y");
      const next = jobIdForTick(new Date(second.getTime() + 1000), "schedule");
      const ordered = [before, oldId, sameSecond, later, next];
      expect([...ordered].reverse().sort(compareJobIds)).toEqual(ordered);
      expect([...ordered].reverse().sort()).toEqual(ordered);
    }
  });

  it("rejects an invalid time and reads no time from a foreign id", () => {
    expect(() => jobIdForTick(new Date("not a time"), "schedule")).toThrow(/expected a valid tick time/);
    expect(jobIdTime("job-1")).toBeUndefined();
    expect(jobIdTime("2026-11-29T04-38-00Z.12-4eed3867")).toBeUndefined();
  });
});

describe("keys", () => {
  it("order units and streams numerically as strings", () => {
    const indexes = [0, 2, 10, 99, 100, 999_999];
    expect(indexes.map(unitSk).sort()).toEqual(indexes.map(unitSk));
    expect([0, 9, 10, 9999].map(streamSk).sort()).toEqual([0, 9, 10, 9999].map(streamSk));
  });
});

describe("counterAdds", () => {
  it("adds only non-zero counters and names them safely", () => {
    const adds = counterAdds({ items: 2, bytes: 0, throttled: 1 });
    expect(adds.clauses).toEqual(["#c_items :c_items", "#c_throttled :c_throttled"]);
    expect(adds.values).toEqual({ ":c_items": 2, ":c_throttled": 1 });
    expect(adds.names).toEqual({ "#c_items": "items", "#c_throttled": "throttled" });
    expect(counterAdds({}).clauses).toEqual([]);
  });

  it("refuses a counter that is not a finite number", () => {
    expect(() => counterAdds({ bytes: Number.NaN })).toThrow(
      /counter bytes: expected a finite number, found NaN/,
    );
  });
});
