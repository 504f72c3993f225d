import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { graphErrorOf, secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

interface BatchAnswer {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: { error?: { code: string }; [key: string]: unknown };
}

describe("simulator limits, faults and $batch through the real Graph client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator | undefined;

  beforeAll(async () => {
    tenant = await buildTestTenant();
  });
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it("throttles over the request budget with 429 TooManyRequests; the RetryHandler honours Retry-After (no early retries)", async () => {
    sim = await startTestSimulator({ store: tenant.store, limits: { budgetPerWindow: 3, windowMs: 1500 } });
    const graph = secretGraph(sim);
    const url = `/users/${tenant.alice.id}/mailFolders/inbox`;
    for (let i = 0; i < 5; i++) expect((await graph.api(url).get()).displayName).toBe("Inbox");
    const stats = sim.stats().mailboxes[tenant.alice.id];
    expect(stats?.throttled).toBeGreaterThanOrEqual(1);
    expect(stats?.earlyRetries).toBe(0);
    expect(sim.stats().graph.byStatus["429"]).toBe(stats?.throttled);
  });

  it("throttles over 4 concurrent requests per mailbox with ApplicationThrottled, never running more than the limit", async () => {
    sim = await startTestSimulator({ store: tenant.store, latency: { baseMs: 400 } });
    const graph = secretGraph(sim);
    await graph.api("/users").top(1).get(); // MSAL caches the token: the burst below is Graph calls only
    const results = await Promise.all(
      Array.from({ length: 7 }, () => graph.api(`/users/${tenant.alice.id}/mailFolders/inbox`).get()),
    );
    expect(results.every((r) => r.displayName === "Inbox")).toBe(true);
    const stats = sim.stats().mailboxes[tenant.alice.id];
    expect(stats?.maxInFlight).toBe(4);
    expect(stats?.throttled).toBeGreaterThanOrEqual(1);
    expect(sim.stats().graph.byStatus["429"]).toBe(stats?.throttled);
    expect(stats?.earlyRetries).toBe(0);
  });

  it("counts a retry that ignores Retry-After as an early retry", async () => {
    sim = await startTestSimulator({ store: tenant.store, limits: { budgetPerWindow: 1, windowMs: 60_000 } });
    const token = await (
      (await fetch(sim.tokenEndpoint, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: sim.clientId,
          client_secret: sim.clientSecret ?? "",
          scope: "https://graph.microsoft.com/.default",
        }),
      }).then((r) => r.json())) as { access_token: string }
    ).access_token;
    const call = () =>
      fetch(`${sim?.baseUrl}/users/${tenant.alice.id}/mailFolders/inbox`, {
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await call()).status).toBe(200);
    const throttled = await call();
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await throttled.json()) as { error: { code: string } }).error.code).toBe("TooManyRequests");
    // Past the in-flight grace (50 ms), well before the announced wait ends.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await call()).status).toBe(429);
    expect(sim.stats().mailboxes[tenant.alice.id]?.earlyRetries).toBe(1);
  });

  it("answers a $batch 200 with a 429 inside, each inner answer with its own Retry-After", async () => {
    sim = await startTestSimulator({ store: tenant.store, limits: { budgetPerWindow: 5, windowMs: 60_000 } });
    const graph = secretGraph(sim);
    const requests = Array.from({ length: 8 }, (_, i) => ({
      id: String(i + 1),
      method: "GET",
      url: `/users/${tenant.alice.id}/mailFolders/inbox`,
    }));
    const batch = (await graph.api("/$batch").post({ requests })) as { responses: BatchAnswer[] };
    expect(batch.responses.map((r) => r.id).sort()).toEqual(requests.map((r) => r.id).sort());
    const ok = batch.responses.filter((r) => r.status === 200);
    const throttled = batch.responses.filter((r) => r.status === 429);
    expect(ok).toHaveLength(5);
    expect(throttled).toHaveLength(3);
    for (const r of throttled) {
      expect(Number(r.headers["retry-after"])).toBeGreaterThan(0);
      expect(r.body?.error?.code).toBe("TooManyRequests");
    }
    expect(ok[0]?.body?.displayName).toBe("Inbox");
  });

  it("applies each inner request of a $batch across mailboxes to its own mailbox's limits, as Graph does", async () => {
    // A budget of 2 per mailbox: alice's third read is over hers, the shared mailbox's is not.
    sim = await startTestSimulator({ store: tenant.store, limits: { budgetPerWindow: 2, windowMs: 60_000 } });
    const graph = secretGraph(sim);
    const get = (id: string, url: string) => ({ id, method: "GET", url });
    const batch = (await graph.api("/$batch").post({
      requests: [
        get("a1", `/users/${tenant.alice.id}/mailboxSettings`),
        get("a2", `/users/${tenant.alice.id}/mailboxSettings`),
        get("a3", `/users/${tenant.alice.id}/mailboxSettings`),
        get("s1", `/users/${tenant.shared.id}/mailboxSettings`),
        get("s2", `/users/${tenant.shared.id}/settings/exchange`),
        get("n1", `/users/${tenant.noMailbox.id}/mailboxSettings`),
      ],
    })) as { responses: BatchAnswer[] };
    const byId = new Map(batch.responses.map((r) => [r.id, r]));
    const statusOf = (id: string) => byId.get(id)?.status;
    expect([statusOf("a1"), statusOf("a2"), statusOf("a3")].sort()).toEqual([200, 200, 429]);
    const throttled = [...byId.values()].find((r) => r.status === 429);
    expect(Number(throttled?.headers["retry-after"])).toBeGreaterThan(0);
    expect(statusOf("s1")).toBe(200);
    expect(byId.get("s1")?.body?.userPurpose).toBe("shared");
    expect(statusOf("s2")).toBe(200);
    expect(byId.get("s2")?.body?.primaryMailboxId).toEqual(expect.any(String));
    expect(statusOf("n1")).toBe(404);
    expect(byId.get("n1")?.body?.error?.code).toBe("MailboxNotEnabledForRESTAPI");
    // Counted per inner request against its own mailbox; one round trip (the batch) on the wire.
    const { graph: served, mailboxes } = sim.stats();
    expect(mailboxes[tenant.alice.id]).toMatchObject({ requests: 3, throttled: 1 });
    expect(mailboxes[tenant.shared.id]).toMatchObject({ requests: 2, throttled: 0 });
    expect(served).toMatchObject({ batches: 1, batchedRequests: 6, requests: 7 });
  });

  it("validates batches (at most 20, unique ids, relative urls) and answers 424 for failed dependencies", async () => {
    sim = await startTestSimulator({ store: tenant.store });
    const graph = secretGraph(sim);
    const get = (id: string, url = `/users/${tenant.alice.id}/mailFolders/inbox`) => ({
      id,
      method: "GET",
      url,
    });
    const tooMany = Array.from({ length: 21 }, (_, i) => get(String(i)));
    expect((await graphErrorOf(graph.api("/$batch").post({ requests: tooMany }))).statusCode).toBe(400);
    expect(
      (await graphErrorOf(graph.api("/$batch").post({ requests: [get("a"), get("a")] }))).statusCode,
    ).toBe(400);
    expect(
      (await graphErrorOf(graph.api("/$batch").post({ requests: [get("a", `${sim.baseUrl}/users`)] })))
        .statusCode,
    ).toBe(400);
    const batch = (await graph.api("/$batch").post({
      requests: [
        get("missing", `/users/${tenant.alice.id}/messages/AAMkAGI2nothere`),
        { ...get("after-missing"), dependsOn: ["missing"] },
        get(
          "mime",
          `/users/${tenant.alice.id}/messages/${tenant.store.listMessages(tenant.alice.id, "inbox")[0]?.id}/$value`,
        ),
      ],
    })) as { responses: BatchAnswer[] };
    const byId = new Map(batch.responses.map((r) => [r.id, r]));
    expect(byId.get("missing")?.status).toBe(404);
    expect(byId.get("missing")?.body?.error?.code).toBe("ErrorItemNotFound");
    expect(byId.get("after-missing")?.status).toBe(424);
    expect(Buffer.from(String(byId.get("mime")?.body), "base64").toString("utf8")).toContain(
      "Subject: Inbox message",
    );
  });

  it("queues 503/504 faults (with Retry-After) that the RetryHandler rides out", async () => {
    sim = await startTestSimulator({ store: tenant.store });
    const graph = secretGraph(sim);
    sim.faults.serverError({
      status: 503,
      count: 1,
      retryAfterSeconds: 1,
      mailbox: tenant.alice.userPrincipalName,
    });
    sim.faults.serverError({
      status: 504,
      count: 1,
      retryAfterSeconds: 1,
      pathPattern: "/mailFolders/inbox$",
    });
    expect((await graph.api(`/users/${tenant.alice.id}/mailFolders/inbox`).get()).displayName).toBe("Inbox");
    const { graph: served, mailboxes } = sim.stats();
    expect(served.byStatus["503"]).toBe(1);
    expect(served.byStatus["504"]).toBe(1);
    expect(mailboxes[tenant.alice.id]?.earlyRetries).toBe(0);
  });

  it("drops connections, removes a mailbox mid-job (404) and lists pending faults on the admin endpoint", async () => {
    sim = await startTestSimulator({ store: (await buildTestTenant()).store });
    const graph = secretGraph(sim);
    await fetch(`${sim.authority.replace(/\/[^/]+$/, "")}/_admin/faults`, {
      method: "POST",
      body: JSON.stringify({ action: "dropConnection", count: 1, pathPattern: "/mailboxSettings$" }),
    });
    const pending = (await (
      await fetch(`${sim.authority.replace(/\/[^/]+$/, "")}/_admin/faults`)
    ).json()) as { drops: unknown[] };
    expect(pending.drops).toHaveLength(1);
    await expect(graph.api(`/users/${tenant.alice.id}/mailboxSettings`).get()).rejects.toThrow();
    expect(sim.stats().graph.droppedConnections).toBe(1);
    expect((await graph.api(`/users/${tenant.alice.id}/mailboxSettings`).get()).userPurpose).toBe("user");
    sim.faults.removeMailbox(tenant.alice.userPrincipalName);
    const gone = await graphErrorOf(graph.api(`/users/${tenant.alice.id}/mailFolders`).get());
    expect(gone.statusCode).toBe(404);
  });
});
