import { ResponseType } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import {
  clientCredentialToken,
  graphErrorOf,
  graphFor,
  msalFor,
  secretGraph,
  startTestSimulator,
} from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

describe("simulator $select of users and message bodies, usage reports and error-rate faults", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  const noReportsApp = "22222222-3333-4444-8555-666666666666";

  beforeAll(async () => {
    tenant = await buildTestTenant();
    sim = await startTestSimulator({
      store: tenant.store,
      clients: [
        {},
        { clientId: noReportsApp, clientSecret: "no-reports", roles: ["User.Read.All", "Mail.ReadWrite"] },
      ],
    });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("keeps assignedPlans and createdDateTime on users when $select names them", async () => {
    const page = await secretGraph(sim).api("/users").select("id,assignedPlans,createdDateTime").get();
    const byId = new Map<string, Record<string, unknown>>(page.value.map((u: { id: string }) => [u.id, u]));
    const alice = byId.get(tenant.alice.id) as {
      assignedPlans: Array<{ service: string }>;
      createdDateTime: string;
    };
    expect(Object.keys(alice).sort()).toEqual(["assignedPlans", "createdDateTime", "id"]);
    expect(alice.assignedPlans.map((p) => p.service)).toContain("exchange");
    expect(alice.createdDateTime).toMatch(/^20(19|20|21|22)-\d\d-\d\dT09:00:00Z$/);
    // A shared mailbox has no licence, so no plans.
    expect((byId.get(tenant.shared.id) as { assignedPlans: unknown[] }).assignedPlans).toEqual([]);
  });

  it("gives body and uniqueBody on $select (in lists, delta and single reads) and body by default", async () => {
    const graph = secretGraph(sim);
    const inbox = `/users/${tenant.alice.id}/mailFolders/inbox`;
    const listed = await graph.api(`${inbox}/messages`).select("subject,body,uniqueBody").top(2).get();
    for (const m of listed.value) {
      expect(Object.keys(m).sort()).toEqual(["@odata.etag", "body", "id", "subject", "uniqueBody"]);
      expect(m.body).toEqual({ contentType: "text", content: "Hello there." });
    }
    const delta = await graph.api(`${inbox}/messages/delta`).select("body").get();
    expect(delta.value[0].body.content).toBe("Hello there.");
    expect(delta.value[0].uniqueBody).toBeUndefined();
    const byDefault = await graph.api(`/users/${tenant.alice.id}/messages/${listed.value[0].id}`).get();
    expect(byDefault.body).toEqual({ contentType: "text", content: "Hello there." });
    expect(byDefault.uniqueBody).toBeUndefined();
  });

  it("answers the mailbox usage report with 302 to a CSV, 400 for an unknown period, 403 without Reports.Read.All", async () => {
    const graph = secretGraph(sim);
    const csv = (await graph
      .api("/reports/getMailboxUsageDetail(period='D30')")
      .responseType(ResponseType.TEXT)
      .get()) as string;
    const rows = csv
      .split("\r\n")
      .filter(Boolean)
      .map((l) => l.split(","));
    expect(rows[0]).toHaveLength(17);
    const alice = rows.find((r) => r[1] === "alice@contoso.test") as string[];
    // Item Count, Storage Used: the 27 messages of the fixture (25 inbox, 1 receipt, 1 big).
    expect(alice[7]).toBe("27");
    expect(Number(alice[8])).toBeGreaterThan(tenant.bigMessageSize);
    expect(alice[16]).toBe("30");
    // Without following the redirect: a pre-authenticated download URL on another host, then 404 once expired or unknown.
    const raw = await fetch(`${sim.baseUrl}/reports/getMailboxUsageDetail(period='D7')`, {
      redirect: "manual",
      headers: { authorization: `Bearer ${await clientCredentialToken(sim)}` },
    });
    expect(raw.status).toBe(302);
    const location = raw.headers.get("location") as string;
    expect(location).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${sim.port}/data/download/`));
    expect((await fetch(location)).status).toBe(200);
    expect((await fetch(`${location}x`)).status).toBe(404);
    expect((await fetch(location, { headers: { authorization: "Bearer x" } })).status).toBe(401);

    const bad = await graphErrorOf(graph.api("/reports/getMailboxUsageDetail(period='D8')").get());
    expect(bad.statusCode).toBe(400);
    const denied = await graphErrorOf(
      graphFor(sim, msalFor(sim, { clientSecret: "no-reports" }, noReportsApp))
        .api("/reports/getMailboxUsageDetail(period='D7')")
        .get(),
    );
    expect([denied.statusCode, denied.code]).toEqual([403, "Authorization_RequestDenied"]);
  });

  it("answers a share of mailbox requests with 503 at a seeded error rate, the same share on every run", async () => {
    const statuses = async () => {
      sim.faults.serverErrorRate({ rate: 0.5, status: 503, seed: 42 });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) {
        const response = await fetch(`${sim.baseUrl}/users/${tenant.alice.id}/mailFolders`, {
          headers: { authorization: `Bearer ${await clientCredentialToken(sim)}` },
        });
        out.push(response.status);
      }
      sim.faults.clear();
      return out;
    };
    const first = await statuses();
    expect(first.filter((s) => s === 503).length).toBeGreaterThan(5);
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(5);
    expect(await statuses()).toEqual(first);
    expect(sim.faults.pending().serverErrorRate).toBeNull();
  });
});
