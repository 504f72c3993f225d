/**
 * Per-unit request counts through a gateway view bound to the unit's context: two pieces of work
 * on one mailbox, their requests started by a shared queue (as a stream's request slots are),
 * each count only the requests they sent — where the gateway's per-mailbox counters hold both.
 */
import PQueue from "p-queue";
import { describe, expect, it } from "vitest";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { batchGet } from "../../../lib/graph/batch.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import type { RequestTally } from "../../../lib/graph/request-context.js";

const BASE = "https://graph.example.test/v1.0";

const tokens: TokenProvider = { getToken: async () => "token", invalidate: () => {} };

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/**
 * Answers 200 after a short wait, and one 429 (Retry-After 0) to the path named `throttle`; a
 * `$batch` answers each inner request 200, except one 429 to the first inner `throttle`.
 */
function gatewayOn(mailboxConcurrency = 4) {
  let throttledOnce = false;
  let innerThrottledOnce = false;
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (String(input).endsWith("/$batch")) {
      const { requests } = JSON.parse(String(init?.body)) as { requests: Array<{ id: string; url: string }> };
      return json({
        responses: requests.map((r) => {
          if (r.url.includes("throttle") && !innerThrottledOnce) {
            innerThrottledOnce = true;
            return { id: r.id, status: 429, headers: { "Retry-After": "0" }, body: {} };
          }
          return { id: r.id, status: 200, body: { id: r.url } };
        }),
      });
    }
    if (String(input).includes("throttle") && !throttledOnce) {
      throttledOnce = true;
      return json({ error: { code: "TooManyRequests" } }, 429, { "Retry-After": "0" });
    }
    return json({ value: [] });
  }) as typeof fetch;
  return createGraphGateway({
    tokens,
    baseUrl: BASE,
    mailboxConcurrency,
    policy: { fetch: fetchImpl, backoffBaseMs: 1, backoffCapMs: 2, budgetMs: 5_000 },
  });
}

const emptyTally = (): RequestTally => ({ requests: 0, throttled: 0 });

describe("request context", () => {
  it("counts each work's own requests and 429s, though a shared queue starts them from the other's callbacks", async () => {
    const gateway = gatewayOn();
    // One slot for both: every request after the first is started from the end of the one before,
    // often the other work's.
    const slots = new PQueue({ concurrency: 1 });
    const a = emptyTally();
    const b = emptyTally();
    const viewA = gateway.withContext({ tally: a });
    const viewB = gateway.withContext({ tally: b });
    const send = (view: typeof gateway, path: string) => slots.add(() => view.get(`/users/u1/${path}`));
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => send(viewA, `messages/a${i}`)),
      ...Array.from({ length: 3 }, (_, i) => send(viewB, i === 1 ? "messages/throttle" : `messages/b${i}`)),
    ]);
    // b's throttled request was sent twice (the 429, then its retry).
    expect(a).toEqual({ requests: 5, throttled: 0 });
    expect(b).toEqual({ requests: 4, throttled: 1 });
    // The mailbox's counters hold both works' requests: what each unit used to report.
    expect(gateway.traffic.peek("u1")).toMatchObject({ requests: 9, throttled: 1 });
  });

  it("counts nothing for the process's gateway, and only the newest context of a view of a view", async () => {
    const gateway = gatewayOn();
    const outer = emptyTally();
    const inner = emptyTally();
    const outerView = gateway.withContext({ tally: outer });
    await gateway.get("/users/u2/messages/x");
    await outerView.get("/users/u2/messages/y");
    await outerView.withContext({ tally: inner }).get("/users/u2/messages/z");
    expect(gateway.context).toBeUndefined();
    expect(outer).toEqual({ requests: 1, throttled: 0 });
    expect(inner).toEqual({ requests: 1, throttled: 0 });
    expect(gateway.traffic.peek("u2")?.requests).toBe(3);
  });

  it("counts a $batch's inner requests and inner 429s, including those sent again", async () => {
    const gateway = gatewayOn();
    const tally = emptyTally();
    const urls = ["/users/u3/messages/m1", "/users/u3/messages/throttle", "/users/u3/messages/m3"];
    const answers = await batchGet(gateway.withContext({ tally }), "u3", urls, {
      backoffBaseMs: 1,
      backoffCapMs: 2,
    });
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    // Three inner requests, then the throttled one again in a second batch.
    expect(tally).toEqual({ requests: 4, throttled: 1 });
    expect(gateway.traffic.peek("u3")).toMatchObject({ requests: 4, throttled: 1 });
  });

  it("cuts a view's longest wait in place to its deadline", () => {
    const gateway = gatewayOn();
    expect(gateway.maxWaitMs()).toBe(120_000);
    const deadlineAt = Date.now() + 5_000;
    const wait = gateway.withContext({ deadline: () => deadlineAt }).maxWaitMs();
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(5_000);
    expect(gateway.withContext({ deadline: () => Date.now() - 1 }).maxWaitMs()).toBe(0);
  });
});
