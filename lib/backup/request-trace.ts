/**
 * Where a unit's Graph requests spend their time, for benchmarks and diagnosis: each request a
 * unit runs is published on the diagnostics channel {@link REQUEST_SLOT_CHANNEL} when it is
 * queued for one of the unit's request slots, when it takes the slot, and when it gives it back.
 * Nothing is published (and nothing allocated) while nobody subscribes.
 */
import { channel } from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";

/** The diagnostics channel of the unit's request slots (`node:diagnostics_channel`). */
export const REQUEST_SLOT_CHANNEL = "mailstream:unit-request-slot";

/** What a unit's request is for. */
export type RequestKind = "delta-page" | "item-page" | "export" | "export-streamed" | "mime";

export interface RequestSlotEvent {
  /** `queued`: waits for a slot; `start`: holds one; `end`: gave it back (`ok` false: it failed). */
  phase: "queued" | "start" | "end";
  /** The request's number in the process (the same in its three events). */
  id: number;
  kind: RequestKind;
  mailboxId: string;
  unit: number;
  /** `performance.now()` at the event, ms. */
  at: number;
  ok?: boolean;
}

const slotChannel = channel(REQUEST_SLOT_CHANNEL);
let sequence = 0;

/**
 * `enqueue(run)` as it is, or, while someone subscribes to the channel, with the request's
 * queued, start and end events around it.
 */
export function traceSlot<T>(
  what: { kind: RequestKind; mailboxId: string; unit: number },
  run: () => Promise<T>,
  enqueue: (run: () => Promise<T>) => Promise<T>,
): Promise<T> {
  if (!slotChannel.hasSubscribers) return enqueue(run);
  const id = ++sequence;
  const publish = (phase: RequestSlotEvent["phase"], ok?: boolean) =>
    slotChannel.publish({ phase, id, ...what, at: performance.now(), ...(ok === undefined ? {} : { ok }) });
  publish("queued");
  return enqueue(async () => {
    publish("start");
    try {
      const result = await run();
      publish("end", true);
      return result;
    } catch (error) {
      publish("end", false);
      throw error;
    }
  });
}
