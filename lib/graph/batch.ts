/**
 * Many small GETs of one mailbox in `POST /$batch` requests (at most 20 each).
 *
 * A batch's 200 says nothing about its parts: each inner answer has its own status, and an
 * inner 429 carries its own `Retry-After`. Those are sent again in a later batch once the
 * mailbox's gate opens; the client's RetryHandler would never see them.
 */
import { type MailstreamError, RetriesExhaustedError, RetryableError } from "../errors.js";
import { type RetryBudget, retry } from "../retry.js";
import type { GraphGateway } from "./client.js";
import {
  errorCodeOf,
  errorDetailOf,
  GraphRetryableError,
  isRetryableStatus,
  mapGraphError,
} from "./errors.js";
import { parseRetryAfter } from "./retry-after.js";

/** Graph accepts at most this many requests in one batch. */
export const MAX_BATCH_REQUESTS = 20;
/** Outlook runs this many inner requests of a batch at a time: a batch holds as many slots. */
const INNER_CONCURRENCY = 4;

export interface BatchAnswer<T = unknown> {
  /** The url as given. */
  url: string;
  status: number;
  /** JSON body, or a base64 string for non-JSON content. */
  body?: T;
  /** Set when the inner request failed for good (mapped from status and Graph code). */
  error?: MailstreamError;
}

/**
 * Inner requests that are throttled or unavailable are sent again in later batches for up to
 * `budgetMs` (lib/retry.ts; default 5 minutes), after their `Retry-After` or a backoff.
 */
export interface BatchGetOptions extends RetryBudget {
  /** Added to an inner `Retry-After` against clock rounding, ms. Bounds ≥ 0. Default 20. */
  retryAfterMarginMs?: number;
}

/** A round that left inner requests to send again (the longest `Retry-After` among them, if any). */
class RoundIncomplete extends RetryableError {}

interface InnerAnswer {
  id: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

function relativeUrl(gateway: GraphGateway, url: string): string {
  if (url.startsWith(gateway.baseUrl)) return url.slice(gateway.baseUrl.length) || "/";
  return url.startsWith("/") ? url : `/${url}`;
}

function header(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/**
 * GETs `urls` (relative to the base URL, or absolute under it) of one mailbox; answers come back
 * in the order of `urls`. Inner failures are returned, not thrown; a batch request that fails
 * as a whole throws.
 */
export async function batchGet<T = unknown>(
  gateway: GraphGateway,
  userId: string,
  urls: string[],
  options: BatchGetOptions = {},
): Promise<Array<BatchAnswer<T>>> {
  const marginMs = Math.max(0, options.retryAfterMarginMs ?? 20);
  const answers: Array<BatchAnswer<T> | undefined> = new Array(urls.length);
  const chunks: number[][] = [];
  for (let i = 0; i < urls.length; i += MAX_BATCH_REQUESTS) {
    chunks.push(urls.slice(i, i + MAX_BATCH_REQUESTS).map((_, j) => i + j));
  }
  // Looked up at each use (a mailbox idle for a whole budget window is forgotten meanwhile).
  const counters = () => gateway.traffic.counters(userId);

  /** Sends one batch of `pending`; returns the indexes to send again and the longest wait asked. */
  const round = async (
    pending: number[],
    lastFailure: Map<number, { status: number; error: GraphRetryableError }>,
  ): Promise<{ again: number[]; longestWaitMs: number | undefined }> => {
    const requests = pending.map((index) => ({
      id: String(index),
      method: "GET",
      url: relativeUrl(gateway, urls[index] as string),
      headers: { Prefer: 'IdType="ImmutableId"' },
    }));
    const result = await gateway.post<{ responses?: InnerAnswer[] }>(
      "/$batch",
      { requests },
      {
        mailboxId: userId,
        weight: Math.min(INNER_CONCURRENCY, pending.length),
        requestCount: pending.length,
        idempotent: true,
      },
    );
    const again: number[] = [];
    let longestWaitMs: number | undefined;
    for (const inner of result.responses ?? []) {
      const index = Number(inner.id);
      const url = urls[index];
      if (url === undefined || !pending.includes(index)) continue;
      if (inner.status >= 200 && inner.status < 300) {
        answers[index] = { url, status: inner.status, body: inner.body as T };
        continue;
      }
      const code = errorCodeOf(inner.body);
      const path = relativeUrl(gateway, url).split("?")[0] ?? url;
      if (inner.status === 429) counters().throttled++;
      if (inner.status >= 500) counters().serverErrors++;
      if (isRetryableStatus(inner.status)) {
        const waitMs = parseRetryAfter(header(inner.headers, "retry-after"));
        if (waitMs !== undefined) {
          gateway.traffic.holdBack(userId, waitMs + marginMs);
          longestWaitMs = Math.max(longestWaitMs ?? 0, waitMs);
        }
        lastFailure.set(index, {
          status: inner.status,
          error: new GraphRetryableError(
            `expected a success; batched GET ${path} answered ${inner.status} ${code ?? "(no code)"}`,
            { status: inner.status, code, ...(waitMs !== undefined ? { retryAfterMs: waitMs } : {}) },
          ),
        });
        again.push(index);
        continue;
      }
      // Like a single request's error, it quotes the answer's message (e.g. which property is wrong).
      const error = mapGraphError(
        { method: "GET", path, status: inner.status, code, detail: errorDetailOf(inner.body) },
        header(inner.headers, "location"),
      );
      answers[index] = { url, status: inner.status, body: inner.body as T, error };
    }
    // A request the batch did not answer is sent again as well.
    for (const index of pending)
      if (answers[index] === undefined && !again.includes(index)) again.push(index);
    return { again, longestWaitMs };
  };

  await Promise.all(
    chunks.map(async (chunk) => {
      let pending = chunk;
      const lastFailure = new Map<number, { status: number; error: GraphRetryableError }>();
      try {
        await retry(
          async () => {
            const { again, longestWaitMs } = await round(pending, lastFailure);
            pending = again;
            if (pending.length > 0) {
              throw new RoundIncomplete(`${pending.length} batched requests to send again`, {
                ...(longestWaitMs !== undefined ? { retryAfterMs: longestWaitMs } : {}),
              });
            }
          },
          {
            ...options,
            what: `batched GET of ${pending.length} requests to mailbox ${userId}`,
            decide: (error) => {
              if (!(error instanceof RoundIncomplete)) return { retry: false };
              // With a Retry-After the mailbox's gate holds the next batch back too.
              return error.retryAfterMs !== undefined
                ? { retry: true, delay: { waitMs: error.retryAfterMs + marginMs } }
                : { retry: true, delay: "backoff" };
            },
            onRetry: ({ delayMs }) => {
              const c = counters();
              c.retries += pending.length;
              c.waitedMs += delayMs;
            },
          },
        );
      } catch (error) {
        if (!(error instanceof RoundIncomplete) && !(error instanceof RetriesExhaustedError)) throw error;
        // Out of budget (or of the invocation's time): the inner requests still failing get
        // their own error, as a whole-batch failure would give them.
        for (const index of pending) {
          const url = urls[index] as string;
          const last = lastFailure.get(index);
          const failure =
            last?.error ?? new GraphRetryableError(`expected an answer to batched GET ${url}, found none`);
          answers[index] ??= {
            url,
            status: last?.status ?? 0,
            error:
              error instanceof RetriesExhaustedError
                ? RetriesExhaustedError.after(failure, error.attempts, error.elapsedMs)
                : failure,
          };
        }
      }
    }),
  );
  return answers as Array<BatchAnswer<T>>;
}
