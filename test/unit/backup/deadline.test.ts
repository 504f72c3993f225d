import { describe, expect, it } from "vitest";
import { DEADLINE_MARGIN_SHARE, scaledDeadlineMargin } from "../../../lib/backup/deadline.js";

describe("scaledDeadlineMargin", () => {
  it("keeps the configured margin in an invocation four times as long or longer", () => {
    expect(scaledDeadlineMargin(60_000, 900_000)).toBe(60_000);
    expect(scaledDeadlineMargin(60_000, 240_000)).toBe(60_000);
  });

  it("keeps a quarter of a shorter invocation's time, so that it works the rest", () => {
    expect(DEADLINE_MARGIN_SHARE).toBe(0.25);
    // The production variant's coordinator: 30 s against a 60 s margin.
    expect(scaledDeadlineMargin(60_000, 30_000)).toBe(7_500);
    // A stream that ends the job's last unit with 61 s left.
    expect(scaledDeadlineMargin(60_000, 61_000)).toBe(15_250);
    expect(scaledDeadlineMargin(60_000, 0)).toBe(0);
  });

  it("keeps the configured margin when there is no deadline", () => {
    expect(scaledDeadlineMargin(60_000, undefined)).toBe(60_000);
    expect(scaledDeadlineMargin(0, 30_000)).toBe(0);
  });
});
