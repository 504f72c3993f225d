/**
 * Many small GETs of one mailbox in `POST /$batch` requests (at most 20 each).
 *
 * A batch's 200 says nothing about its parts: each inner answer has its own status, and an
 * inner 429 carries its own `Retry-After`. Those are sent again in a later batch once the
 * mailbox's gate opens; the client's RetryHandler would never see them.
 */
import type { MailstreamError } from "../errors.js";
import type { GraphGateway } from "./client.js";
import { errorCodeOf, GraphRetryableError, isRetryableStatus, mapGraphError } from "./errors.js";
import { fullJitterDelay, parseRetryAfter } from "./retry-after.js";

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

export interface BatchGetOptions {
  /** Rounds per inner request (first included) while it is throttled or unavailable. Bounds 1–20. Default 6. */
  maxRounds?: number;
  /** Backoff base when an inner failure has no `Retry-After`, ms. Bounds ≥ 1. Default 500. */
  backoffBaseMs?: number;
  /** Added to an inner `Retry-After` against clock rounding, ms. Bounds ≥ 0. Default 20. */
  retryAfterMarginMs?: number;
}

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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
  const maxRounds = Math.min(20, Math.max(1, Math.floor(options.maxRounds ?? 6)));
  const backoffBaseMs = Math.max(1, options.backoffBaseMs ?? 500);
  const marginMs = Math.max(0, options.retryAfterMarginMs ?? 20);
  const answers: Array<BatchAnswer<T> | undefined> = new Array(urls.length);
  const chunks: number[][] = [];
  for (let i = 0; i < urls.length; i += MAX_BATCH_REQUESTS) {
    chunks.push(urls.slice(i, i + MAX_BATCH_REQUESTS).map((_, j) => i + j));
  }
  const counters = gateway.traffic.counters(userId);

  await Promise.all(
    chunks.map(async (chunk) => {
      let pending = chunk;
      for (let round = 1; pending.length > 0; round++) {
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
          if (inner.status === 429) counters.throttled++;
          if (inner.status >= 500) counters.serverErrors++;
          if (isRetryableStatus(inner.status) && round < maxRounds) {
            const waitMs = parseRetryAfter(header(inner.headers, "retry-after"));
            if (waitMs !== undefined) {
              gateway.traffic.holdBack(userId, waitMs + marginMs);
              longestWaitMs = Math.max(longestWaitMs ?? 0, waitMs);
            }
            again.push(index);
            continue;
          }
          const context = {
            method: "GET",
            path: relativeUrl(gateway, url).split("?")[0] ?? url,
            status: inner.status,
            code,
          };
          const error = isRetryableStatus(inner.status)
            ? new GraphRetryableError(
                `expected a success; batched GET ${context.path} answered ${inner.status} ${code ?? "(no code)"} after ${round} rounds`,
                {
                  status: inner.status,
                  code,
                },
              )
            : mapGraphError(context, header(inner.headers, "location"));
          answers[index] = { url, status: inner.status, body: inner.body as T, error };
        }
        // A request the batch did not answer is sent again as well.
        for (const index of pending)
          if (answers[index] === undefined && !again.includes(index)) again.push(index);
        pending = again;
        if (pending.length > 0) {
          counters.retries += pending.length;
          // With a Retry-After the mailbox gate holds the next batch back; without one, back off.
          if (longestWaitMs === undefined) {
            const delay = fullJitterDelay(round, backoffBaseMs, 30_000);
            counters.waitedMs += delay;
            await sleep(delay);
          }
        }
        if (round >= maxRounds && pending.length > 0) {
          for (const index of pending) {
            const url = urls[index] as string;
            answers[index] ??= {
              url,
              status: 0,
              error: new GraphRetryableError(
                `expected an answer to batched GET ${url}, found none after ${round} rounds`,
              ),
            };
          }
          pending = [];
        }
      }
    }),
  );
  return answers as Array<BatchAnswer<T>>;
}
