import { describe, expect, it } from "vitest";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { batchGetAcross, type MailboxGet } from "../../../lib/graph/batch.js";
import { createGraphGateway, type GraphGateway } from "../../../lib/graph/client.js";
import { AccessDeniedError, MailboxNotFoundError } from "../../../lib/graph/errors.js";
import { exchangeMailboxIdsOf } from "../../../lib/graph/mailbox-folders.js";

const BASE = "https://graph.example.test/v1.0";
const tokens: TokenProvider = { getToken: async () => "t", invalidate() {} };

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

interface InnerCall {
  id: string;
  url: string;
}

/** What one inner request (or a single request) of the fake service answers. */
type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/**
 * A fake Graph: single GETs and `$batch` requests, answered by `answer(path, attempt)` (the
 * attempt counts per path). Each batch is recorded with, for each of its mailboxes, the slots
 * the gateway held for that mailbox while the batch was in flight.
 */
function fakeGraph(answer: (path: string, attempt: number) => Answer) {
  const attempts = new Map<string, number>();
  const batches: Array<{ inner: InnerCall[]; slotsHeld: Record<string, number> }> = [];
  const singles: string[] = [];
  let gateway: GraphGateway | undefined;
  const respond = (path: string): Answer => {
    const attempt = (attempts.get(path) ?? 0) + 1;
    attempts.set(path, attempt);
    return answer(path, attempt);
  };
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname === "/v1.0/$batch") {
      const { requests } = JSON.parse(String(init?.body)) as { requests: InnerCall[] };
      const slotsHeld: Record<string, number> = {};
      for (const r of requests) {
        const user = /^\/users\/([^/]+)\//.exec(r.url)?.[1] as string;
        slotsHeld[user] = gateway?.traffic.inUse(user) ?? -1;
      }
      batches.push({ inner: requests, slotsHeld });
      const responses = requests.map((r) => {
        const a = respond(r.url);
        return { id: r.id, status: a.status, headers: a.headers ?? {}, body: a.body };
      });
      // Answers come in any order.
      return json({ responses: responses.reverse() });
    }
    singles.push(url.pathname);
    const a = respond(url.pathname.replace(/^\/v1\.0/, ""));
    return json(a.body, a.status, a.headers);
  }) as typeof fetch;
  gateway = createGraphGateway({ tokens, baseUrl: BASE, policy: { fetch: fetchImpl, backoffBaseMs: 1 } });
  return { gateway, batches, singles, attempts };
}

const ok = (userPurpose: string): Answer => ({ status: 200, body: { userPurpose } });
const notEnabled: Answer = {
  status: 404,
  body: { error: { code: "MailboxNotEnabledForRESTAPI", message: "The mailbox is either inactive." } },
};
const denied: Answer = { status: 403, body: { error: { code: "ErrorAccessDenied", message: "Denied." } } };

function probeAnswers(path: string, attempt: number): Answer {
  const user = /^\/users\/([^/]+)\//.exec(path)?.[1] ?? "";
  if (user === "nomailbox") return notEnabled;
  if (user === "denied") return denied;
  if (user === "throttled" && attempt === 1)
    return {
      status: 429,
      body: { error: { code: "ApplicationThrottled", message: "Over its MailboxConcurrency limit." } },
      headers: { "Retry-After": "0.05" },
    };
  if (user === "flaky" && attempt <= 2)
    return { status: 503, body: { error: { code: "ServiceUnavailable", message: "Try later." } } };
  return ok(user === "room" ? "room" : "user");
}

const probe = (user: string): MailboxGet => ({ url: `/users/${user}/mailboxSettings`, mailboxId: user });

describe("batchGetAcross", () => {
  it("sends the GETs of many mailboxes in batches of at most 20 and answers in the order asked", async () => {
    const users = Array.from({ length: 45 }, (_, i) => `u${i}`);
    const { gateway, batches, singles } = fakeGraph(probeAnswers);
    // Two batches in flight: 45 requests would spread to 23 a batch, so 20 is the cap that binds.
    const answers = await batchGetAcross<{ userPurpose: string }>(gateway, users.map(probe), {
      concurrentBatches: 2,
    });
    expect(batches.map((b) => b.inner.length).sort((x, y) => y - x)).toEqual([20, 20, 5]);
    expect(singles).toEqual([]);
    expect(answers.map((a) => a.url)).toEqual(users.map((u) => `/users/${u}/mailboxSettings`));
    expect(answers.every((a) => a.status === 200 && a.body?.userPurpose === "user")).toBe(true);
    // Each inner request counts once against its own mailbox, none against another.
    for (const user of users) expect(gateway.traffic.peek(user)?.requests).toBe(1);
  });

  it("spreads a few requests over the batches in flight, never fewer than 4 to a batch (Outlook serves 4 at a time)", async () => {
    const sizes = async (count: number) => {
      const { gateway, batches } = fakeGraph(probeAnswers);
      await batchGetAcross(
        gateway,
        Array.from({ length: count }, (_, i) => probe(`u${i}`)),
        { concurrentBatches: 8 },
      );
      return batches.map((b) => b.inner.length).sort((x, y) => y - x);
    };
    // 16 probes in one batch would take four rounds; in four batches, one.
    expect(await sizes(16)).toEqual([4, 4, 4, 4]);
    expect(await sizes(6)).toEqual([4, 2]);
    expect(await sizes(45)).toEqual([6, 6, 6, 6, 6, 6, 6, 3]);
    expect(await sizes(999)).toEqual([...Array.from({ length: 49 }, () => 20), 19]);
  });

  it("holds a slot of each inner request's mailbox while its batch is out, and none after", async () => {
    const { gateway, batches } = fakeGraph(probeAnswers);
    await batchGetAcross(gateway, ["a", "b", "c"].map(probe));
    expect(batches[0]?.slotsHeld).toEqual({ a: 1, b: 1, c: 1 });
    for (const user of ["a", "b", "c"]) expect(gateway.traffic.inUse(user)).toBe(0);
  });

  it("never puts more requests of one mailbox in flight than its concurrency, batches and other requests included", async () => {
    const { gateway, batches } = fakeGraph((path) => ({ status: 200, body: { path } }));
    // Ten reads of mailbox m among others: a batch carries at most 4 of them.
    const gets: MailboxGet[] = [
      ...Array.from({ length: 10 }, (_, i) => ({ url: `/users/m/mailFolders/f${i}`, mailboxId: "m" })),
      ...Array.from({ length: 10 }, (_, i) => probe(`o${i}`)),
    ];
    // Two slots of m are taken by someone else until the first batch is being answered.
    const heldElsewhere = await gateway.traffic.acquire("m", 2);
    let elsewhereReleased = false;
    const running = batchGetAcross<{ path: string }>(gateway, gets, { concurrentBatches: 8 });
    // Let the batches reach the gateway, then give the two slots back.
    await new Promise((resolve) => setImmediate(resolve));
    elsewhereReleased = true;
    heldElsewhere();
    const answers = await running;
    expect(answers.map((a) => a.body?.path)).toEqual(gets.map((g) => g.url));
    for (const batch of batches) {
      const ofM = batch.inner.filter((r) => r.url.startsWith("/users/m/")).length;
      expect(ofM).toBeLessThanOrEqual(4);
      if (ofM > 0) {
        // The slots held for m cover this batch's requests of m and never exceed its concurrency.
        expect(batch.slotsHeld.m).toBeGreaterThanOrEqual(ofM);
        expect(batch.slotsHeld.m).toBeLessThanOrEqual(4);
        // While the other two slots were held, only 2 could have gone out.
        if (!elsewhereReleased) expect(ofM).toBeLessThanOrEqual(2);
      }
    }
    expect(batches.flatMap((b) => b.inner).filter((r) => r.url.startsWith("/users/m/"))).toHaveLength(10);
    expect(gateway.traffic.inUse("m")).toBe(0);
  });

  it("sends inner 429 and 503 answers again in a later batch, after the Retry-After closed that mailbox's gate", async () => {
    const { gateway, batches } = fakeGraph(probeAnswers);
    const before = Date.now();
    const answers = await batchGetAcross<{ userPurpose: string }>(
      gateway,
      ["a", "throttled", "flaky", "b"].map(probe),
      { backoffBaseMs: 1 },
    );
    expect(answers.map((a) => [a.status, a.body?.userPurpose, a.error])).toEqual([
      [200, "user", undefined],
      [200, "user", undefined],
      [200, "user", undefined],
      [200, "user", undefined],
    ]);
    // First batch: all four; then only the ones to send again.
    expect(batches[0]?.inner).toHaveLength(4);
    expect(batches.slice(1).flatMap((b) => b.inner.map((r) => r.url))).toEqual(
      expect.arrayContaining(["/users/throttled/mailboxSettings", "/users/flaky/mailboxSettings"]),
    );
    expect(batches.slice(1).every((b) => b.inner.every((r) => /throttled|flaky/.test(r.url)))).toBe(true);
    const throttled = gateway.traffic.peek("throttled");
    expect(throttled).toMatchObject({ requests: 2, throttled: 1, retries: 1 });
    expect(gateway.traffic.peek("flaky")).toMatchObject({ requests: 3, serverErrors: 2, retries: 2 });
    // The 429 closed the throttled mailbox's gate (its Retry-After plus the margin), nobody else's.
    expect(gateway.traffic.notBefore("throttled")).toBeGreaterThanOrEqual(before + 50);
    expect(gateway.traffic.notBefore("a")).toBe(0);
    // And cost it a slot for a while (as a single request's 429 does).
    expect(gateway.traffic.limit("throttled")).toBe(3);
    expect(gateway.traffic.peek("a")).toMatchObject({ requests: 1, throttled: 0, retries: 0 });
  });

  it("maps inner 404/403 answers to the errors a single request gets, and sends them only once", async () => {
    const { gateway, batches } = fakeGraph(probeAnswers);
    const answers = await batchGetAcross(gateway, ["nomailbox", "denied", "room"].map(probe));
    expect(batches).toHaveLength(1);
    const single = async (user: string) =>
      gateway.get(`/users/${user}/mailboxSettings`).then(
        () => undefined,
        (error: unknown) => error,
      );
    const [missing, refused] = [await single("nomailbox"), await single("denied")];
    expect(answers[0]?.error).toBeInstanceOf(MailboxNotFoundError);
    expect(missing).toBeInstanceOf(MailboxNotFoundError);
    expect(answers[1]?.error).toBeInstanceOf(AccessDeniedError);
    expect(refused).toBeInstanceOf(AccessDeniedError);
    for (const [batched, alone] of [
      [answers[0]?.error, missing],
      [answers[1]?.error, refused],
    ] as const) {
      expect(batched).toMatchObject({
        kind: (alone as MailboxNotFoundError).kind,
        code: (alone as MailboxNotFoundError).code,
        status: (alone as MailboxNotFoundError).status,
      });
    }
    expect(answers[2]).toMatchObject({ status: 200, body: { userPurpose: "room" } });
    expect(answers[2]?.error).toBeUndefined();
  });

  it("gives an inner request that stays throttled past the retry budget its own exhausted error; the others succeed", async () => {
    const { gateway } = fakeGraph((path) =>
      path.startsWith("/users/busy/")
        ? { status: 503, body: { error: { code: "ServiceUnavailable", message: "Later." } } }
        : ok("user"),
    );
    const answers = await batchGetAcross(gateway, ["a", "busy"].map(probe), {
      budgetMs: 30,
      backoffBaseMs: 1,
      backoffCapMs: 5,
    });
    expect(answers[0]).toMatchObject({ status: 200 });
    expect(answers[1]?.status).toBe(503);
    expect(answers[1]?.error).toMatchObject({ name: "RetriesExhaustedError", kind: "skip" });
  });

  it("reads many users' mailbox ids in batches, with each user's own failure", async () => {
    const { gateway, batches } = fakeGraph((path) => {
      const user = /^\/users\/([^/]+)\//.exec(path)?.[1];
      if (user === "gone") return notEnabled;
      if (user === "broken") return { status: 200, body: { primaryMailboxId: "" } };
      return {
        status: 200,
        body: {
          primaryMailboxId: `MBX:${user}@t`,
          inPlaceArchiveMailboxId: user === "arch" ? "MBX:arch-archive@t" : null,
        },
      };
    });
    const ids = await exchangeMailboxIdsOf(gateway, ["plain", "arch", "gone", "broken"]);
    expect(batches).toHaveLength(1);
    expect(ids[0]).toEqual({ primary: "MBX:plain@t" });
    expect(ids[1]).toEqual({ primary: "MBX:arch@t", archive: "MBX:arch-archive@t" });
    expect(ids[2]).toBeInstanceOf(MailboxNotFoundError);
    expect(ids[3]).toBeInstanceOf(TypeError);
    expect((ids[3] as Error).message).toContain("expected a primaryMailboxId");
  });
});
