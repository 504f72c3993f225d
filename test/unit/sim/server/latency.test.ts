import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { waitResponseDelay } from "../../../../lib/dev/sim/server/latency.js";

/** Whether the promise has settled after the microtasks queued so far have run. */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await Promise.resolve();
  await Promise.resolve();
  return done;
}

describe("waitResponseDelay", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("counts the delay from the request's arrival: time already spent on it is part of the delay", async () => {
    const arrivedAt = performance.now();
    vi.advanceTimersByTime(300);
    const wait = waitResponseDelay({ baseMs: 400 }, arrivedAt);
    vi.advanceTimersByTime(99);
    expect(await settled(wait)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await settled(wait)).toBe(true);
  });

  it("waits the whole delay from now without an arrival time, and not at all once the delay has passed", async () => {
    const whole = waitResponseDelay({ baseMs: 400 });
    vi.advanceTimersByTime(399);
    expect(await settled(whole)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await settled(whole)).toBe(true);

    const arrivedAt = performance.now();
    vi.advanceTimersByTime(450);
    expect(await settled(waitResponseDelay({ baseMs: 400 }, arrivedAt))).toBe(true);
  });
});
