import { afterEach, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { RetriesExhaustedError } from "../../../lib/errors.js";
import { batchGet } from "../../../lib/graph/batch.js";
import { folderDeltaPages } from "../../../lib/graph/delta.js";
import type { GraphRetryableError } from "../../../lib/graph/errors.js";
import { openMime } from "../../../lib/graph/mime.js";
import { buildTenant, gatewayFor, startSim } from "./fixture.js";

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe("throttled mailbox", () => {
  it("completes with zero early requests and counts every 429 the service sent", async () => {
    const tenant = buildTenant({ inboxMessages: 40, bigMessageBytes: 64 * 1024 });
    // 30 requests per 2-second window for ~90 requests: the budget runs out several times.
    sim = await startSim(tenant.store, { concurrentPerMailbox: 2, budgetPerWindow: 30, windowMs: 2000 });
    const gateway = gatewayFor(sim, { mailboxConcurrency: 2 });
    const userId = tenant.alice.id;
    const messages = tenant.store.listMessages(userId, tenant.inboxId);

    const single = Promise.all(
      messages.map(async (m) => {
        const got = await gateway.get<{ id: string }>(`/users/${userId}/messages/${m.id}`, {
          query: { $select: "id" },
        });
        return got.id;
      }),
    );
    const batched = batchGet<{ id: string }>(
      gateway,
      userId,
      messages.slice(0, 20).map((m) => `/users/${userId}/messages/${m.id}?$select=id`),
    );
    const delta = (async () => {
      const ids: string[] = [];
      for await (const page of folderDeltaPages(gateway, userId, tenant.inboxId, { pageSize: 10 })) {
        ids.push(...page.upserts.map((m) => m.id));
      }
      return ids;
    })();
    const [singleIds, batchAnswers, deltaIds] = await Promise.all([single, batched, delta]);

    expect(singleIds).toEqual(messages.map((m) => m.id));
    expect(batchAnswers.map((a) => a.body?.id)).toEqual(messages.slice(0, 20).map((m) => m.id));
    expect(new Set(deltaIds)).toEqual(new Set(messages.map((m) => m.id)));

    const served = sim.stats().mailboxes[userId.toLowerCase()] ?? sim.stats().mailboxes[userId];
    const ours = gateway.stats()[userId.toLowerCase()];
    expect(served?.throttled).toBeGreaterThan(0);
    expect(served?.earlyRetries).toBe(0);
    expect(ours?.throttled).toBe(served?.throttled);
    expect(ours?.requests).toBe(served?.requests);
    expect(ours?.retries).toBeGreaterThanOrEqual(1);
    expect(ours?.waitedMs).toBeGreaterThan(0);
  });
});

describe("mailbox budget", () => {
  it("a gateway that knows the service's budget is never throttled for it", async () => {
    const tenant = buildTenant({ inboxMessages: 40, bigMessageBytes: 1024 });
    // The gateway's window is 1.5 s longer than the simulator's: a request counts in the
    // simulator's window when it arrives, and on a loaded machine requests sent within one of the
    // gateway's windows arrive spread over more (a margin of 0.1 s saw 2 throttled under load).
    sim = await startSim(tenant.store, { budgetPerWindow: 25, windowMs: 1000 });
    const gateway = gatewayFor(sim, { mailboxRequestsPerWindow: 25, mailboxBudgetWindowMs: 2500 });
    const userId = tenant.alice.id;
    const messages = tenant.store.listMessages(userId, tenant.inboxId);
    const [ids, answers] = await Promise.all([
      Promise.all(
        messages.map((m) =>
          gateway.get<{ id: string }>(`/users/${userId}/messages/${m.id}`).then((r) => r.id),
        ),
      ),
      batchGet<{ id: string }>(
        gateway,
        userId,
        messages.slice(0, 15).map((m) => `/users/${userId}/messages/${m.id}?$select=id`),
      ),
    ]);
    expect(ids).toEqual(messages.map((m) => m.id));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const served = sim.stats().mailboxes[userId];
    expect(served?.requests).toBe(55);
    expect(served?.throttled).toBe(0);
    expect(gateway.stats()[userId.toLowerCase()]?.waitedMs).toBeGreaterThan(0);
  });
});

describe("faults", () => {
  it("retries 503 with Retry-After, dropped connections and an expired token, and succeeds", async () => {
    const tenant = buildTenant({ inboxMessages: 3, bigMessageBytes: 64 * 1024 });
    sim = await startSim(tenant.store);
    const gateway = gatewayFor(sim, { policy: { backoffBaseMs: 10 } });
    const userId = tenant.alice.id;
    const path = `/users/${userId}/mailFolders/inbox`;

    sim.faults.serverError({ status: 503, count: 2, retryAfterSeconds: 1, mailbox: userId });
    const folder = await gateway.get<{ id: string }>(path);
    expect(folder.id).toBe(tenant.inboxId);
    expect(sim.stats().mailboxes[userId]?.earlyRetries ?? 0).toBe(0);

    sim.faults.dropConnection({ count: 2, mailbox: userId });
    expect((await gateway.get<{ id: string }>(path)).id).toBe(tenant.inboxId);

    const tokenRequestsBefore = sim.stats().auth.tokenRequests;
    sim.faults.expireTokens();
    expect((await gateway.get<{ id: string }>(path)).id).toBe(tenant.inboxId);
    expect(sim.stats().auth.tokenRequests).toBe(tokenRequestsBefore + 1);

    const stream = await openMime(gateway, userId, tenant.bigMessageId);
    let bytes = 0;
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    expect(bytes).toBe(64 * 1024);

    const counters = gateway.stats()[userId.toLowerCase()];
    expect(counters?.serverErrors).toBe(2);
    expect(counters?.retries).toBe(5);
  });

  it("gives up when the retry budget (time, not attempts) is spent, with a RetriesExhaustedError naming the answer", async () => {
    const tenant = buildTenant({ inboxMessages: 1, bigMessageBytes: 1024 });
    sim = await startSim(tenant.store);
    const gateway = gatewayFor(sim, { policy: { budgetMs: 300, backoffBaseMs: 5, backoffCapMs: 20 } });
    sim.faults.serverError({ status: 504, count: 10_000, mailbox: tenant.alice.id });
    const error = await gateway.get(`/users/${tenant.alice.id}/mailFolders/inbox`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect((error as Error).message).toMatch(/answered 504 GatewayTimeout.*gave up after \d+ attempts/);
    expect(((error as Error).cause as GraphRetryableError).status).toBe(504);
    const requests = gateway.stats()[tenant.alice.id.toLowerCase()]?.requests ?? 0;
    expect(requests).toBe((error as RetriesExhaustedError).attempts);
    expect(requests).toBeGreaterThan(6);
    sim.faults.clear();
  });
});
