import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MailboxLimiter } from "../../../../lib/dev/sim/server/limits.js";

describe("MailboxLimiter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z"), toFake: ["Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("admits up to the concurrency limit per app and mailbox, and again after a release", () => {
    const limiter = new MailboxLimiter({ concurrentPerMailbox: 2 });
    const a = limiter.admit("app", "m1");
    const b = limiter.admit("app", "m1");
    const c = limiter.admit("app", "m1");
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, false]);
    expect(c).toMatchObject({
      code: "ApplicationThrottled",
      message: "Application is over its MailboxConcurrency limit.",
    });
    expect(limiter.admit("app", "m2").ok).toBe(true);
    expect(limiter.admit("other-app", "m1").ok).toBe(true);
    if (a.ok) {
      a.release();
      a.release(); // twice is harmless
    }
    expect(limiter.admit("app", "m1").ok).toBe(true);
    expect(limiter.admit("app", "m1").ok).toBe(false);
    expect(limiter.stats().m1?.maxInFlight).toBe(2);
  });

  it("refuses requests over the budget until the window ends, with Retry-After the rest of the window", () => {
    const limiter = new MailboxLimiter({ budgetPerWindow: 2, windowMs: 10_000 });
    for (let i = 0; i < 2; i++) {
      const admission = limiter.admit("app", "m1");
      if (admission.ok) admission.release();
    }
    vi.advanceTimersByTime(2_500);
    const refused = limiter.admit("app", "m1");
    expect(refused).toMatchObject({ ok: false, code: "TooManyRequests", retryAfterSeconds: 8 });
    vi.advanceTimersByTime(7_500);
    expect(limiter.admit("app", "m1").ok).toBe(true);
  });

  it("counts early retries: after the in-flight grace, before the announced wait ends", () => {
    const limiter = new MailboxLimiter({ earlyRetryGraceMs: 50 });
    limiter.noteRetryAfter("app", "m1", 2, 429);
    limiter.admit("app", "m1"); // already on its way when the 429 was sent
    vi.advanceTimersByTime(500);
    limiter.admit("other-app", "m1"); // another app was not told to wait
    limiter.admit("app", "m1"); // early
    vi.advanceTimersByTime(1_480);
    limiter.admit("app", "m1"); // within timer rounding of the end
    vi.advanceTimersByTime(100);
    limiter.admit("app", "m1"); // after the wait
    expect(limiter.stats().m1).toMatchObject({ requests: 5, throttled: 1, earlyRetries: 1 });
    limiter.resetStats();
    expect(limiter.stats()).toEqual({});
  });

  it("counts a request as an early retry only when its connection shows it was sent after the Retry-After", () => {
    const limiter = new MailboxLimiter({ earlyRetryGraceMs: 50 });
    const announced = Date.now();
    limiter.noteRetryAfter("app", "m1", 2, 429);
    vi.advanceTimersByTime(300);
    // The first request of a connection, read late by a busy server: it may have left before the 429.
    limiter.admit("app", "m1", 0);
    // On a connection whose previous answer ended before the 429: also on its way already.
    limiter.admit("app", "m1", announced - 10);
    // On a connection whose previous answer ended after the 429: sent after it, too early.
    limiter.admit("app", "m1", announced + 100);
    expect(limiter.stats().m1).toMatchObject({ requests: 3, earlyRetries: 1 });
  });

  it("leaves out a request whose previous answer ended in the announcement's millisecond while it arrives within the grace", () => {
    const limiter = new MailboxLimiter({ earlyRetryGraceMs: 50 });
    const announced = Date.now();
    limiter.noteRetryAfter("app", "m1", 2, 429);
    vi.advanceTimersByTime(3);
    // Its connection's answer and the 429 were written in one millisecond: the client may have read that answer first.
    limiter.admit("app", "m1", announced);
    vi.advanceTimersByTime(200);
    // The same millisecond, but sent long after: the client had read the Retry-After (the 429 on this very connection).
    limiter.admit("app", "m1", announced);
    expect(limiter.stats().m1).toMatchObject({ requests: 2, earlyRetries: 1 });
  });
});
