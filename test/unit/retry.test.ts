import { describe, expect, it } from "vitest";
import { ConfigError, FatalError, RetriesExhaustedError, RetryableError } from "../../lib/errors.js";
import { backoffDelay, retry, validateRetryBudget } from "../../lib/retry.js";

/** An operation failing with `failures` in turn, then answering "ok"; records when each attempt ran. */
function failing(failures: unknown[]) {
  const at: number[] = [];
  const run = async () => {
    at.push(Date.now());
    const next = failures.shift();
    if (next !== undefined) throw next;
    return "ok";
  };
  return { run, at };
}

describe("backoffDelay", () => {
  it("spans 0 up to the exponential ceiling, capped (full jitter)", () => {
    const budget = { backoffBaseMs: 100, backoffCapMs: 10_000 };
    expect(backoffDelay(1, budget, () => 0)).toBe(0);
    expect(backoffDelay(1, budget, () => 0.999999)).toBe(99);
    expect(backoffDelay(4, budget, () => 0.5)).toBe(400);
    expect(backoffDelay(30, budget, () => 0.5)).toBe(5000);
  });
});

describe("validateRetryBudget", () => {
  it("fills the documented defaults: 5 minutes, 500 ms base, 30 s cap", () => {
    expect(validateRetryBudget({})).toEqual({ budgetMs: 300_000, backoffBaseMs: 500, backoffCapMs: 30_000 });
  });

  it("names the field that is out of bounds", () => {
    expect(() => validateRetryBudget({ budgetMs: -1 }, "graph.retry")).toThrow(ConfigError);
    expect(() => validateRetryBudget({ budgetMs: 4_000_000 }, "graph.retry")).toThrow(
      /graph\.retry\.budgetMs/,
    );
    expect(() => validateRetryBudget({ backoffBaseMs: 0 })).toThrow(/backoffBaseMs/);
    expect(() => validateRetryBudget({ backoffBaseMs: 100, backoffCapMs: 50 })).toThrow(/backoffCapMs/);
  });
});

describe("retry", () => {
  it("retries RetryableErrors by default and returns the first success", async () => {
    const op = failing([new RetryableError("a"), new RetryableError("b")]);
    await expect(retry(op.run, { backoffBaseMs: 1, backoffCapMs: 2 })).resolves.toBe("ok");
    expect(op.at).toHaveLength(3);
  });

  it("ends at once with an error that is not worth another try, as it was thrown", async () => {
    const fatal = new FatalError("bad credentials");
    const op = failing([fatal]);
    await expect(retry(op.run)).rejects.toBe(fatal);
    expect(op.at).toHaveLength(1);
    const notAnError = failing(["a string"]);
    await expect(retry(notAnError.run)).rejects.toBe("a string");
  });

  it("retries a TypeError when the caller says so (p-retry alone would not)", async () => {
    const op = failing([new TypeError("fetch failed"), new TypeError("fetch failed")]);
    await expect(retry(op.run, { decide: () => ({ retry: true, delay: "now" }) })).resolves.toBe("ok");
    expect(op.at).toHaveLength(3);
  });

  it("waits what the error asks (Retry-After) before the next attempt", async () => {
    const op = failing([new RetryableError("throttled", { retryAfterMs: 120 })]);
    await retry(op.run);
    expect((op.at[1] as number) - (op.at[0] as number)).toBeGreaterThanOrEqual(119);
  });

  it("gives up when the next wait would pass the budget, with a RetriesExhaustedError (a skip) naming the last error", async () => {
    const errors = Array.from({ length: 1000 }, (_, i) => new RetryableError(`503 number ${i}`));
    const op = failing(errors);
    const error = await retry(op.run, {
      budgetMs: 50,
      backoffBaseMs: 5,
      backoffCapMs: 5,
      what: "GET /x",
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as RetriesExhaustedError).kind).toBe("skip");
    expect((error as RetriesExhaustedError).attempts).toBe(op.at.length);
    expect((error as Error).message).toMatch(
      /^GET \/x: 503 number \d+ \(gave up after \d+ attempts in [\d.]+ s, the retry budget\)$/,
    );
    expect((error as Error).cause).toBeInstanceOf(RetryableError);
  });

  it("does not sleep through a Retry-After longer than the budget: gives up at once", async () => {
    const op = failing([new RetryableError("throttled", { retryAfterMs: 60_000 })]);
    const error = await retry(op.run, { budgetMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(op.at).toHaveLength(1);
  });

  it("a budget of 0 means one attempt", async () => {
    const op = failing([new RetryableError("a")]);
    await expect(retry(op.run, { budgetMs: 0 })).rejects.toBeInstanceOf(RetriesExhaustedError);
    expect(op.at).toHaveLength(1);
  });

  it("lets the caller shape the give-up error", async () => {
    const op = failing([new RetryableError("conflict"), new RetryableError("conflict")]);
    const error = await retry(op.run, {
      budgetMs: 0,
      exhausted: (last, attempts) => new FatalError(`${(last as Error).message} x${attempts}`),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "fatal", message: "conflict x1" });
  });

  it("never waits past its deadline: throws the retryable error itself", async () => {
    const errors = Array.from({ length: 1000 }, () => new RetryableError("503"));
    const op = failing(errors);
    const deadlineAt = Date.now() + 300;
    const error = await retry(op.run, {
      budgetMs: 600_000,
      backoffBaseMs: 5,
      backoffCapMs: 5,
      deadline: () => deadlineAt,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).not.toBeInstanceOf(RetriesExhaustedError);
    expect(op.at.length).toBeGreaterThan(1);
  });

  it("asks the deadline before each wait: one that comes nearer ends the retries then", async () => {
    const op = failing([new RetryableError("a"), new RetryableError("b"), new RetryableError("c")]);
    const asked: number[] = [];
    // Far for the first wait, past for the second (an invocation whose time ran out meanwhile).
    const error = await retry(op.run, {
      backoffBaseMs: 1,
      backoffCapMs: 1,
      deadline: () => {
        asked.push(Date.now());
        return asked.length === 1 ? Date.now() + 60_000 : Date.now() - 1;
      },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: "b" });
    expect(asked).toHaveLength(2);
    expect(op.at).toHaveLength(2);
  });

  it("calls onRetry with each wait", async () => {
    const waits: number[] = [];
    const op = failing([
      new RetryableError("a", { retryAfterMs: 3 }),
      new RetryableError("b", { retryAfterMs: 4 }),
    ]);
    await retry(op.run, { onRetry: ({ delayMs }) => waits.push(delayMs) });
    expect(waits).toEqual([3, 4]);
  });
});
