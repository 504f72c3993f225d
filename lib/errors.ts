/**
 * Errors are grouped by what the caller should do with them, not by where they came from:
 *
 * - {@link RetryableError}: try again later (throttling, 5xx, dropped connections).
 * - {@link SkipError}: record the item/folder/mailbox in the job report and go on.
 * - {@link FatalError}: stop the unit (or the program, for configuration) visibly.
 *
 * Every error has a stable `name` so that reports and logs can group them, and a message that
 * says what was expected and what was found.
 */
export abstract class MailstreamError extends Error {
  abstract readonly kind: "retryable" | "skip" | "fatal";
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

/** Nothing sensible can continue (bad configuration, broken invariant). */
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
