/**
 * mailstream's request policy: the last middleware of the Graph client's chain, which sends
 * every request itself.
 *
 * It replaces the client's default RetryHandler (and HTTPMessageHandler) because that handler
 * knows nothing about mailboxes: it retries one request in isolation (3 times, 3 s base), so
 * while one request sleeps through a `Retry-After` the other requests to the same mailbox keep
 * going out early, which Outlook answers with more 429s and counts against the app. Here a
 * `Retry-After` closes the gate of the whole mailbox, the mailbox's concurrency is capped
 * across the process, a 401 gets one fresh token, dropped connections are retried, and Graph's
 * error answers become mailstream's error classes.
 */
import type { Context, Middleware, MiddlewareOptions } from "@microsoft/microsoft-graph-client";
import pRetry, { AbortError } from "p-retry";
import type { MailstreamError } from "../errors.js";
import type { TokenProvider } from "./auth.js";
import { errorCodeOf, GraphRetryableError, isRetryableStatus, mapGraphError } from "./errors.js";
import type { MailboxTraffic } from "./mailbox-traffic.js";
import { fullJitterDelay, parseRetryAfter } from "./retry-after.js";

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
    } = {},
  ) {}
}

export interface RequestPolicyOptions {
  traffic: MailboxTraffic;
  tokens: TokenProvider;
  /** Attempts per request, first included. Bounds 1–20. Default 6. */
  maxAttempts?: number;
  /** Base of the exponential backoff when the service gives no `Retry-After`, ms. Bounds ≥ 1. Default 500. */
  backoffBaseMs?: number;
  /** Upper bound of one backoff, ms. Bounds ≥ backoffBaseMs. Default 30 000. */
  backoffCapMs?: number;
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
  /** `fetch` to send with. Default the global `fetch` (the one the Graph client uses). */
  fetch?: typeof fetch;
  /** Random source for jitter, for tests. Default `Math.random`. */
  random?: () => number;
}

const IMMUTABLE_ID = 'IdType="ImmutableId"';

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

function isAbort(error: unknown): boolean {
  return (error as Error)?.name === "AbortError" || (error as Error)?.name === "TimeoutError";
}

/** Marks an attempt's failure so that the retry loop knows how to wait. */
class AttemptFailure extends GraphRetryableError {
  /** Retry at once (a refreshed token), no backoff. */
  immediate = false;
  /** The service said it did not process the request (429, 503, 401): safe to send again. */
  notProcessed = false;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wraps a response body so that `release` runs exactly once when the body ends, fails, is
 * cancelled, or lies unread for `idleMs`.
 */
function releasingBody(
  body: ReadableStream<Uint8Array>,
  release: () => void,
  idleMs: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    release();
  };
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  const armIdle = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      controllerRef?.error(
        new GraphRetryableError(`expected the stream to be read, found it idle for ${idleMs} ms`),
      );
      reader.cancel().catch(() => {});
      finish();
    }, idleMs);
    timer.unref();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      armIdle();
    },
    async pull(controller) {
      if (finished) return;
      try {
        const { done, value } = await reader.read();
        if (finished) return;
        if (done) {
          controller.close();
          finish();
          return;
        }
        controller.enqueue(value);
        armIdle();
      } catch (error) {
        if (finished) return;
        controller.error(
          new GraphRetryableError("expected the rest of the response body, found the connection broken", {
            cause: error,
          }),
        );
        finish();
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason).catch(() => {});
    },
  });
}

export class MailboxRequestPolicy implements Middleware {
  private readonly traffic: MailboxTraffic;
  private readonly tokens: TokenProvider;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly marginMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly idleMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly random: () => number;

  constructor(options: RequestPolicyOptions) {
    this.traffic = options.traffic;
    this.tokens = options.tokens;
    this.maxAttempts = Math.min(20, Math.max(1, Math.floor(options.maxAttempts ?? 6)));
    this.backoffBaseMs = Math.max(1, options.backoffBaseMs ?? 500);
    this.backoffCapMs = Math.max(this.backoffBaseMs, options.backoffCapMs ?? 30_000);
    this.marginMs = Math.max(0, options.retryAfterMarginMs ?? 20);
    this.maxRetryAfterMs = Math.max(0, options.maxRetryAfterMs ?? 120_000);
    this.idleMs = Math.max(1, options.streamIdleTimeoutMs ?? 120_000);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.random = options.random ?? Math.random;
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
    const counters = mailboxId ? this.traffic.counters(mailboxId) : undefined;
    const baseHeaders = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
    // The AuthenticationHandler only adds the header for Graph hosts; keep that decision.
    const authorized = baseHeaders.has("Authorization");
    const prefer = baseHeaders.get("Prefer");
    if (!prefer || !/IdType\s*=/i.test(prefer)) {
      baseHeaders.set("Prefer", prefer ? `${IMMUTABLE_ID}, ${prefer}` : IMMUTABLE_ID);
    }
    let tokenRefreshed = false;
    const idempotent = settings.idempotent ?? method !== "POST";

    const attempt = async (attemptNumber: number): Promise<Response> => {
      const release = mailboxId
        ? await this.traffic.acquire(mailboxId, settings.weight ?? 1, this.maxRetryAfterMs)
        : () => {};
      let keepSlots = false;
      try {
        const headers = new Headers(baseHeaders);
        // Asked on every attempt: a token may expire while a request waits at the gate.
        if (authorized) headers.set("Authorization", `Bearer ${await this.tokens.getToken()}`);
        // Getting the token yields; a Retry-After may have arrived meanwhile: look at the gate
        // again right before sending, so no request leaves after the client knew to wait.
        if (mailboxId)
          await this.traffic.passGate(mailboxId, settings.requestCount ?? 1, this.maxRetryAfterMs);
        if (counters) {
          counters.requests += settings.requestCount ?? 1;
          if (attemptNumber > 1) counters.retries++;
        }
        let response: Response;
        try {
          response = await this.fetchImpl(url, { ...init, headers });
        } catch (error) {
          if (isAbort(error)) throw new AbortError(error as Error);
          throw new AttemptFailure(
            `expected an answer to ${method} ${pathOf(url)}, found the connection failed`,
            {
              cause: error,
            },
          );
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
          let body: ArrayBuffer;
          try {
            body = await response.arrayBuffer();
          } catch (error) {
            throw new AttemptFailure(
              `expected the body of ${method} ${pathOf(url)}, found the connection broken`,
              {
                cause: error,
              },
            );
          }
          return new Response(response.status === 204 ? null : body, {
            status: response.status,
            statusText: response.statusText,
            headers: response.headers,
          });
        }
        throw await this.failure(response, method, url, mailboxId, () => {
          if (tokenRefreshed) return false;
          tokenRefreshed = true;
          this.tokens.invalidate();
          return true;
        });
      } finally {
        if (!keepSlots) release();
      }
    };

    try {
      return await pRetry(attempt, {
        retries: this.maxAttempts - 1,
        // Delays are ours (gate or full jitter, in onFailedAttempt); p-retry only counts attempts.
        minTimeout: 0,
        maxTimeout: 0,
        randomize: false,
        shouldRetry: ({ error }) => error instanceof AttemptFailure && (idempotent || error.notProcessed),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft === 0 || !(error instanceof AttemptFailure) || error.immediate) return;
          // With a Retry-After the mailbox gate already holds the next attempt back.
          if (error.retryAfterMs !== undefined) return;
          const delay = fullJitterDelay(attemptNumber, this.backoffBaseMs, this.backoffCapMs, this.random);
          if (counters) counters.waitedMs += delay;
          await sleep(delay);
        },
      });
    } catch (error) {
      if (error instanceof AttemptFailure) {
        throw new GraphRetryableError(`${error.message} (gave up; at most ${this.maxAttempts} attempts)`, {
          status: error.status,
          code: error.code,
          retryAfterMs: error.retryAfterMs,
          cause: error.cause,
        });
      }
      throw error;
    }
  }

  /** The error an unsuccessful answer ends its attempt with. */
  private async failure(
    response: Response,
    method: string,
    url: string,
    mailboxId: string | undefined,
    refreshToken: () => boolean,
  ): Promise<Error> {
    const status = response.status;
    let body: unknown;
    try {
      const text = await response.text();
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const code = errorCodeOf(body);
    const path = pathOf(url);
    const counters = mailboxId ? this.traffic.counters(mailboxId) : undefined;
    if (counters && status === 429) counters.throttled++;
    if (mailboxId && status === 429) this.traffic.throttled(mailboxId);
    if (counters && status >= 500) counters.serverErrors++;

    if (isRetryableStatus(status)) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      const failure = new AttemptFailure(
        `expected a success; ${method} ${path} answered ${status} ${code ?? "(no code)"}`,
        {
          status,
          code,
          retryAfterMs,
        },
      );
      failure.notProcessed = status === 429 || status === 503;
      if (retryAfterMs !== undefined && mailboxId)
        this.traffic.holdBack(mailboxId, retryAfterMs + this.marginMs);
      if (retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs) {
        // Too long to wait inside one request: hand the wait to the caller.
        return new AbortError(
          new GraphRetryableError(
            `${failure.message}; Retry-After ${retryAfterMs} ms is beyond ${this.maxRetryAfterMs} ms`,
            {
              status,
              code,
              retryAfterMs,
            },
          ),
        );
      }
      if (retryAfterMs !== undefined && !mailboxId) {
        // No mailbox gate to hold the retry back: wait here.
        await sleep(retryAfterMs + this.marginMs);
      }
      return failure;
    }
    if (status === 401 && code === "InvalidAuthenticationToken" && refreshToken()) {
      const failure = new AttemptFailure(`expected a valid token; ${method} ${path} answered 401 ${code}`, {
        status,
        code,
      });
      failure.immediate = true;
      failure.notProcessed = true;
      return failure;
    }
    const mapped: MailstreamError = mapGraphError(
      { method, path, status, code },
      response.headers.get("location") ?? undefined,
    );
    return new AbortError(mapped);
  }
}
