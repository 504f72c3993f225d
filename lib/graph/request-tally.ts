/**
 * Graph requests counted for one piece of work (a unit of a backup), whatever else runs in the
 * process: the gateway's counters are per mailbox, so two units of one mailbox running at once
 * (planned slot shares) each saw the other's requests in them. Work run inside
 * `tallyRequests(tally, work)` has every request the gateway sends for it (each attempt, inner
 * requests of a `$batch` each, as the mailbox's counters count them) and every 429 added to
 * `tally`, through the async context (AsyncLocalStorage), so a request counts for the work that
 * sent it even when a shared queue starts it from another unit's callback.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface RequestTally {
  requests: number;
  throttled: number;
}

const current = new AsyncLocalStorage<RequestTally>();

/** Runs `work` with the requests it sends counted in `tally` (nested: the innermost counts). */
export function tallyRequests<T>(tally: RequestTally, work: () => T): T {
  return current.run(tally, work);
}

/** `n` requests sent (the gateway, where it counts them against their mailbox). */
export function tallySent(n: number): void {
  const tally = current.getStore();
  if (tally) tally.requests += n;
}

/** A 429 answer (the gateway, where it counts it against the mailbox). */
export function tallyThrottled(): void {
  const tally = current.getStore();
  if (tally) tally.throttled++;
}
