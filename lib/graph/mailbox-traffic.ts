/**
 * Per-mailbox traffic control shared by everything in the process that talks to one mailbox:
 * a concurrency limit (Outlook allows 4 concurrent requests per app and mailbox), a "not before"
 * gate that holds back every request to the mailbox after the service announced a `Retry-After`,
 * and the counters that job reports show.
 *
 * The slots are a small weighted FIFO semaphore rather than a p-queue: a `$batch` to a mailbox
 * runs up to 4 inner requests at once on the service side, so it must hold several slots at once,
 * which p-queue cannot express.
 */

/** Counters of one mailbox, cumulative for the life of the gateway. */
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
  waiters: Waiter[];
  notBeforeMs: number;
  counters: MailboxCounters;
}

export interface MailboxTrafficOptions {
  /** Concurrent requests per mailbox. Bounds 1–64. Default 4 (Outlook's MailboxConcurrency). */
  concurrency?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class MailboxTraffic {
  readonly concurrency: number;
  private readonly now: () => number;
  private readonly mailboxes = new Map<string, MailboxState>();

  constructor(options: MailboxTrafficOptions = {}) {
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new RangeError(`expected a mailbox concurrency from 1 to 64, found ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.now = options.now ?? Date.now;
  }

  /**
   * Waits for `weight` of the mailbox's slots (FIFO) and then for its gate to open. The returned
   * function gives the slots back; calling it more than once does nothing.
   */
  async acquire(mailboxId: string, weight = 1): Promise<ReleaseSlots> {
    const state = this.stateOf(mailboxId);
    const need = Math.min(Math.max(1, weight), this.concurrency);
    if (state.waiters.length === 0 && state.inUse + need <= this.concurrency) {
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
      await this.passGate(mailboxId);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /** Waits until no announced `Retry-After` of the mailbox is pending. */
  async passGate(mailboxId: string): Promise<void> {
    const state = this.stateOf(mailboxId);
    const started = this.now();
    // The gate may move further out while we sleep (another request got a 429): check again.
    for (let wait = state.notBeforeMs - this.now(); wait > 0; wait = state.notBeforeMs - this.now()) {
      await sleep(wait);
    }
    const waited = this.now() - started;
    if (waited > 0) state.counters.waitedMs += waited;
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

  /** A copy of every mailbox's counters, by mailbox id. */
  stats(): Record<string, MailboxCounters> {
    return Object.fromEntries([...this.mailboxes].map(([id, s]) => [id, { ...s.counters }]));
  }

  private grantWaiting(state: MailboxState): void {
    // Strict FIFO: a heavy waiter at the head is not overtaken, so a $batch cannot starve.
    while (state.waiters.length > 0) {
      const head = state.waiters[0] as Waiter;
      if (state.inUse + head.weight > this.concurrency) return;
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
        waiters: [],
        notBeforeMs: 0,
        counters: { requests: 0, throttled: 0, retries: 0, serverErrors: 0, waitedMs: 0 },
      };
      this.mailboxes.set(key, state);
    }
    return state;
  }
}
