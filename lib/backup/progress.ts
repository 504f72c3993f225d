/** The six counters of a unit's progress, and their arithmetic. */
import type { MailSource, RequestCount, UnitProgress } from "./ports.js";

export function emptyProgress(): UnitProgress {
  return { items: 0, bytes: 0, removed: 0, deduplicated: 0, requests: 0, throttled: 0 };
}

export function addProgress(into: UnitProgress, delta: UnitProgress): void {
  into.items += delta.items;
  into.bytes += delta.bytes;
  into.removed += delta.removed;
  into.deduplicated += delta.deduplicated;
  into.requests += delta.requests;
  into.throttled += delta.throttled;
}

/** Graph traffic of the unit's mailbox since the last reading: what each checkpoint adds. */
export function trafficMeter(source: MailSource, mailboxId: string): (into: UnitProgress) => void {
  const read = () => source.traffic?.(mailboxId) ?? { requests: 0, throttled: 0 };
  let last = read();
  return (into) => {
    const now = read();
    // Counters below the last reading started again from 0 (the gateway forgot the mailbox
    // after a whole budget window idle): everything they hold is new. Every 429 was a request,
    // so the request count tells.
    const since = now.requests < last.requests ? { requests: 0, throttled: 0 } : last;
    into.requests += now.requests - since.requests;
    into.throttled += Math.max(0, now.throttled - since.throttled);
    last = now;
  };
}

/**
 * The unit's own Graph traffic since the last reading, from the tally its requests were counted
 * in (its `MailSource.withContext` view): what each checkpoint adds. Unlike `trafficMeter`, it holds no
 * request of another unit of the same mailbox running at once.
 */
export function tallyMeter(tally: Readonly<RequestCount>): (into: UnitProgress) => void {
  let last = { ...tally };
  return (into) => {
    into.requests += tally.requests - last.requests;
    into.throttled += tally.throttled - last.throttled;
    last = { ...tally };
  };
}
