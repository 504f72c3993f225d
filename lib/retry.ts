/**
 * The one retry primitive of mailstream (on p-retry): an operation is tried again while its
 * failures are worth another try, for up to a time budget, never past the invocation's deadline,
 * waiting between attempts either what the service asked for (`Retry-After`) or an exponential
 * backoff with full jitter. Every retry loop of the code base is a call of {@link retry}.
 *
 * What is worth another try is the caller's decision ({@link RetryOptions.decide}); the default
 * follows the error kinds of lib/errors.ts: a {@link RetryableError} is retried, anything else
 * ends the operation at once.
 *
 * The invocation's deadline is passed to each call ({@link RetryOptions.deadline}), not held in
 * an async context: an AsyncLocalStorage turns on Node's promise hooks for every promise of the
 * process (13–14 % of a controller's busy time in the shape benchmarks).
 */
import { setTimeout as sleep } from "node:timers/promises";
import pRetry, { AbortError } from "p-retry";
import { ConfigError, RetriesExhaustedError, RetryableError } from "./errors.js";

/** How long and how fast an operation is retried. Every field is optional; defaults below. */
export interface RetryBudget {
  /**
   * Longest time one operation keeps retrying, counted from its first attempt; after it the
   * operation gives up with {@link RetriesExhaustedError} (see {@link RetryOptions.exhausted}).
   * Milliseconds, 0–3 600 000. Default 300 000 (5 minutes): a Graph or AWS outage of a few
   * minutes is waited out, a longer one is recorded and the job goes on.
   */
  budgetMs?: number;
  /** Ceiling of the first backoff; each further attempt doubles it. Milliseconds, ≥ 1. Default 500. */
  backoffBaseMs?: number;
  /** Largest backoff ceiling. Milliseconds, ≥ backoffBaseMs. Default 30 000. */
  backoffCapMs?: number;
}

export const DEFAULT_RETRY_BUDGET_MS = 300_000;
export const MAX_RETRY_BUDGET_MS = 3_600_000;

/** What to do after a failed attempt. */
export type RetryDecision =
  /** End the operation with this error. */
  | { retry: false }
  /**
   * Try again: after a backoff with full jitter ("backoff"), at once ("now": e.g. a refreshed
   * token), or after `waitMs` (a wait the service announced).
   */
  | { retry: true; delay: "backoff" | "now" | { waitMs: number } };

/**
 * The moment no retry may wait past (epoch milliseconds), asked when a wait is about to start:
 * the stream runner's is the moment its invocation stops starting work.
 */
export type RetryDeadline = () => number;

export interface RetryOptions extends RetryBudget {
  /**
   * No wait goes past it: a failure whose next wait would ends the operation with that failure
   * itself (it is retryable; the task that meets its deadline is delivered again). Default none.
   */
  deadline?: RetryDeadline;
  /** Whether and when to try again. Default {@link retryableErrors}. */
  decide?: (error: unknown, attempt: number) => RetryDecision;
  /**
   * The error the operation ends with when the budget is spent. Default: a
   * {@link RetriesExhaustedError} (a skip: record and go on) carrying the last error.
   */
  exhausted?: (last: unknown, attempts: number, elapsedMs: number) => Error;
  /** Called before each wait (counters, logs). */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
  /** Random source of the jitter, in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** What the operation is, for the give-up message (e.g. `GET /users/…/messages/delta`). */
  what?: string;
}

/** The default decision: {@link RetryableError}s are retried (after their `retryAfterMs` when they carry one). */
export function retryableErrors(error: unknown): RetryDecision {
  if (!(error instanceof RetryableError)) return { retry: false };
  return error.retryAfterMs !== undefined
    ? { retry: true, delay: { waitMs: error.retryAfterMs } }
    : { retry: true, delay: "backoff" };
}

/** Checks a budget's fields against their bounds (each named as `field`), for configuration. */
export function validateRetryBudget(budget: RetryBudget, field = "retry"): Required<RetryBudget> {
  const budgetMs = budget.budgetMs ?? DEFAULT_RETRY_BUDGET_MS;
  if (!Number.isFinite(budgetMs) || budgetMs < 0 || budgetMs > MAX_RETRY_BUDGET_MS) {
    throw new ConfigError(`${field}.budgetMs`, `expected 0–${MAX_RETRY_BUDGET_MS} ms, found ${budgetMs}`);
  }
  const backoffBaseMs = budget.backoffBaseMs ?? 500;
  if (!Number.isFinite(backoffBaseMs) || backoffBaseMs < 1) {
    throw new ConfigError(`${field}.backoffBaseMs`, `expected ≥ 1 ms, found ${backoffBaseMs}`);
  }
  const backoffCapMs = budget.backoffCapMs ?? 30_000;
  if (!Number.isFinite(backoffCapMs) || backoffCapMs < backoffBaseMs) {
    throw new ConfigError(
      `${field}.backoffCapMs`,
      `expected ≥ backoffBaseMs (${backoffBaseMs}), found ${backoffCapMs}`,
    );
  }
  return { budgetMs, backoffBaseMs, backoffCapMs };
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempt-1))). */
export function backoffDelay(
  attempt: number,
  budget: Required<Pick<RetryBudget, "backoffBaseMs" | "backoffCapMs">>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(budget.backoffCapMs, budget.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Marks the last failure of an operation whose next wait would not fit its budget or deadline. */
class OutOfTime extends Error {
  constructor(
    readonly last: unknown,
    readonly byDeadline: boolean,
  ) {
    super("out of time");
  }
}

/**
 * Runs `operation` until it succeeds, a failure is not worth another try (thrown as is), or the
 * next wait would pass the budget (the {@link RetryOptions.exhausted} error) or the
 * {@link RetryOptions.deadline} (the last error as is: it is retryable, and the task that meets its
 * deadline is delivered again).
 */
export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const budget = validateRetryBudget(options);
  const decide = options.decide ?? retryableErrors;
  const random = options.random ?? Math.random;
  const started = Date.now();
  let attempts = 0;
  try {
    return await pRetry(
      async (attempt) => {
        attempts = attempt;
        try {
          return await operation(attempt);
        } catch (error) {
          const decision = decide(error, attempt);
          if (!decision.retry) throw new AbortError(new Final(error));
          const delayMs =
            decision.delay === "now"
              ? 0
              : decision.delay === "backoff"
                ? backoffDelay(attempt, budget, random)
                : Math.max(0, decision.delay.waitMs);
          const now = Date.now();
          if (options.deadline !== undefined && now + delayMs >= options.deadline()) {
            throw new AbortError(new OutOfTime(error, true));
          }
          if (now + delayMs - started > budget.budgetMs) throw new AbortError(new OutOfTime(error, false));
          options.onRetry?.({ error, attempt, delayMs });
          if (delayMs > 0) await sleep(delayMs);
          // p-retry sees a plain failure and tries again at once: the wait was taken here.
          throw new TryAgain();
        }
      },
      // Delays and limits are ours (above); p-retry only loops.
      { retries: Number.POSITIVE_INFINITY, minTimeout: 0, maxTimeout: 0, randomize: false },
    );
  } catch (error) {
    if (error instanceof OutOfTime) {
      if (error.byDeadline) throw error.last;
      const elapsedMs = Date.now() - started;
      throw options.exhausted
        ? options.exhausted(error.last, attempts, elapsedMs)
        : RetriesExhaustedError.after(error.last, attempts, elapsedMs, options.what);
    }
    if (error instanceof Final) throw error.value;
    throw error;
  }
}

/**
 * The operation's own errors travel through p-retry wrapped, so that p-retry's rules (it never
 * retries a TypeError) do not mix with ours, and non-Error values come out as thrown.
 */
class Final extends Error {
  constructor(readonly value: unknown) {
    super("final");
  }
}

class TryAgain extends Error {}
