import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterEach, describe, expect, it } from "vitest";
import { REQUEST_SLOT_CHANNEL, type RequestSlotEvent, traceSlot } from "../../../lib/backup/request-trace.js";

describe("traceSlot", () => {
  const events: RequestSlotEvent[] = [];
  const listener = (message: unknown) => events.push(message as RequestSlotEvent);
  afterEach(() => {
    unsubscribe(REQUEST_SLOT_CHANNEL, listener);
    events.length = 0;
  });

  it("publishes nothing and runs the request as it is while nobody subscribes", async () => {
    let enqueued = 0;
    const run = async () => 7;
    const result = await traceSlot({ kind: "export", mailboxId: "m", unit: 1 }, run, (r) => {
      enqueued++;
      expect(r).toBe(run);
      return r();
    });
    expect(result).toBe(7);
    expect(enqueued).toBe(1);
    expect(events).toEqual([]);
  });

  it("publishes queued when enqueued, start when the slot runs it, end with its outcome", async () => {
    subscribe(REQUEST_SLOT_CHANNEL, listener);
    let runQueued!: () => void;
    const slot = new Promise<void>((resolve) => (runQueued = resolve));
    const enqueue = async <T>(r: () => Promise<T>) => {
      await slot;
      return r();
    };
    const ok = traceSlot({ kind: "item-page", mailboxId: "m", unit: 2 }, async () => "page", enqueue);
    const failed = traceSlot(
      { kind: "export", mailboxId: "m", unit: 2 },
      async () => {
        throw new Error("refused");
      },
      enqueue,
    );
    expect(events.map((e) => e.phase)).toEqual(["queued", "queued"]);
    runQueued();
    await expect(ok).resolves.toBe("page");
    await expect(failed).rejects.toThrow("refused");
    const first = events.filter((e) => e.id === events[0]!.id);
    const second = events.filter((e) => e.id === events[1]!.id);
    expect(first.map((e) => [e.phase, e.kind, e.unit, e.ok])).toEqual([
      ["queued", "item-page", 2, undefined],
      ["start", "item-page", 2, undefined],
      ["end", "item-page", 2, true],
    ]);
    expect(second.map((e) => [e.phase, e.ok])).toEqual([
      ["queued", undefined],
      ["start", undefined],
      ["end", false],
    ]);
    expect(first[0]!.id).not.toBe(second[0]!.id);
  });
});
