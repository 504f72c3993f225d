import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../../lib/graph/retry-after.js";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");

  it("reads delay-seconds, including fractions", () => {
    expect(parseRetryAfter("10", now)).toBe(10_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("2.5", now)).toBe(2500);
    expect(parseRetryAfter("0.0011", now)).toBe(2);
  });

  it("reads an HTTP date relative to now, and a past date as zero", () => {
    expect(parseRetryAfter("Sun, 01 Mar 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Sun, 01 Mar 2026 11:59:00 GMT", now)).toBe(0);
  });

  it("returns undefined for absent or unreadable values", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });
});
