/**
 * Per-unit request counts: two pieces of work on one mailbox, their requests started by a shared
 * queue (as a stream's request slots are), each count only the requests they sent — where the
 * gateway's per-mailbox counters hold both.
 */
import PQueue from "p-queue";
import { describe, expect, it } from "vitest";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import { type RequestTally, tallyRequests } from "../../../lib/graph/request-tally.js";

const BASE = "https://graph.example.test/v1.0";

const tokens: TokenProvider = { getToken: async () => "token", invalidate: () => {} };

/** Answers 200 after a short wait, and one 429 (Retry-After 0) to the path named `throttle`. */
function gatewayOn(mailboxConcurrency = 4) {
  let throttledOnce = false;
  const fetchImpl = (async (input: string | URL | Request) => {
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (String(input).includes("throttle") && !throttledOnce) {
      throttledOnce = true;
      return new Response(JSON.stringify({ error: { code: "TooManyRequests" } }), {
        status: 429,
        headers: { "content-type": "application/json", "Retry-After": "0" },
      });
    }
    return new Response(JSON.stringify({ value: [] }), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  }) as typeof fetch;
  return createGraphGateway({
    tokens,
    baseUrl: BASE,
    mailboxConcurrency,
    policy: { fetch: fetchImpl, backoffBaseMs: 1, backoffCapMs: 2, budgetMs: 5_000 },
  });
}

describe("request tally", () => {
  it("counts each work's own requests and 429s, though a shared queue starts them from the other's callbacks", async () => {
    const gateway = gatewayOn();
    // One slot for both: every request after the first is started from the end of the one before,
    // often the other work's.
    const slots = new PQueue({ concurrency: 1 });
    const a: RequestTally = { requests: 0, throttled: 0 };
    const b: RequestTally = { requests: 0, throttled: 0 };
    const send = (tally: RequestTally, path: string) =>
      slots.add(() => tallyRequests(tally, () => gateway.get(`/users/u1/${path}`)));
    await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => send(a, `messages/a${i}`)),
      ...Array.from({ length: 3 }, (_, i) => send(b, i === 1 ? "messages/throttle" : `messages/b${i}`)),
    ]);
    // b's throttled request was sent twice (the 429, then its retry).
    expect(a).toEqual({ requests: 5, throttled: 0 });
    expect(b).toEqual({ requests: 4, throttled: 1 });
    // The mailbox's counters hold both works' requests: what each unit used to report.
    expect(gateway.traffic.peek("u1")).toMatchObject({ requests: 9, throttled: 1 });
  });

  it("counts nothing for requests sent outside a tally, and the innermost tally when nested", async () => {
    const gateway = gatewayOn();
    const outer: RequestTally = { requests: 0, throttled: 0 };
    const inner: RequestTally = { requests: 0, throttled: 0 };
    await gateway.get("/users/u2/messages/x");
    await tallyRequests(outer, async () => {
      await gateway.get("/users/u2/messages/y");
      await tallyRequests(inner, () => gateway.get("/users/u2/messages/z"));
    });
    expect(outer).toEqual({ requests: 1, throttled: 0 });
    expect(inner).toEqual({ requests: 1, throttled: 0 });
    expect(gateway.traffic.peek("u2")?.requests).toBe(3);
  });
});
