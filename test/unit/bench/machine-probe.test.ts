import { describe, expect, it } from "vitest";
import { probeMachine } from "../../../bench/machine-probe.js";

describe("probeMachine", () => {
  it("does the same work every time: the same digest for the same rounds, another for others", () => {
    const a = probeMachine(3);
    const b = probeMachine(3);
    const c = probeMachine(4);
    expect(a.digest).toMatch(/^[0-9a-f]{16}$/);
    expect(b.digest).toBe(a.digest);
    expect(c.digest).not.toBe(a.digest);
  });

  it("reports the CPU and wall time the work took", () => {
    const probe = probeMachine(5);
    expect(probe.cpuMs).toBeGreaterThan(0);
    expect(probe.wallMs).toBeGreaterThan(0);
  });

  it("refuses a round count that is not a positive integer, naming what it found", () => {
    expect(() => probeMachine(0)).toThrow(/expected rounds ≥ 1.*found 0/);
    expect(() => probeMachine(1.5)).toThrow(RangeError);
  });
});
