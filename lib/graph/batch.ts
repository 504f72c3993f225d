/**
 * Many small GETs in `POST /$batch` requests (at most 20 each): of one mailbox ({@link batchGet}),
 * or of many mailboxes, each inner request counted against its own ({@link batchGetAcross}).
 *
 * A batch's 200 says nothing about its parts: each inner answer has its own status, and an
 * inner 429 carries its own `Retry-After`. Those are sent again in a later batch once their
 * mailbox's gate opens; the client's RetryHandler would never see them.
 */
import PQueue from "p-queue";
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
import { preferWithImmutableId } from "./request-policy.js";
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
  /** A redirect's (3xx) `Location`, as the inner answer gave it. */
  location?: string;
}

/**
 * Inner requests that are throttled or unavailable are sent again in later batches for up to
 * `budgetMs` (lib/retry.ts; default the gateway's, as for its single requests), after their
 * `Retry-After` or a backoff.
 */
export interface BatchGetOptions extends RetryBudget {
  /** Added to an inner `Retry-After` against clock rounding, ms. Bounds ≥ 0. Default 20. */
  retryAfterMarginMs?: number;
}

/** A configured batch size within Graph's bounds (1–20); absent: 20. */
export function batchSizeOf(size: number | undefined): number {
  return Math.min(MAX_BATCH_REQUESTS, Math.max(1, Math.floor(size ?? MAX_BATCH_REQUESTS)));
}

/** One GET of a batch across mailboxes: its url and the mailbox it counts against. */
export interface MailboxGet {
  /** Relative to the base URL, or absolute under it. */
  url: string;
  /** The key of the gateway's per-mailbox limits: a user id, or an archive's traffic key. */
  mailboxId: string;
}

export interface BatchGetAcrossOptions extends BatchGetOptions {
  /** Inner requests per batch. Bounds 1–20. Default 20. */
  batchSize?: number;
  /** Batches in flight at once. Bounds 1–64. Default 8. */
  concurrentBatches?: number;
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
 * in the order of `urls`. The batches hold the mailbox's slots (as many as Outlook runs at
 * once). Inner failures are returned, not thrown; a batch request that fails as a whole throws.
 */
export async function batchGet<T = unknown>(
  gateway: GraphGateway,
  userId: string,
  urls: string[],
  options: BatchGetOptions = {},
): Promise<Array<BatchAnswer<T>>> {
  const chunks: number[][] = [];
  for (let i = 0; i < urls.length; i += MAX_BATCH_REQUESTS) {
    chunks.push(urls.slice(i, i + MAX_BATCH_REQUESTS).map((_, j) => i + j));
  }
  return runBatches<T>(gateway, urls, () => userId, chunks, {
    ...options,
    what: (n) => `batched GET of ${n} requests to mailbox ${userId}`,
    concurrency: Number.POSITIVE_INFINITY,
    send: (requests) =>
      gateway.post<{ responses?: InnerAnswer[] }>(
        "/$batch",
        { requests },
        {
          mailboxId: userId,
          weight: Math.min(INNER_CONCURRENCY, requests.length),
          requestCount: requests.length,
          idempotent: true,
        },
      ),
  });
}

/**
 * GETs of many mailboxes in shared batches (discovery: one probe per user), answers in the order
 * of `gets`. Graph evaluates each inner request against its own mailbox's limits, so the gateway
 * counts each against its own: before a batch leaves, it holds a slot of each inner request's
 * mailbox (taken in key order, so batches waiting for each other's slots cannot deadlock) and
 * passes that mailbox's gate and budget; a batch never carries more requests of one mailbox
 * than the mailbox's concurrency. The `$batch` request itself holds no mailbox's slot. An inner
 * 429/503/5xx closes its own mailbox's gate and is sent again in a later batch; other inner
 * failures are returned mapped as a single request's would be.
 */
export async function batchGetAcross<T = unknown>(
  gateway: GraphGateway,
  gets: readonly MailboxGet[],
  options: BatchGetAcrossOptions = {},
): Promise<Array<BatchAnswer<T>>> {
  const concurrency = Math.min(64, Math.max(1, Math.floor(options.concurrentBatches ?? 8)));
  // Spread a few requests over the batches in flight instead of queueing them in one: Outlook
  // serves a batch's inner requests 4 at a time, so 16 probes in one batch take four rounds, in
  // four batches one (a small tenant's discovery took 2 s longer at 400 ms per request). A batch
  // of up to 4 costs one round, so batches never get smaller than that.
  const configured = batchSizeOf(options.batchSize);
  const size = Math.min(configured, Math.max(INNER_CONCURRENCY, Math.ceil(gets.length / concurrency)));
  // A wait for a mailbox's slots, gate or budget longer than the gateway's (a spent 10-minute
  // budget) fails the whole call with a RetryableError carrying the wait, as a single request does.
  const maxWaitMs = () => gateway.maxWaitMs();
  const traffic = gateway.traffic;
  const tally = gateway.context?.tally;
  const keyOf = (index: number) => (gets[index] as MailboxGet).mailboxId.toLowerCase();
  const urls = gets.map((g) => g.url);
  return runBatches<T>(gateway, urls, keyOf, packAcross(gets.length, keyOf, size, traffic.concurrency), {
    ...options,
    what: (n) => `batched GET of ${n} requests across mailboxes`,
    concurrency,
    perInner: true,
    async send(requests) {
      const perMailbox = new Map<string, number>();
      for (const r of requests) {
        const key = keyOf(Number(r.id));
        perMailbox.set(key, (perMailbox.get(key) ?? 0) + 1);
      }
      const keys = [...perMailbox.keys()].sort();
      const releases: Array<() => void> = [];
      try {
        for (const key of keys) releases.push(await traffic.acquire(key, perMailbox.get(key), maxWaitMs()));
        // After every slot is held (a gate may have closed meanwhile): gate and budget, then count.
        for (const key of keys) {
          const n = perMailbox.get(key) as number;
          await traffic.passGate(key, n, maxWaitMs());
          traffic.counters(key).requests += n;
          if (tally) tally.requests += n;
        }
        return await gateway.post<{ responses?: InnerAnswer[] }>(
          "/$batch",
          { requests },
          { idempotent: true },
        );
      } finally {
        for (const release of releases) release();
      }
    },
  });
}

/**
 * Indexes into batches of at most `size`, with at most `perMailbox` of one mailbox in a batch,
 * in order: each request goes to the first batch with room for it.
 */
function packAcross(
  count: number,
  keyOf: (index: number) => string,
  size: number,
  perMailbox: number,
): number[][] {
  const batches: Array<{ indexes: number[]; keys: Map<string, number> }> = [];
  let firstOpen = 0;
  for (let index = 0; index < count; index++) {
    const key = keyOf(index);
    let batch = batches
      .slice(firstOpen)
      .find((b) => b.indexes.length < size && (b.keys.get(key) ?? 0) < perMailbox);
    if (!batch) {
      batch = { indexes: [], keys: new Map() };
      batches.push(batch);
    }
    batch.indexes.push(index);
    batch.keys.set(key, (batch.keys.get(key) ?? 0) + 1);
    while (firstOpen < batches.length && (batches[firstOpen] as { indexes: number[] }).indexes.length >= size)
      firstOpen++;
  }
  return batches.map((b) => b.indexes);
}

/**
 * What one inner answer of a batch is: a success or a failure for good (mapped as a single
 * request's would be), or a throttled or unavailable request to send again, its mailbox's
 * counters and gate updated (an inner 429 closes the gate for its `Retry-After`).
 */
function innerOutcome<T>(
  gateway: GraphGateway,
  key: string,
  url: string,
  inner: InnerAnswer,
  marginMs: number,
  perInner: boolean,
): { answer: BatchAnswer<T> } | { again: GraphRetryableError; waitMs: number | undefined } {
  if (inner.status >= 200 && inner.status < 300) {
    if (perInner) gateway.traffic.succeeded(key);
    return { answer: { url, status: inner.status, body: inner.body as T } };
  }
  const counters = gateway.traffic.counters(key);
  const code = errorCodeOf(inner.body);
  const path = relativeUrl(gateway, url).split("?")[0] ?? url;
  if (inner.status === 429) {
    counters.throttled++;
    if (gateway.context?.tally) gateway.context.tally.throttled++;
    gateway.traffic.throttled(key);
  }
  if (inner.status >= 500) counters.serverErrors++;
  if (isRetryableStatus(inner.status)) {
    const waitMs = parseRetryAfter(header(inner.headers, "retry-after"));
    if (waitMs !== undefined) gateway.traffic.holdBack(key, waitMs + marginMs);
    return {
      waitMs,
      again: new GraphRetryableError(
        `expected a success; batched GET ${path} answered ${inner.status} ${code ?? "(no code)"}`,
        { status: inner.status, code, ...(waitMs !== undefined ? { retryAfterMs: waitMs } : {}) },
      ),
    };
  }
  // Like a single request's error, it quotes the answer's message (e.g. which property is wrong).
  const location = header(inner.headers, "location");
  const error = mapGraphError(
    { method: "GET", path, status: inner.status, code, detail: errorDetailOf(inner.body) },
    location,
  );
  return {
    answer: {
      url,
      status: inner.status,
      body: inner.body as T,
      error,
      ...(inner.status >= 300 && inner.status < 400 && location ? { location } : {}),
    },
  };
}

/** One GET of {@link batchGetOnce}: its url and its own headers besides `Prefer: IdType`. */
export interface BatchedGet {
  /** Relative to the base URL, or absolute under it. */
  url: string;
  headers?: Record<string, string>;
}

/** An inner answer of {@link batchGetOnce}: as {@link BatchAnswer}, or a request to send again alone. */
export type BatchOnceAnswer<T> = BatchAnswer<T> | { url: string; again: GraphRetryableError };

/**
 * GETs of one mailbox in ONE `$batch` (1–20), answers in the order of `gets`. The batch holds
 * min(k, 4) of the mailbox's slots (Outlook runs 4 inner requests of a batch at a time) and
 * counts as k requests. Unlike {@link batchGet}, an inner request that is throttled or
 * unavailable is not sent again here: it is returned as `again` (its mailbox's gate closed for
 * its `Retry-After`), for the caller to send alone through the gateway's retries, so that a
 * caller holding a slot per inner request does not hold them all for one request's retries.
 * A batch that fails as a whole throws (after the gateway's own retries of it).
 */
export async function batchGetOnce<T = unknown>(
  gateway: GraphGateway,
  mailboxId: string,
  gets: readonly BatchedGet[],
  options: { retryAfterMarginMs?: number } = {},
): Promise<Array<BatchOnceAnswer<T>>> {
  if (gets.length < 1 || gets.length > MAX_BATCH_REQUESTS) {
    throw new RangeError(`batchGetOnce: expected 1 to ${MAX_BATCH_REQUESTS} requests, found ${gets.length}`);
  }
  const marginMs = Math.max(0, options.retryAfterMarginMs ?? 20);
  const requests: InnerRequest[] = gets.map((get, index) => ({
    id: String(index),
    method: "GET",
    url: relativeUrl(gateway, get.url),
    headers: { ...withoutPrefer(get.headers), Prefer: innerPrefer(get.headers) },
  }));
  const result = await gateway.post<{ responses?: InnerAnswer[] }>(
    "/$batch",
    { requests },
    {
      mailboxId,
      weight: Math.min(INNER_CONCURRENCY, requests.length),
      requestCount: requests.length,
      idempotent: true,
    },
  );
  const answers: Array<BatchOnceAnswer<T> | undefined> = new Array(gets.length);
  for (const inner of result.responses ?? []) {
    const index = Number(inner.id);
    const get = gets[index];
    if (get === undefined || answers[index] !== undefined) continue;
    const outcome = innerOutcome<T>(gateway, mailboxId, get.url, inner, marginMs, false);
    answers[index] = "answer" in outcome ? outcome.answer : { url: get.url, again: outcome.again };
  }
  // A request the batch did not answer goes again alone as well.
  return gets.map(
    (get, index) =>
      answers[index] ?? {
        url: get.url,
        again: new GraphRetryableError(
          `expected an answer to batched GET ${relativeUrl(gateway, get.url)}, found none`,
        ),
      },
  );
}

function withoutPrefer(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([k]) => k.toLowerCase() !== "prefer"));
}

/** An inner request's `Prefer`: its own preferences with `IdType="ImmutableId"`, as every request sends. */
function innerPrefer(headers: Record<string, string> | undefined): string {
  const key = headers ? Object.keys(headers).find((k) => k.toLowerCase() === "prefer") : undefined;
  return preferWithImmutableId(key === undefined ? undefined : headers?.[key]);
}

interface InnerRequest {
  id: string;
  method: "GET";
  url: string;
  headers: Record<string, string>;
}

interface BatchRun extends BatchGetOptions {
  what: (requests: number) => string;
  /** Batches in flight at once. */
  concurrency: number;
  /** Sends one batch (the accounting of its slots is the sender's). */
  send: (requests: InnerRequest[]) => Promise<{ responses?: InnerAnswer[] }>;
  /** Whether each inner answer counts as its mailbox's success (the batch itself held no slot). */
  perInner?: boolean;
}

/**
 * Sends `chunks` of `urls` (indexes) as batches; inner requests to send again go out in the
 * chunk's next round, after their `Retry-After` or a backoff, for up to the retry budget.
 */
async function runBatches<T>(
  gateway: GraphGateway,
  urls: readonly string[],
  keyOf: (index: number) => string,
  chunks: number[][],
  run: BatchRun,
): Promise<Array<BatchAnswer<T>>> {
  const marginMs = Math.max(0, run.retryAfterMarginMs ?? 20);
  const answers: Array<BatchAnswer<T> | undefined> = new Array(urls.length);
  // Looked up at each use (a mailbox idle for a whole budget window is forgotten meanwhile).
  const counters = (index: number) => gateway.traffic.counters(keyOf(index));

  /** Sends one batch of `pending`; returns the indexes to send again and the longest wait asked. */
  const round = async (
    pending: number[],
    lastFailure: Map<number, { status: number; error: GraphRetryableError }>,
  ): Promise<{ again: number[]; longestWaitMs: number | undefined }> => {
    const requests: InnerRequest[] = pending.map((index) => ({
      id: String(index),
      method: "GET",
      url: relativeUrl(gateway, urls[index] as string),
      headers: { Prefer: preferWithImmutableId(undefined) },
    }));
    const result = await run.send(requests);
    const again: number[] = [];
    let longestWaitMs: number | undefined;
    for (const inner of result.responses ?? []) {
      const index = Number(inner.id);
      const url = urls[index];
      if (url === undefined || !pending.includes(index)) continue;
      const outcome = innerOutcome<T>(gateway, keyOf(index), url, inner, marginMs, run.perInner === true);
      if ("answer" in outcome) {
        answers[index] = outcome.answer;
        continue;
      }
      if (outcome.waitMs !== undefined) longestWaitMs = Math.max(longestWaitMs ?? 0, outcome.waitMs);
      lastFailure.set(index, { status: inner.status, error: outcome.again });
      again.push(index);
    }
    // A request the batch did not answer is sent again as well.
    for (const index of pending)
      if (answers[index] === undefined && !again.includes(index)) again.push(index);
    return { again, longestWaitMs };
  };

  const runChunk = async (chunk: number[]) => {
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
          budgetMs: run.budgetMs ?? gateway.retryBudget.budgetMs,
          backoffBaseMs: run.backoffBaseMs ?? gateway.retryBudget.backoffBaseMs,
          backoffCapMs: run.backoffCapMs ?? gateway.retryBudget.backoffCapMs,
          ...(gateway.context?.deadline ? { deadline: gateway.context.deadline } : {}),
          what: run.what(pending.length),
          decide: (error) => {
            if (!(error instanceof RoundIncomplete)) return { retry: false };
            // With a Retry-After the mailbox's gate holds the next batch back too.
            return error.retryAfterMs !== undefined
              ? { retry: true, delay: { waitMs: error.retryAfterMs + marginMs } }
              : { retry: true, delay: "backoff" };
          },
          onRetry: ({ delayMs }) => {
            const waited = new Set<string>();
            for (const index of pending) {
              const c = counters(index);
              c.retries++;
              // The wait is each waiting mailbox's once.
              if (!waited.has(keyOf(index))) c.waitedMs += delayMs;
              waited.add(keyOf(index));
            }
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
  };

  const queue = new PQueue({ concurrency: run.concurrency });
  await Promise.all(
    chunks.map((chunk) =>
      queue.add(() =>
        runChunk(chunk).catch((error: unknown) => {
          // The call fails as a whole: the batches not sent yet are not sent.
          queue.clear();
          throw error;
        }),
      ),
    ),
  );
  return answers as Array<BatchAnswer<T>>;
}
