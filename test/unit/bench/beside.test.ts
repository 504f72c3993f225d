import { describe, expect, it } from "vitest";
import { BesideStepsFailedError, runBeside } from "../../../bench/beside.js";

/** A step that ends when `release` is called, recording its start and end in `log`. */
function gate(name: string, log: string[]) {
  let release: (value: string) => void = () => {};
  const done = new Promise<string>((resolve) => {
    release = resolve;
  });
  return {
    release: () => release(name),
    step: async () => {
      log.push(`start ${name}`);
      const value = await done;
      log.push(`end ${name}`);
      return value;
    },
  };
}

describe("steps run beside each other", () => {
  it("starts every step before any ends, and names the others beside each", async () => {
    const log: string[] = [];
    const a = gate("a", log);
    const b = gate("b", log);
    const running = runBeside({ a: a.step, b: b.step });
    await Promise.resolve();
    expect(log).toEqual(["start a", "start b"]);
    b.release();
    a.release();
    const out = await running;
    expect(out.a.value).toBe("a");
    expect(out.b.value).toBe("b");
    expect(out.a.ranBeside).toEqual(["b"]);
    expect(out.b.ranBeside).toEqual(["a"]);
  });

  it("measures each step's own seconds from its start to its end", async () => {
    let clock = 0;
    const out = await runBeside(
      {
        short: async () => {
          clock += 2_000;
          return 1;
        },
        long: async () => {
          clock += 5_000;
          return "x";
        },
      },
      { sequential: true, now: () => clock },
    );
    expect(out.short.seconds).toBe(2);
    expect(out.long.seconds).toBe(5);
    expect(out.short.ranBeside).toEqual([]);
  });

  it("runs one after another when sequential: the second starts after the first ended", async () => {
    const log: string[] = [];
    const a = gate("a", log);
    const b = gate("b", log);
    const running = runBeside({ a: a.step, b: b.step }, { sequential: true });
    await Promise.resolve();
    expect(log).toEqual(["start a"]);
    a.release();
    b.release();
    await running;
    expect(log).toEqual(["start a", "end a", "start b", "end b"]);
  });

  it("lets the other steps finish before it reports a failure, naming the failed step", async () => {
    const log: string[] = [];
    const slow = gate("slow", log);
    const running = runBeside({
      broken: async () => {
        throw new Error("simulator did not start");
      },
      slow: slow.step,
    });
    let settled = false;
    running.catch(() => {}).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    slow.release();
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BesideStepsFailedError);
    expect((error as Error).message).toContain("broken failed: simulator did not start");
    expect(log).toEqual(["start slow", "end slow"]);
  });
});
