import { describe, expect, it } from "vitest";
import { RetriesExhaustedError } from "../../../lib/errors.js";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import {
  GraphAuthorizationError,
  GraphRetryableError,
  ItemNotFoundError,
  MailboxNotFoundError,
  SyncStateLostError,
} from "../../../lib/graph/errors.js";
import { mailboxOfUrl } from "../../../lib/graph/request-policy.js";

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  at: number;
}

type Answer = Response | Error | ((sent: Sent) => Response | Error);

/** A narrow fetch stand-in: answers from a script, records what was sent and when. */
function scriptedFetch(script: Answer[], fallback: () => Response = () => json(200, { ok: true })) {
  const sent: Sent[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const request = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      at: Date.now(),
    };
    sent.push(request);
    const next = script.shift();
    const answer = typeof next === "function" ? next(request) : (next ?? fallback());
    if (answer instanceof Error) throw answer;
    return answer;
  }) as typeof fetch;
  return { sent, fetchImpl };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function graphError(status: number, code: string, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message: "human text that must not matter" } }, headers);
}

function fakeTokens() {
  let n = 0;
  let invalidations = 0;
  const tokens: TokenProvider = {
    async getToken() {
      return `token-${n}`;
    },
    invalidate() {
      invalidations++;
      n++;
    },
  };
  return { tokens, invalidations: () => invalidations };
}

const BASE = "https://graph.example.test/v1.0";

function gatewayWith(script: Answer[], options: { concurrency?: number; budgetMs?: number } = {}) {
  const { sent, fetchImpl } = scriptedFetch(script);
  const auth = fakeTokens();
  const gateway = createGraphGateway({
    tokens: auth.tokens,
    baseUrl: BASE,
    mailboxConcurrency: options.concurrency ?? 4,
    policy: { fetch: fetchImpl, backoffBaseMs: 2, backoffCapMs: 4, budgetMs: options.budgetMs ?? 10_000 },
  });
  return { gateway, sent, auth };
}

describe("mailboxOfUrl", () => {
  it("finds the mailbox of /users/{id}/… and nothing for directory-wide paths", () => {
    expect(mailboxOfUrl("https://h/v1.0/users/ABC-1/messages/x?$select=id")).toBe("abc-1");
    expect(mailboxOfUrl("https://h/v1.0/users/a%40b.test/mailFolders")).toBe("a@b.test");
    expect(mailboxOfUrl("https://h/v1.0/users?$top=999")).toBeUndefined();
    expect(mailboxOfUrl("https://h/v1.0/$batch")).toBeUndefined();
  });
});

describe("request policy", () => {
  it("sends the token and Prefer IdType=ImmutableId on every call, merged with other preferences", async () => {
    const { gateway, sent } = gatewayWith([json(200, { value: [] })]);
    await gateway.get("/users/u1/mailFolders/inbox/messages/delta", {
      headers: { Prefer: "odata.maxpagesize=50" },
    });
    expect(sent[0]?.url).toBe(`${BASE}/users/u1/mailFolders/inbox/messages/delta`);
    expect(sent[0]?.headers.get("authorization")).toBe("Bearer token-0");
    const prefer = sent[0]?.headers.get("prefer") ?? "";
    expect(prefer).toContain('IdType="ImmutableId"');
    expect(prefer).toContain("odata.maxpagesize=50");
  });

  it("closes the whole mailbox after a 429: no request to it goes out before Retry-After", async () => {
    const { gateway, sent } = gatewayWith([
      graphError(429, "ApplicationThrottled", { "Retry-After": "0.15" }),
    ]);
    const first = gateway.get("/users/u1/messages/a");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const others = [gateway.get("/users/u1/messages/b"), gateway.get("/users/u1/messages/c")];
    const elsewhere = gateway.get("/users/u2/messages/z");
    await Promise.all([first, ...others, elsewhere]);
    const throttledAt = sent[0]?.at as number;
    const later = sent.slice(1).filter((s) => s.url.includes("/users/u1/"));
    expect(later).toHaveLength(3);
    for (const s of later) expect(s.at - throttledAt).toBeGreaterThanOrEqual(150);
    const stats = gateway.stats();
    expect(stats.u1).toMatchObject({ requests: 4, throttled: 1, retries: 1 });
    expect(stats.u1?.waitedMs).toBeGreaterThan(0);
    expect(stats.u2).toMatchObject({ requests: 1, throttled: 0 });
  });

  it("holds back requests queued for the mailbox's slot when a 429 arrives: none leaves before Retry-After", async () => {
    const { gateway, sent } = gatewayWith(
      [graphError(429, "ApplicationThrottled", { "Retry-After": "0.2" })],
      { concurrency: 1 },
    );
    // All four are queued before the first answer: three wait for the one slot.
    const calls = Array.from({ length: 4 }, (_, i) => gateway.get(`/users/u1/messages/m${i}`));
    await Promise.all(calls);
    const throttledAt = sent[0]?.at as number;
    expect(sent).toHaveLength(5);
    for (const s of sent.slice(1)) expect(s.at - throttledAt).toBeGreaterThanOrEqual(200);
  });

  it("never has more requests of a mailbox in flight than its concurrency", async () => {
    let inFlight = 0;
    let peak = 0;
    const slow = () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise<Response>((resolve) =>
        setTimeout(() => {
          inFlight--;
          resolve(json(200, { ok: true }));
        }, 5),
      );
    };
    const auth = fakeTokens();
    const gateway = createGraphGateway({
      tokens: auth.tokens,
      baseUrl: BASE,
      mailboxConcurrency: 3,
      policy: { fetch: slow as unknown as typeof fetch },
    });
    await Promise.all(Array.from({ length: 12 }, (_, i) => gateway.get(`/users/u1/messages/m${i}`)));
    expect(peak).toBe(3);
  });

  it("gets a fresh token once after 401 InvalidAuthenticationToken", async () => {
    const { gateway, sent, auth } = gatewayWith([graphError(401, "InvalidAuthenticationToken")]);
    await expect(gateway.get("/users/u1/mailboxSettings")).resolves.toEqual({ ok: true });
    expect(auth.invalidations()).toBe(1);
    expect(sent.map((s) => s.headers.get("authorization"))).toEqual(["Bearer token-0", "Bearer token-1"]);

    const twice = gatewayWith([
      graphError(401, "InvalidAuthenticationToken"),
      graphError(401, "InvalidAuthenticationToken"),
    ]);
    // A token refused twice is the app's credentials: fatal, one clear line, not retried further.
    const refused = await twice.gateway.get("/users/u1/mailboxSettings").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GraphAuthorizationError);
    expect(refused).toMatchObject({ kind: "fatal", status: 401 });
    expect(twice.auth.invalidations()).toBe(1);
  });

  it("retries dropped connections and 5xx with backoff for the retry budget (time, not attempts), then records a RetriesExhaustedError", async () => {
    const reset = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    });
    const ok = gatewayWith([reset, graphError(503, "ServiceUnavailable"), graphError(504, "GatewayTimeout")]);
    await expect(ok.gateway.get("/users/u1/messages/a")).resolves.toEqual({ ok: true });
    expect(ok.gateway.stats().u1).toMatchObject({ requests: 4, retries: 3, serverErrors: 2 });

    // Backoffs of at most 4 ms against a 400 ms budget: many more attempts than the old fixed 6,
    // also on a loaded machine (60 ms once allowed only 6), and fewer than the scripted answers.
    const failing = gatewayWith(
      Array.from({ length: 20_000 }, () => reset),
      { budgetMs: 400 },
    );
    const error = await failing.gateway.get("/users/u1/messages/a").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ kind: "skip" });
    expect((error as Error).message).toMatch(
      /GET \/v1\.0\/users\/u1\/messages\/a.*gave up after \d+ attempts/,
    );
    expect((error as RetriesExhaustedError).attempts).toBe(failing.sent.length);
    expect(failing.sent.length).toBeGreaterThan(6);
    expect((error as RetriesExhaustedError).elapsedMs).toBeGreaterThanOrEqual(350);
  });

  it("stops retrying at the invocation's deadline with the retryable error itself (the task is delivered again)", async () => {
    const failing = gatewayWith(
      Array.from({ length: 500 }, () => graphError(503, "ServiceUnavailable")),
      { budgetMs: 600_000 },
    );
    // 300 ms: room for a second attempt on a loaded machine (40 ms once saw only one), and far
    // fewer than the 500 scripted answers at backoffs of at most 4 ms.
    const deadlineAt = Date.now() + 300;
    const error = await failing.gateway
      .withContext({ deadline: () => deadlineAt })
      .get("/users/u1/messages/a")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRetryableError);
    expect(error).not.toBeInstanceOf(RetriesExhaustedError);
    expect((error as GraphRetryableError).status).toBe(503);
    expect(failing.sent.length).toBeGreaterThan(1);
  });

  it("does not resend a POST after a dropped connection, but does after 429", async () => {
    const reset = new TypeError("fetch failed");
    const post = gatewayWith([reset]);
    await expect(post.gateway.post("/users/u1/mailFolders", { displayName: "x" })).rejects.toBeInstanceOf(
      GraphRetryableError,
    );
    expect(post.sent).toHaveLength(1);

    const throttled = gatewayWith([graphError(429, "TooManyRequests", { "Retry-After": "0" })]);
    await expect(throttled.gateway.post("/users/u1/mailFolders", { displayName: "x" })).resolves.toEqual({
      ok: true,
    });
    expect(throttled.sent).toHaveLength(2);
  });

  it("maps final errors by Graph code into mailstream's classes, not retried", async () => {
    const { gateway, sent } = gatewayWith([
      graphError(404, "ErrorItemNotFound"),
      graphError(404, "MailboxNotEnabledForRESTAPI"),
      graphError(410, "SyncStateNotFound", { Location: `${BASE}/users/u1/mailFolders/f/messages/delta` }),
      graphError(400, "ErrorInvalidIdMalformed"),
    ]);
    await expect(gateway.get("/users/u1/messages/a")).rejects.toBeInstanceOf(ItemNotFoundError);
    await expect(gateway.get("/users/u1/mailboxSettings")).rejects.toBeInstanceOf(MailboxNotFoundError);
    const lost = await gateway.get("/users/u1/mailFolders/f/messages/delta").catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(SyncStateLostError);
    expect((lost as SyncStateLostError).location).toBe(`${BASE}/users/u1/mailFolders/f/messages/delta`);
    await expect(gateway.get("/users/u1/messages/b")).rejects.toMatchObject({
      status: 400,
      code: "ErrorInvalidIdMalformed",
      kind: "skip",
    });
    expect(sent).toHaveLength(4);
  });

  it("hands a Retry-After longer than the in-place limit to the caller, with the gate closed", async () => {
    const { fetchImpl, sent } = scriptedFetch([graphError(429, "TooManyRequests", { "Retry-After": "600" })]);
    const gateway = createGraphGateway({
      tokens: fakeTokens().tokens,
      baseUrl: BASE,
      policy: { fetch: fetchImpl, maxRetryAfterMs: 1000 },
    });
    const error = await gateway.get("/users/u1/messages/a").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRetryableError);
    expect((error as GraphRetryableError).retryAfterMs).toBe(600_000);
    expect(gateway.traffic.notBefore("u1")).toBeGreaterThan(Date.now() + 590_000);
    // Later requests to the closed mailbox fail fast instead of sleeping for minutes.
    const next = await gateway.get("/users/u1/messages/b").catch((e: unknown) => e);
    expect(next).toBeInstanceOf(GraphRetryableError);
    expect((next as GraphRetryableError).retryAfterMs).toBeGreaterThan(590_000);
    expect(sent).toHaveLength(1);
    expect(gateway.traffic.inUse("u1")).toBe(0);
  });

  it("rejects a base URL that is not https or has no version", () => {
    const tokens = fakeTokens().tokens;
    expect(() => createGraphGateway({ tokens, baseUrl: "http://localhost:1/v1.0" })).toThrow(/https/);
    expect(() => createGraphGateway({ tokens, baseUrl: "https://graph.microsoft.com" })).toThrow(/version/);
  });
});
