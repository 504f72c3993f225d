/**
 * What an unsuccessful Graph answer means for the request that got it: another attempt (a
 * throttled, unavailable or refused-token answer, or a dropped connection), or a final
 * mailstream error (mapped from status and Graph code, lib/graph/errors.ts).
 */

import {
  errorCodeOf,
  errorDetailOf,
  GraphRetryableError,
  isRetryableStatus,
  mapGraphError,
} from "./errors.js";
import type { HttpAnswer } from "./https-transport.js";
import type { MailboxTraffic } from "./mailbox-traffic.js";
import type { RequestTally } from "./request-context.js";
import { readJsonBody } from "./response-body.js";
import { parseRetryAfter } from "./retry-after.js";

/** A failed attempt that another attempt may cure; says how to wait for it. */
export class AttemptFailure extends GraphRetryableError {
  /** Retry at once (a refreshed token), no backoff. */
  immediate = false;
  /** The service said it did not process the request (429, 503, 401): safe to send again. */
  notProcessed = false;

  /** The same failure as a plain GraphRetryableError, for callers (the marker stays inside). */
  toPublic(suffix = ""): GraphRetryableError {
    return new GraphRetryableError(`${this.message}${suffix}`, {
      status: this.status,
      code: this.code,
      retryAfterMs: this.retryAfterMs,
      cause: this.cause,
    });
  }
}

export function connectionFailure(what: string, cause: unknown): AttemptFailure {
  return new AttemptFailure(`expected an answer to ${what}, found the connection failed`, { cause });
}

export interface FailureContext {
  method: string;
  /** Request path (no host, no query). */
  path: string;
  mailboxId: string | undefined;
  traffic: MailboxTraffic;
  /** Added to a `Retry-After` the mailbox's gate holds back, ms. */
  marginMs: number;
  /** Longest `Retry-After` an attempt may wait in place, ms; a longer one ends the request. */
  maxRetryAfterMs: number;
  /** The tally of the work that sent the request (a 429 is added to it), if any. */
  tally?: RequestTally | undefined;
  /** Drops the cached token, once per request: true when it did (the attempt is then repeated). */
  refreshToken(): boolean;
}

/**
 * The error an unsuccessful answer ends its attempt with: an {@link AttemptFailure} when another
 * attempt is worth it, else the final error. A `Retry-After` closes the mailbox's gate at once,
 * so that no request to the mailbox (queued ones included) leaves before it has passed.
 */
export async function failureOf(response: HttpAnswer, c: FailureContext): Promise<Error> {
  const status = response.status;
  // The gate closes on the headers, before the body is read: reading it takes turns of the
  // event loop, in which another request to the mailbox could pass the gate.
  const retryAfterMs = isRetryableStatus(status)
    ? parseRetryAfter(response.headers.get("retry-after"))
    : undefined;
  if (retryAfterMs !== undefined && c.mailboxId) c.traffic.holdBack(c.mailboxId, retryAfterMs + c.marginMs);
  if (c.mailboxId && status === 429) c.traffic.throttled(c.mailboxId);
  const body = await readJsonBody(response, `${c.method} ${c.path}`);
  const code = errorCodeOf(body);
  const counters = c.mailboxId ? c.traffic.counters(c.mailboxId) : undefined;
  if (counters && status === 429) {
    counters.throttled++;
    if (c.tally) c.tally.throttled++;
  }
  if (counters && status >= 500) counters.serverErrors++;
  const answered = `${c.method} ${c.path} answered ${status} ${code ?? "(no code)"}`;

  if (isRetryableStatus(status)) {
    if (retryAfterMs !== undefined && retryAfterMs > c.maxRetryAfterMs) {
      // Too long to wait inside one request: hand the wait to the caller (its task ends and
      // comes back after it); the mailbox's gate stays closed meanwhile.
      return new GraphRetryableError(
        `expected a success; ${answered}; Retry-After ${retryAfterMs} ms is beyond ${c.maxRetryAfterMs} ms`,
        { status, code, retryAfterMs },
      );
    }
    const failure = new AttemptFailure(`expected a success; ${answered}`, { status, code, retryAfterMs });
    failure.notProcessed = status === 429 || status === 503;
    return failure;
  }
  if (status === 401 && code === "InvalidAuthenticationToken" && c.refreshToken()) {
    const failure = new AttemptFailure(`expected a valid token; ${answered}`, { status, code });
    failure.immediate = true;
    failure.notProcessed = true;
    return failure;
  }
  return mapGraphError(
    { method: c.method, path: c.path, status, code, detail: errorDetailOf(body) },
    response.headers.get("location") ?? undefined,
  );
}
