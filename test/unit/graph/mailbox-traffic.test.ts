import { describe, expect, it } from "vitest";
import { FORGET_FROM, MailboxTraffic } from "../../../lib/graph/mailbox-traffic.js";

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records `name` in `order` when the slot is granted, passing the release function on. */
function noting(order: string[], name: string) {
  return (release: () => void) => {
    order.push(name);
    return release;
  };
}

describe("MailboxTraffic slots", () => {
  it("lets at most `concurrency` requests of a mailbox through, FIFO, and other mailboxes freely", async () => {
    const traffic = new MailboxTraffic({ concurrency: 2 });
    const order: string[] = [];
    const a = await traffic.acquire("MBX-1");
    const b = await traffic.acquire("mbx-1");
    const c = traffic.acquire("mbx-1").then(noting(order, "c"));
    const d = traffic.acquire("mbx-1").then(noting(order, "d"));
    const other = await traffic.acquire("mbx-2");
    await settle();
    expect(order).toEqual([]);
    expect(traffic.inUse("mbx-1")).toBe(2);
    a();
    a(); // releasing twice gives back one slot only
    await settle();
    expect(order).toEqual(["c"]);
    b();
    await settle();
    expect(order).toEqual(["c", "d"]);
    (await c)();
    (await d)();
    other();
    expect(traffic.inUse("mbx-1")).toBe(0);
    expect(traffic.inUse("mbx-2")).toBe(0);
  });

  it("holds a heavy request at the head until enough slots are free, without being overtaken", async () => {
    const traffic = new MailboxTraffic({ concurrency: 4 });
    const first = await traffic.acquire("m");
    const order: string[] = [];
    const batch = traffic.acquire("m", 4).then(noting(order, "batch"));
    const small = traffic.acquire("m").then(noting(order, "small"));
    await settle();
    expect(order).toEqual([]);
    first();
    await settle();
    expect(order).toEqual(["batch"]);
    (await batch)();
    await settle();
    expect(order).toEqual(["batch", "small"]);
    (await small)();
  });
});

describe("MailboxTraffic adaptive slot limit", () => {
  it("takes one slot of a mailbox away on each 429 and gives them back one by one after successes", async () => {
    const traffic = new MailboxTraffic({ concurrency: 4 });
    traffic.throttled("mbx-1");
    expect(traffic.limit("mbx-1")).toBe(3);
    traffic.throttled("mbx-1");
    traffic.throttled("mbx-1");
    traffic.throttled("mbx-1");
    expect(traffic.limit("mbx-1")).toBe(1);
    expect(traffic.limit("mbx-2")).toBe(4);

    // With one slot left, a second request waits until the first is done.
    const order: string[] = [];
    const first = await traffic.acquire("mbx-1");
    const second = traffic.acquire("mbx-1").then(noting(order, "second"));
    await settle();
    expect(order).toEqual([]);
    first();
    await settle();
    expect(order).toEqual(["second"]);
    (await second)();

    // 16 successes in a row give one slot back; a 429 on the way starts the count again.
    for (let i = 0; i < 15; i++) traffic.succeeded("mbx-1");
    traffic.throttled("mbx-1");
    for (let i = 0; i < 15; i++) traffic.succeeded("mbx-1");
    expect(traffic.limit("mbx-1")).toBe(1);
    traffic.succeeded("mbx-1");
    expect(traffic.limit("mbx-1")).toBe(2);
    for (let i = 0; i < 100; i++) traffic.succeeded("mbx-1");
    expect(traffic.limit("mbx-1")).toBe(4);
  });

  it("lets a heavy request run alone when the limit fell below its weight", async () => {
    const traffic = new MailboxTraffic({ concurrency: 4 });
    for (let i = 0; i < 3; i++) traffic.throttled("mbx-1");
    const batch = await traffic.acquire("mbx-1", 4);
    const order: string[] = [];
    const single = traffic.acquire("mbx-1").then(noting(order, "single"));
    await settle();
    expect(order).toEqual([]);
    batch();
    await settle();
    expect(order).toEqual(["single"]);
    (await single)();
  });
});

describe("MailboxTraffic gate", () => {
  it("lets no request of the mailbox start before the announced time, even one already queued", async () => {
    const traffic = new MailboxTraffic({ concurrency: 4 });
    traffic.holdBack("m", 60);
    const notBefore = traffic.notBefore("m");
    traffic.holdBack("m", 10); // a shorter announcement never opens the gate earlier
    expect(traffic.notBefore("m")).toBe(notBefore);
    const started: number[] = [];
    await Promise.all(
      [1, 2, 3].map(async () => {
        const release = await traffic.acquire("m");
        started.push(Date.now());
        release();
      }),
    );
    const other = Date.now();
    for (const t of started) expect(t).toBeGreaterThanOrEqual(notBefore);
    expect(traffic.counters("m").waitedMs).toBeGreaterThan(0);
    // Another mailbox is not held back by this one's gate.
    const release = await traffic.acquire("n");
    release();
    expect(traffic.counters("n").waitedMs).toBe(0);
    expect(other).toBeGreaterThanOrEqual(notBefore);
  });

  it("keeps every window under the request budget, counting a batch's inner requests", async () => {
    const traffic = new MailboxTraffic({ concurrency: 4, requestsPerWindow: 5, windowMs: 80 });
    const sendTimes: number[] = [];
    // The times the gate recorded the sends at: a caller resumes after the gate's turn, later on
    // a loaded machine, so its own Date.now() would measure the event loop, not the budget
    // (79 ms between sends 5 apart, once in CI on 2026-12-07).
    const send = async (n: number) => {
      const at = await traffic.passGate("m", n);
      for (let i = 0; i < n; i++) sendTimes.push(at);
    };
    await send(3);
    await Promise.all([send(1), send(1), send(1), send(2), send(1)]);
    expect(sendTimes).toHaveLength(9);
    // Sliding check: no 80 ms interval holds more than 5 sends.
    const sorted = [...sendTimes].sort((a, b) => a - b);
    for (let i = 5; i < sorted.length; i++)
      expect((sorted[i] as number) - (sorted[i - 5] as number)).toBeGreaterThanOrEqual(80);
    expect(traffic.counters("m").waitedMs).toBeGreaterThan(0);
  });

  it("rejects a concurrency outside 1–64", () => {
    expect(() => new MailboxTraffic({ concurrency: 0 })).toThrow(/from 1 to 64, found 0/);
  });
});

describe("MailboxTraffic memory", () => {
  it("forgets mailboxes idle for a whole window once it knows FORGET_FROM, and keeps every busy one", async () => {
    let now = 1_000_000;
    const traffic = new MailboxTraffic({
      concurrency: 4,
      requestsPerWindow: 100,
      windowMs: 1000,
      now: () => now,
    });
    const held = await traffic.acquire("held");
    await traffic.passGate("recent", 1);
    traffic.throttled("slowed");
    traffic.holdBack("gated", 60_000);
    traffic.counters("held").requests = 7;
    traffic.counters("fresh");
    now += 500;
    for (let i = 0; traffic.known < FORGET_FROM; i++) await traffic.passGate(`old-${i}`, 1);
    now += 1100; // the old ones' sends (and "recent"'s) left the window; "fresh" sends now
    await traffic.passGate("fresh", 1);
    // The map reached FORGET_FROM: meeting one more mailbox forgets the idle ones.
    traffic.counters("new");
    expect(traffic.peek("old-0")).toBeUndefined();
    expect(traffic.peek("recent")).toBeUndefined();
    expect(traffic.peek("held")?.requests).toBe(7);
    expect(traffic.limit("slowed")).toBe(3);
    expect(traffic.notBefore("gated")).toBeGreaterThan(now);
    expect(traffic.peek("fresh")).toBeDefined();
    expect(traffic.known).toBe(5);
    held();
  });

  it("keeps the budget of a mailbox whose sends are still inside the window", async () => {
    let now = 0;
    const traffic = new MailboxTraffic({ requestsPerWindow: 2, windowMs: 10_000, now: () => now });
    await traffic.passGate("busy", 2);
    for (let i = 0; traffic.known < FORGET_FROM; i++) traffic.counters(`idle-${i}`);
    now += 20;
    traffic.counters("another");
    await expect(traffic.passGate("busy", 1, 100)).rejects.toThrow(/held back/);
  });
});
