/**
 * Errors are grouped by what the caller should do with them, not by where they came from. Code
 * tells them apart by class (`instanceof`) or by {@link MailstreamError.kind}, never by `name`:
 * names are for reports and logs.
 *
 * One rule per kind (docs/architecture.md "Errors" lists the classes of each):
 *
 * | kind         | rule |
 * | ------------ | ---- |
 * | `retryable`  | Retry in place with `retry()` (lib/retry.ts), backing off, for up to its time budget and never past the invocation's deadline. What still escapes (a `Retry-After` longer than an invocation may wait, state-table contention, an AWS service down, the deadline reached) ends the stream task so that the queue delivers it again: the units resume from their checkpoints. |
 * | `skip`       | Record the message, folder or mailbox ({@link MailboxUnavailableError}) in the job report and go on. A retryable failure that outlasted its budget becomes a {@link RetriesExhaustedError}, a skip. |
 * | `superseded` | This invocation's work was handed to a newer one (the sweep re-sent its stream, or the queue delivered the task twice): stop at once, write nothing more, and let the task go; the newer owner carries on. |
 * | `fatal`      | Stop with one line naming what to fix: bad configuration or refused credentials at start, in planning (the job is closed `failed` with that line), or in a unit (the unit fails with it and its stream takes no further unit). |
 *
 * An error that is no MailstreamError is a bug or a library's failure: {@link ruleFor} treats
 * transient-looking ones (an AWS SDK error marked retryable or a server fault, a refused or reset
 * connection) as retryable, anything else as a failure of the unit it happened in (recorded).
 */
export type ErrorKind = "retryable" | "skip" | "superseded" | "fatal";

export abstract class MailstreamError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A transient failure: the same request may succeed later. */
export class RetryableError extends MailstreamError {
  readonly kind = "retryable" as const;
  /** Milliseconds the server asked us to wait (from `Retry-After`), when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The thing in question (message, folder, mailbox) cannot be processed; record it and go on. */
export class SkipError extends MailstreamError {
  readonly kind = "skip" as const;
}

/** The whole mailbox is gone or closed to the app (not found, not enabled, access denied): skip the mailbox. */
export class MailboxUnavailableError extends SkipError {}

/**
 * A folder's delta sync state is no longer valid (Graph 410 SyncStateNotFound). The caller
 * restarts that folder from {@link location} (a fresh initial delta URL) or from scratch.
 */
export class SyncStateLostError extends SkipError {
  readonly location: string | undefined;
  constructor(message: string, location: string | undefined) {
    super(message);
    this.location = location;
  }
}

/** A retryable failure that kept failing for the whole retry budget: recorded like a skip. */
export class RetriesExhaustedError extends SkipError {
  readonly attempts: number;
  readonly elapsedMs: number;
  constructor(message: string, options: { cause?: unknown; attempts: number; elapsedMs: number }) {
    super(message, { cause: options.cause });
    this.attempts = options.attempts;
    this.elapsedMs = options.elapsedMs;
  }

  /** The give-up error for `last`, the final failure of `what`. */
  static after(last: unknown, attempts: number, elapsedMs: number, what?: string): RetriesExhaustedError {
    const message = last instanceof Error ? last.message : String(last);
    const seconds = (elapsedMs / 1000).toFixed(1);
    return new RetriesExhaustedError(
      `${what ? `${what}: ` : ""}${message} (gave up after ${attempts} attempts in ${seconds} s, the retry budget)`,
      { cause: last, attempts, elapsedMs },
    );
  }
}

/** The work was handed to a newer invocation; this one must stop without writing. */
export class SupersededError extends MailstreamError {
  readonly kind = "superseded" as const;
}

/** Nothing sensible can continue (bad configuration, refused credentials, broken invariant). */
export class FatalError extends MailstreamError {
  readonly kind = "fatal" as const;
}

/** A configuration value is missing or invalid. Always names the field, the value and the expectation. */
export class ConfigError extends FatalError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`configuration ${field}: ${message}`);
    this.field = field;
  }
}

export function isMailstreamError(e: unknown): e is MailstreamError {
  return e instanceof MailstreamError;
}

/**
 * What a task boundary (the stream runner, the coordinator, the queue adapter) does with an
 * error that reached it, its in-place retries behind it:
 * - `redeliver`: end the task with the error so that the queue delivers it again;
 * - `record`: record it against the message, folder, mailbox or unit it hit, and go on;
 * - `drop`: stop at once and let the task go (superseded);
 * - `stop`: stop with the error's one line (fatal).
 */
export type ErrorRule = "redeliver" | "record" | "drop" | "stop";

export function ruleFor(error: unknown): ErrorRule {
  if (error instanceof MailstreamError) {
    switch (error.kind) {
      case "retryable":
        return "redeliver";
      case "skip":
        return "record";
      case "superseded":
        return "drop";
      case "fatal":
        return "stop";
    }
  }
  return isTransientFailure(error) ? "redeliver" : "record";
}

/** Connection failures that say nothing about the request itself. */
const TRANSIENT_SYSTEM_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * A failure of a library below mailstream that another try may cure: an AWS SDK v3 error marked
 * retryable, throttled or a server fault (after the SDK's own attempts), or a dropped connection.
 * Told by the fields those libraries document (`$retryable`, `$fault`, `$metadata`, `code`).
 */
export function isTransientFailure(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as {
    $retryable?: unknown;
    $fault?: unknown;
    $metadata?: { httpStatusCode?: number };
    code?: unknown;
    cause?: unknown;
  };
  if (e.$retryable) return true;
  if (e.$fault === "server") return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  if (typeof e.code === "string" && TRANSIENT_SYSTEM_CODES.has(e.code)) return true;
  return e.cause !== undefined && e.cause !== error && isTransientFailure(e.cause);
}
