/**
 * mailstream's request policy: the last middleware of the Graph client's chain, which sends
 * every request itself (with node:https, https-transport.ts, not the client's `fetch`).
 *
 * It replaces the client's default RetryHandler (and HTTPMessageHandler) because that handler
 * knows nothing about mailboxes: it retries one request in isolation (3 times, 3 s base), so
 * while one request sleeps through a `Retry-After` the other requests to the same mailbox keep
 * going out early, which Outlook answers with more 429s and counts against the app. Here a
 * `Retry-After` closes the gate of the whole mailbox, the mailbox's concurrency is capped
 * across the process, a 401 gets one fresh token, dropped connections are retried, and Graph's
 * error answers become mailstream's error classes. Failed attempts are retried with lib/retry.ts
 * for up to the retry budget (time, not attempts) and never past the invocation's deadline.
 */
import type { Context, Middleware, MiddlewareOptions } from "@microsoft/microsoft-graph-client";
import { RetriesExhaustedError } from "../errors.js";
import { type RetryBudget, type RetryDeadline, retry, validateRetryBudget } from "../retry.js";
import type { TokenProvider } from "./auth.js";
import {
  type HttpAnswer,
  type HttpSend,
  type HttpsTransportOptions,
  headerRecord,
  httpsTransport,
} from "./https-transport.js";
import type { MailboxTraffic } from "./mailbox-traffic.js";
import type { RequestContext } from "./request-context.js";
import { AttemptFailure, connectionFailure, failureOf } from "./request-failure.js";
import { readBody, readResponse, releasingBody } from "./response-body.js";

/** Per-request settings and result channel, passed with `GraphRequest.middlewareOptions`. */
export class MailboxRequestOption implements MiddlewareOptions {
  /**
   * The mailstream error the request ended with. The Graph client wraps anything a middleware
   * throws into a GraphError (losing its class), so callers read the original from here.
   */
  error: unknown;
  constructor(
    readonly settings: {
      /** Mailbox the request counts against. Default: parsed from `/users/{id}/…`. */
      mailboxId?: string;
      /** Slots the request holds (a `$batch` holds up to the mailbox's concurrency). Default 1. */
      weight?: number;
      /** Requests this counts as in the mailbox's counters (inner requests of a batch). Default 1. */
      requestCount?: number;
      /** Keep the slots until the response body has been read to its end (streamed MIME). */
      holdSlotsUntilBodyEnds?: boolean;
      /**
       * Whether sending the request twice is harmless. Default: true except for POST. A
       * non-idempotent request is retried only after answers that say it was not processed
       * (429, 503, 401), never after a dropped connection or a 500/502/504.
       */
      idempotent?: boolean;
      /** The work the request is sent for: its tally and its deadline. Default none. */
      context?: RequestContext;
    } = {},
  ) {}
}

/**
 * `budgetMs`, `backoffBaseMs`, `backoffCapMs` (lib/retry.ts): a request is retried for up to
 * `budgetMs` (default 5 minutes) from its first attempt, backing off with full jitter when the
 * service gives no `Retry-After`; then it ends with a RetriesExhaustedError.
 */
export interface RequestPolicyOptions extends RetryBudget {
  traffic: MailboxTraffic;
  tokens: TokenProvider;
  /** Added to every `Retry-After` against clock rounding, ms. Bounds ≥ 0. Default 20. */
  retryAfterMarginMs?: number;
  /**
   * Longest wait in place, ms: for a `Retry-After`, or for the mailbox's gate or request budget
   * before sending. A longer one (a spent 10-minute budget) ends the request with a
   * RetryableError carrying `retryAfterMs`, so that the caller can checkpoint; the mailbox's
   * gate stays closed either way. Bounds ≥ 0. Default 120 000.
   */
  maxRetryAfterMs?: number;
  /**
   * A streamed body that the consumer has not read for this long is cancelled and its slots
   * released (an abandoned stream must not hold the mailbox forever), ms. Bounds ≥ 1. Default 120 000.
   */
  streamIdleTimeoutMs?: number;
  /**
   * `fetch` to send with, for tests. Default: node:https over a keep-alive agent
   * (https-transport.ts; the global `fetch` cost 3× its CPU per request).
   */
  fetch?: typeof fetch;
  /** The default transport's settings (agent, idle timeout, redirects); ignored with `fetch`. */
  transport?: HttpsTransportOptions;
  /** Random source for jitter, for tests. Default `Math.random`. */
  random?: () => number;
}

const IMMUTABLE_ID = 'IdType="ImmutableId"';

/**
 * A request's `Prefer` with `IdType="ImmutableId"` (every request asks for immutable ids), its
 * own preferences kept; one that names an `IdType` itself is left as it is.
 */
export function preferWithImmutableId(prefer: string | undefined): string {
  if (prefer && /IdType\s*=/i.test(prefer)) return prefer;
  return prefer ? `${IMMUTABLE_ID}, ${prefer}` : IMMUTABLE_ID;
}

/** The mailbox a Graph URL addresses: the `{id}` of `/users/{id}/…`, lower-cased. */
export function mailboxOfUrl(url: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    pathname = url.split("?")[0] ?? url;
  }
  const match = /\/users\/([^/]+)\/./i.exec(pathname);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]).toLowerCase();
  } catch {
    return match[1].toLowerCase();
  }
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.split("?")[0] ?? url;
  }
}

/** Resolves after the I/O callbacks of this turn of the event loop (and their promise callbacks) have run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isAbort(error: unknown): boolean {
  return (error as Error)?.name === "AbortError" || (error as Error)?.name === "TimeoutError";
}

export class MailboxRequestPolicy implements Middleware {
  private readonly traffic: MailboxTraffic;
  private readonly tokens: TokenProvider;
  /** How long a failing request is retried (`graph.retry`, validated). */
  readonly budget: Required<RetryBudget>;
  private readonly marginMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly idleMs: number;
  private readonly sendHttp: HttpSend;
  private readonly random: () => number;

  constructor(options: RequestPolicyOptions) {
    this.traffic = options.traffic;
    this.tokens = options.tokens;
    this.budget = validateRetryBudget(options, "graph.retry");
    this.marginMs = Math.max(0, options.retryAfterMarginMs ?? 20);
    this.maxRetryAfterMs = Math.max(0, options.maxRetryAfterMs ?? 120_000);
    this.idleMs = Math.max(1, options.streamIdleTimeoutMs ?? 120_000);
    const injected = options.fetch;
    this.sendHttp = injected ? (url, init) => injected(url, init) : httpsTransport(options.transport);
    this.random = options.random ?? Math.random;
  }

  /** Longest wait in place now: the configured one, cut to the work's deadline (if any). */
  maxWaitMs(deadline?: RetryDeadline): number {
    return deadline === undefined
      ? this.maxRetryAfterMs
      : Math.max(0, Math.min(this.maxRetryAfterMs, deadline() - Date.now()));
  }

  /** Terminal middleware: nothing runs after it. */
  setNext(_next: Middleware): void {}

  async execute(context: Context): Promise<void> {
    const option = context.middlewareControl?.getMiddlewareOptions(MailboxRequestOption) as
      | MailboxRequestOption
      | undefined;
    try {
      context.response = await this.send(context, option?.settings ?? {});
    } catch (error) {
      if (option) option.error = error;
      throw error;
    }
  }

  private async send(context: Context, settings: MailboxRequestOption["settings"]): Promise<Response> {
    const url = typeof context.request === "string" ? context.request : context.request.url;
    const init = (context.options ?? {}) as RequestInit;
    const method = (init.method ?? "GET").toUpperCase();
    const mailboxId = settings.mailboxId?.toLowerCase() ?? mailboxOfUrl(url);
    // Looked up at each use, not held: a mailbox idle for a whole budget window is forgotten
    // (mailbox-traffic.ts), and a counters object held across a backoff could be a forgotten one.
    const counters = () => (mailboxId ? this.traffic.counters(mailboxId) : undefined);
    const baseHeaders = headerRecord(init.headers);
    // The AuthenticationHandler only adds the header for Graph hosts; keep that decision.
    const authorized = baseHeaders.authorization !== undefined;
    baseHeaders.prefer = preferWithImmutableId(baseHeaders.prefer);
    let tokenRefreshed = false;
    const idempotent = settings.idempotent ?? method !== "POST";
    const tally = settings.context?.tally;
    const deadline = settings.context?.deadline;

    // Named only when something fails (parsing the URL for every request cost ~1 % of a backup's busy time).
    let named: string | undefined;
    const what = () => {
      named ??= `${method} ${pathOf(url)}`;
      return named;
    };

    const attempt = async (attemptNumber: number): Promise<Response> => {
      const release = mailboxId
        ? await this.traffic.acquire(mailboxId, settings.weight ?? 1, this.maxWaitMs(deadline))
        : () => {};
      let keepSlots = false;
      try {
        const headers = { ...baseHeaders };
        // Asked on every attempt: a token may expire while a request waits at the gate.
        if (authorized) headers.authorization = `Bearer ${await this.tokens.getToken()}`;
        // Getting the token yields; a Retry-After may have arrived meanwhile: look at the gate
        // again right before sending, so no request leaves after the client knew to wait. First
        // let the answers read in this turn of the event loop be acted on (a 429 on another
        // connection, a `$batch`'s inner 429s, whose caller reads them once the client hands the
        // answer on): they close the gate in their own callbacks, which run before the next turn.
        if (mailboxId) {
          await nextTurn();
          await this.traffic.passGate(mailboxId, settings.requestCount ?? 1, this.maxWaitMs(deadline));
        }
        const sent = counters();
        if (sent) {
          sent.requests += settings.requestCount ?? 1;
          if (tally) tally.requests += settings.requestCount ?? 1;
          if (attemptNumber > 1) sent.retries++;
        }
        let response: HttpAnswer;
        try {
          response = await this.sendHttp(url, { ...init, headers });
        } catch (error) {
          if (isAbort(error)) throw error;
          throw connectionFailure(what(), error);
        }
        if (response.ok) {
          if (mailboxId) this.traffic.succeeded(mailboxId);
          if (settings.holdSlotsUntilBodyEnds && response.body) {
            keepSlots = true;
            return new Response(releasingBody(response.body, release, this.idleMs), {
              status: response.status,
              statusText: response.statusText,
              headers: response.headers,
            });
          }
          // Read small bodies here, inside the slot, so a connection dropped mid-body is retried.
          let body: Uint8Array;
          try {
            body = await readBody(response, what);
          } catch (error) {
            throw connectionFailure(what(), error);
          }
          return readResponse(response.status === 204 ? null : body, {
            status: response.status,
            statusText: response.statusText,
            headers: response.headers,
          });
        }
        throw await failureOf(response, {
          method,
          path: pathOf(url),
          mailboxId,
          traffic: this.traffic,
          marginMs: this.marginMs,
          maxRetryAfterMs: this.maxRetryAfterMs,
          tally,
          refreshToken: () => {
            if (tokenRefreshed) return false;
            tokenRefreshed = true;
            this.tokens.invalidate();
            return true;
          },
        });
      } finally {
        if (!keepSlots) release();
      }
    };

    try {
      return await retry(attempt, {
        ...this.budget,
        ...(deadline ? { deadline } : {}),
        random: this.random,
        decide: (error) => {
          if (!(error instanceof AttemptFailure) || !(idempotent || error.notProcessed))
            return { retry: false };
          if (error.immediate) return { retry: true, delay: "now" };
          // The mailbox's gate holds every request back for the Retry-After (plus the margin);
          // waiting it here as well keeps it inside the budget and the deadline.
          if (error.retryAfterMs !== undefined) {
            return { retry: true, delay: { waitMs: error.retryAfterMs + this.marginMs } };
          }
          return { retry: true, delay: "backoff" };
        },
        onRetry: ({ delayMs }) => {
          const waited = counters();
          if (waited) waited.waitedMs += delayMs;
        },
        exhausted: (last, attempts, elapsedMs) =>
          RetriesExhaustedError.after(
            last instanceof AttemptFailure ? last.toPublic() : last,
            attempts,
            elapsedMs,
          ),
      });
    } catch (error) {
      // A failure not retried (a POST after a dropped connection) or cut by the deadline.
      if (error instanceof AttemptFailure) throw error.toPublic();
      throw error;
    }
  }
}
