/**
 * Outlook's per-app, per-mailbox limits and the statistics that show whether clients respect
 * them. One {@link MailboxLimiter} serves a whole simulator; every Graph request that names a
 * mailbox passes {@link MailboxLimiter.admit} and, if admitted, holds a concurrency slot until
 * its answer is fully sent.
 */

export interface LimitOptions {
  /** Concurrent requests per app and mailbox. Bounds ≥ 1. Default 4 (Outlook's MailboxConcurrency). */
  concurrentPerMailbox?: number;
  /** Requests per app and mailbox per window. Bounds ≥ 1. Default 10 000. */
  budgetPerWindow?: number;
  /** Length of the budget window, milliseconds. Bounds ≥ 1. Default 600 000 (10 minutes). */
  windowMs?: number;
  /** `Retry-After` of a concurrency 429, seconds. Bounds ≥ 1. Default 1. */
  concurrencyRetryAfterSeconds?: number;
  /**
   * Tolerance of the early-retry count, milliseconds. Default 50. A request does not count as an
   * early retry when it arrives within this time after the `Retry-After` was announced (it was
   * already on its way: the client could not have seen the answer yet), nor within this time
   * before the announced wait ends (timers fire with millisecond rounding).
   */
  earlyRetryGraceMs?: number;
  /**
   * Attachment bytes uploaded (upload-session fragments) per mailbox per upload window, bytes.
   * Bounds ≥ 1. Default 157 286 400 (Outlook's 150 MB per 5 minutes).
   */
  uploadBytesPerWindow?: number;
  /** Length of the upload window, milliseconds. Bounds ≥ 1. Default 300 000 (5 minutes). */
  uploadWindowMs?: number;
}

export interface MailboxStats {
  /** Requests to this mailbox's endpoints (paths below `/users/{id}/`), admitted or not. */
  requests: number;
  /** 429 answers given for this mailbox. */
  throttled: number;
  /** Requests that arrived before a `Retry-After` announced to the same app for this mailbox had passed. */
  earlyRetries: number;
  /** Highest number of requests in progress at once (per app). */
  maxInFlight: number;
  /** MIME bytes sent by `$value` answers. */
  mimeBytesServed: number;
  /** Attachment bytes accepted through upload sessions, and item data through import sessions. */
  uploadBytesReceived: number;
  /** Bytes of item data sent by `exportItems` answers (decoded). */
  exportBytesServed: number;
}

export type Admission =
  | { ok: true; release: () => void }
  | {
      ok: false;
      code: "ApplicationThrottled" | "TooManyRequests";
      message: string;
      retryAfterSeconds: number;
    };

interface AppMailboxState {
  inFlight: number;
  windowStartMs: number;
  windowCount: number;
  retryAfterUntilMs: number;
  retryAfterAnnouncedMs: number;
}

export class MailboxLimiter {
  private readonly concurrent: number;
  private readonly budget: number;
  private readonly windowMs: number;
  private readonly concurrencyRetryAfter: number;
  private readonly graceMs: number;
  private readonly states = new Map<string, AppMailboxState>();
  private readonly uploadBudget: number;
  private readonly uploadWindowMs: number;
  /** Upload windows per mailbox (uploads count against the mailbox, whichever app sends them). */
  private readonly uploads = new Map<string, { windowStartMs: number; bytes: number }>();
  private mailboxStats = new Map<string, MailboxStats>();

  constructor(options: LimitOptions = {}) {
    this.concurrent = Math.max(1, options.concurrentPerMailbox ?? 4);
    this.budget = Math.max(1, options.budgetPerWindow ?? 10_000);
    this.windowMs = Math.max(1, options.windowMs ?? 600_000);
    this.concurrencyRetryAfter = Math.max(1, options.concurrencyRetryAfterSeconds ?? 1);
    this.graceMs = options.earlyRetryGraceMs ?? 50;
    this.uploadBudget = Math.max(1, options.uploadBytesPerWindow ?? 150 * 1024 * 1024);
    this.uploadWindowMs = Math.max(1, options.uploadWindowMs ?? 300_000);
  }

  /**
   * Takes `bytes` of upload fragment from the mailbox's upload budget; when the window's budget
   * cannot hold them, takes nothing and answers the seconds until the window ends.
   */
  admitUpload(mailboxId: string, bytes: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = Date.now();
    let window = this.uploads.get(mailboxId);
    if (!window || now - window.windowStartMs >= this.uploadWindowMs) {
      window = { windowStartMs: now, bytes: 0 };
      this.uploads.set(mailboxId, window);
    }
    // A fragment larger than the whole budget would never pass; let it through an empty window.
    if (window.bytes > 0 && window.bytes + bytes > this.uploadBudget) {
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil((window.windowStartMs + this.uploadWindowMs - now) / 1000),
      );
      return { ok: false, retryAfterSeconds };
    }
    window.bytes += bytes;
    this.statsOf(mailboxId).uploadBytesReceived += bytes;
    return { ok: true };
  }

  /**
   * Counts the request and decides whether it may run now. `sentAfterMs` is what the server knows
   * of when the client sent it: the end of the previous answer on its connection (a client sends
   * its next request on a connection only after reading the last answer), 0 for the first request
   * of a connection. Default: at most the grace before it arrived. A request sent after a
   * `Retry-After` was announced to its app for this mailbox, arriving before the wait ends, is an
   * early retry; one that was on its way already (however long a loaded server took to read it)
   * is not, nor one whose previous answer ended in the announcement's millisecond and that
   * arrives within the grace of it: that answer and the Retry-After may have been written then on
   * two connections, and the client may have read the other one first.
   */
  admit(clientId: string, mailboxId: string, sentAfterMs?: number): Admission {
    const now = Date.now();
    const stats = this.statsOf(mailboxId);
    const state = this.stateOf(clientId, mailboxId, now);
    stats.requests++;
    const sentAfter = sentAfterMs ?? now - this.graceMs;
    const sameMillisecond =
      sentAfter === state.retryAfterAnnouncedMs && now - state.retryAfterAnnouncedMs < this.graceMs;
    if (
      now + this.graceMs < state.retryAfterUntilMs &&
      sentAfter >= state.retryAfterAnnouncedMs &&
      !sameMillisecond
    ) {
      stats.earlyRetries++;
    }
    if (now - state.windowStartMs >= this.windowMs) {
      state.windowStartMs = now;
      state.windowCount = 0;
    }
    if (state.windowCount >= this.budget) {
      const retryAfterSeconds = Math.max(1, Math.ceil((state.windowStartMs + this.windowMs - now) / 1000));
      return { ok: false, code: "TooManyRequests", message: "Please retry again later.", retryAfterSeconds };
    }
    if (state.inFlight >= this.concurrent) {
      return {
        ok: false,
        code: "ApplicationThrottled",
        message: "Application is over its MailboxConcurrency limit.",
        retryAfterSeconds: this.concurrencyRetryAfter,
      };
    }
    state.windowCount++;
    state.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, state.inFlight);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        state.inFlight--;
      },
    };
  }

  /** Remembers a `Retry-After` sent to this app for this mailbox (429, 503, …) to detect early retries. */
  noteRetryAfter(clientId: string, mailboxId: string, seconds: number, status: number): void {
    const now = Date.now();
    const state = this.stateOf(clientId, mailboxId, now);
    if (now + seconds * 1000 > state.retryAfterUntilMs) {
      state.retryAfterUntilMs = now + seconds * 1000;
      state.retryAfterAnnouncedMs = now;
    }
    if (status === 429) this.statsOf(mailboxId).throttled++;
  }

  noteMimeBytes(mailboxId: string, bytes: number): void {
    this.statsOf(mailboxId).mimeBytesServed += bytes;
  }

  noteExportBytes(mailboxId: string, bytes: number): void {
    this.statsOf(mailboxId).exportBytesServed += bytes;
  }

  stats(): Record<string, MailboxStats> {
    return Object.fromEntries([...this.mailboxStats].map(([id, s]) => [id, { ...s }]));
  }

  /** Clears the statistics; limits in force (windows, in-flight slots, announced waits) stay. */
  resetStats(): void {
    this.mailboxStats = new Map();
  }

  private statsOf(mailboxId: string): MailboxStats {
    let stats = this.mailboxStats.get(mailboxId);
    if (!stats) {
      stats = {
        requests: 0,
        throttled: 0,
        earlyRetries: 0,
        maxInFlight: 0,
        mimeBytesServed: 0,
        uploadBytesReceived: 0,
        exportBytesServed: 0,
      };
      this.mailboxStats.set(mailboxId, stats);
    }
    return stats;
  }

  private stateOf(clientId: string, mailboxId: string, now: number): AppMailboxState {
    const key = `${clientId}\u0000${mailboxId}`;
    let state = this.states.get(key);
    if (!state) {
      state = {
        inFlight: 0,
        windowStartMs: now,
        windowCount: 0,
        retryAfterUntilMs: 0,
        retryAfterAnnouncedMs: 0,
      };
      this.states.set(key, state);
    }
    return state;
  }
}
