/**
 * Per-mailbox traffic control shared by everything in the process that talks to one mailbox:
 * a concurrency limit (Outlook allows 4 concurrent requests per app and mailbox), a "not before"
 * gate that holds back every request to the mailbox after the service announced a `Retry-After`,
 * a request budget (Outlook allows 10,000 requests per 10 minutes; keeping under it here means
 * the service never has to throttle us for it), and the counters that job reports show.
 *
 * The slots are a small weighted FIFO semaphore rather than a p-queue: a `$batch` to a mailbox
 * runs up to 4 inner requests at once on the service side, so it must hold several slots at once,
 * which p-queue cannot express.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { GraphRetryableError } from "./errors.js";

/**
 * Counters of one mailbox, cumulative while the gateway knows the mailbox: one left idle for a
 * whole budget window is forgotten (see {@link FORGET_FROM}) and starts again from 0.
 */
export interface MailboxCounters {
  /** Requests sent (each attempt counts; a `$batch` counts once per inner request). */
  requests: number;
  /** 429 answers (including 429s inside a `$batch`). */
  throttled: number;
  /** Attempts that repeated an earlier failed attempt. */
  retries: number;
  /** 5xx answers. */
  serverErrors: number;
  /** Milliseconds requests spent waiting for the mailbox's gate or a backoff. */
  waitedMs: number;
}

export type ReleaseSlots = () => void;

interface Waiter {
  weight: number;
  grant: () => void;
}

interface MailboxState {
  inUse: number;
  /**
   * Slots granted now: starts at the configured concurrency, loses one on every 429 and grows
   * back by one after {@link RECOVERY_SUCCESSES} successes in a row, so a mailbox whose service
   * allows fewer concurrent requests than configured stops drawing 429s instead of spending its
   * attempts on them, while one stray 429 costs a single slot for a moment.
   */
  limit: number;
  /** Successes since the last 429 or the last increase of `limit`. */
  successes: number;
  waiters: Waiter[];
  notBeforeMs: number;
  /** Send times inside the budget window, oldest first, from index `sentHead`. */
  sent: number[];
  sentHead: number;
  counters: MailboxCounters;
}

export interface MailboxTrafficOptions {
  /** Concurrent requests per mailbox. Bounds 1–64. Default 4 (Outlook's MailboxConcurrency). */
  concurrency?: number;
  /**
   * Requests per mailbox per {@link windowMs}, counted over a sliding window (which also keeps
   * every fixed window of the service under it). Bounds ≥ 1. Default 10 000 (Outlook's limit).
   */
  requestsPerWindow?: number;
  /**
   * Budget window, ms. Bounds ≥ 1. Default 601 000: Outlook's 10 minutes plus 1 s, so that
   * network delay cannot move requests of one client window into the service's next one.
   */
  windowMs?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/**
 * Mailboxes known before idle ones are forgotten: a gateway that meets a whole tenant (discovery
 * of 100,000 mailboxes in one coordinator invocation, a warm controller over many jobs) would
 * otherwise keep a state per mailbox forever. A mailbox is forgotten only when forgetting it
 * changes nothing but its counters: no slot in use or awaited, its gate open, its slot limit
 * whole and no send inside the budget window. Checked when the map reaches this size and then
 * each time it doubles, so the work is constant per mailbox met.
 */
export const FORGET_FROM = 4096;

/** Successes in a row after which a mailbox's slot limit grows by one (up to the configured concurrency). */
const RECOVERY_SUCCESSES = 16;

/** Whether `weight` more slots fit; a heavy request ($batch) may run alone when the limit fell below its weight. */
function fits(state: MailboxState, weight: number): boolean {
  return state.inUse === 0 || state.inUse + weight <= state.limit;
}

export class MailboxTraffic {
  readonly concurrency: number;
  readonly requestsPerWindow: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly mailboxes = new Map<string, MailboxState>();
  /** Map size at which idle mailboxes are next forgotten. */
  private forgetAt = FORGET_FROM;

  constructor(options: MailboxTrafficOptions = {}) {
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new RangeError(`expected a mailbox concurrency from 1 to 64, found ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.requestsPerWindow = Math.max(1, Math.floor(options.requestsPerWindow ?? 10_000));
    this.windowMs = Math.max(1, options.windowMs ?? 601_000);
    this.now = options.now ?? Date.now;
  }

  /**
   * Waits for `weight` of the mailbox's slots (FIFO) and then for its gate to open. The returned
   * function gives the slots back; calling it more than once does nothing.
   */
  async acquire(mailboxId: string, weight = 1, maxWaitMs = Number.POSITIVE_INFINITY): Promise<ReleaseSlots> {
    const state = this.stateOf(mailboxId);
    const need = Math.min(Math.max(1, weight), this.concurrency);
    if (state.waiters.length === 0 && fits(state, need)) {
      state.inUse += need;
    } else {
      await new Promise<void>((grant) => state.waiters.push({ weight: need, grant }));
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      state.inUse -= need;
      this.grantWaiting(state);
    };
    try {
      await this.passGate(mailboxId, 0, maxWaitMs);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /**
   * Waits until no announced `Retry-After` of the mailbox is pending and its budget has room for
   * `sends` requests; then records those sends at once (no await between the check and the
   * record, so concurrent callers cannot overdraw the budget). `sends` 0 only waits.
   * A wait longer than `maxWaitMs` is not slept through: it throws a retryable error carrying
   * the wait, so that a caller with a deadline can checkpoint and come back. Resolves to the time
   * (the clock's ms) at which the sends were recorded: what the budget counts them at, however
   * late the caller resumes.
   */
  async passGate(mailboxId: string, sends = 0, maxWaitMs = Number.POSITIVE_INFINITY): Promise<number> {
    const state = this.stateOf(mailboxId);
    const started = this.now();
    // The gate may move further out while we sleep (another request got a 429): check again.
    for (let wait = this.waitFor(state, sends); wait > 0; wait = this.waitFor(state, sends)) {
      if (wait > maxWaitMs) {
        throw new GraphRetryableError(
          `expected mailbox ${mailboxId} to accept requests within ${maxWaitMs} ms, found it held back for ${wait} ms (Retry-After or request budget)`,
          { retryAfterMs: wait },
        );
      }
      await sleep(wait);
    }
    const now = this.now();
    for (let i = 0; i < sends; i++) state.sent.push(now);
    const waited = now - started;
    if (waited > 0) state.counters.waitedMs += waited;
    return now;
  }

  /** Milliseconds until the gate is open and the budget has room for `sends` more requests. */
  private waitFor(state: MailboxState, sends: number): number {
    const now = this.now();
    const gate = state.notBeforeMs - now;
    if (sends === 0) return gate;
    // Forget sends that left the window.
    while (
      state.sentHead < state.sent.length &&
      (state.sent[state.sentHead] as number) <= now - this.windowMs
    )
      state.sentHead++;
    if (state.sentHead > 1024 && state.sentHead * 2 > state.sent.length) {
      state.sent = state.sent.slice(state.sentHead);
      state.sentHead = 0;
    }
    const inWindow = state.sent.length - state.sentHead;
    const need = Math.min(sends, this.requestsPerWindow);
    const over = inWindow + need - this.requestsPerWindow;
    // Room comes when the `over`-th oldest send leaves the window.
    const budget = over > 0 ? (state.sent[state.sentHead + over - 1] as number) + this.windowMs - now + 1 : 0;
    return Math.max(gate, budget);
  }

  /** The service answered 429 for the mailbox: one slot less (at least 1). */
  throttled(mailboxId: string): void {
    const state = this.stateOf(mailboxId);
    state.limit = Math.max(1, state.limit - 1);
    state.successes = 0;
  }

  /** A request to the mailbox succeeded: after enough in a row, one more slot (up to the configured concurrency). */
  succeeded(mailboxId: string): void {
    const state = this.stateOf(mailboxId);
    if (state.limit >= this.concurrency) return;
    if (++state.successes >= RECOVERY_SUCCESSES) {
      state.limit++;
      state.successes = 0;
      this.grantWaiting(state);
    }
  }

  /** Slots the mailbox may use now (the configured concurrency, lowered after 429s). */
  limit(mailboxId: string): number {
    return this.mailboxes.get(mailboxId.toLowerCase())?.limit ?? this.concurrency;
  }

  /** Closes the mailbox's gate for `ms` from now (never shortens an earlier announcement). */
  holdBack(mailboxId: string, ms: number): void {
    const state = this.stateOf(mailboxId);
    state.notBeforeMs = Math.max(state.notBeforeMs, this.now() + Math.max(0, ms));
  }

  /** Epoch milliseconds before which no request to the mailbox goes out (0 when open). */
  notBefore(mailboxId: string): number {
    return this.mailboxes.get(mailboxId.toLowerCase())?.notBeforeMs ?? 0;
  }

  /** The mailbox's live counters (mutable: the request policy updates them). */
  counters(mailboxId: string): MailboxCounters {
    return this.stateOf(mailboxId).counters;
  }

  /** Slots of the mailbox in use now. */
  inUse(mailboxId: string): number {
    return this.mailboxes.get(mailboxId.toLowerCase())?.inUse ?? 0;
  }

  /** A copy of the mailbox's counters; undefined when the gateway does not know it (never met, or forgotten). */
  peek(mailboxId: string): MailboxCounters | undefined {
    const state = this.mailboxes.get(mailboxId.toLowerCase());
    return state ? { ...state.counters } : undefined;
  }

  /** Mailboxes the gateway holds a state for now. */
  get known(): number {
    return this.mailboxes.size;
  }

  /** A copy of every mailbox's counters, by mailbox id. */
  stats(): Record<string, MailboxCounters> {
    return Object.fromEntries([...this.mailboxes].map(([id, s]) => [id, { ...s.counters }]));
  }

  private grantWaiting(state: MailboxState): void {
    // Strict FIFO: a heavy waiter at the head is not overtaken, so a $batch cannot starve.
    while (state.waiters.length > 0) {
      const head = state.waiters[0] as Waiter;
      if (!fits(state, head.weight)) return;
      state.waiters.shift();
      state.inUse += head.weight;
      head.grant();
    }
  }

  private stateOf(mailboxId: string): MailboxState {
    const key = mailboxId.toLowerCase();
    let state = this.mailboxes.get(key);
    if (!state) {
      state = {
        inUse: 0,
        limit: this.concurrency,
        successes: 0,
        waiters: [],
        notBeforeMs: 0,
        sent: [],
        sentHead: 0,
        counters: { requests: 0, throttled: 0, retries: 0, serverErrors: 0, waitedMs: 0 },
      };
      if (this.mailboxes.size >= this.forgetAt) {
        this.forgetIdle();
        this.forgetAt = Math.max(FORGET_FROM, this.mailboxes.size * 2);
      }
      this.mailboxes.set(key, state);
    }
    return state;
  }

  /** Drops the mailboxes whose state is as a new one's (but for counters): see {@link FORGET_FROM}. */
  private forgetIdle(): void {
    const now = this.now();
    for (const [key, state] of this.mailboxes) {
      const lastSend = state.sent.length > state.sentHead ? (state.sent.at(-1) as number) : undefined;
      if (
        state.inUse === 0 &&
        state.waiters.length === 0 &&
        state.notBeforeMs <= now &&
        state.limit === this.concurrency &&
        (lastSend === undefined || lastSend <= now - this.windowMs)
      )
        this.mailboxes.delete(key);
    }
  }
}
