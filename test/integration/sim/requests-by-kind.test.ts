import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { secretGraph, startTestSimulator } from "./clients.js";
import { type ApiTenant, buildApiTenant } from "./mailbox-api-fixture.js";

describe("the simulator's requests by item kind", () => {
  let tenant: ApiTenant;
  let sim: RunningSimulator;
  let graph: Client;

  beforeAll(async () => {
    tenant = await buildApiTenant();
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("attributes delta pages to the folder's kind, exports to their items' kinds, the rest to overhead", async () => {
    const owner = tenant.owner;
    const primary = owner.mailboxFolders.filter((f) => f.mailbox === "primary");
    const idsOf = (type: string, n: number) =>
      primary
        .flatMap((f) => f.items)
        .filter((i) => i.type === type)
        .slice(0, n)
        .map((i) => i.id);
    const events = idsOf("IPM.Appointment", 3);
    const contacts = idsOf("IPM.Contact", 1);
    expect(events).toHaveLength(3);
    expect(contacts).toHaveLength(1);
    const calendar = primary.find((f) => f.type === "IPF.Appointment" && f.items.length > 0);
    const message = owner.folders.flatMap((f) => f.messages)[0];
    if (!calendar || !message) throw new Error("fixture: expected a calendar with items and a message");
    const api = `/admin/exchange/mailboxes/${owner.primaryMailboxId}`;

    sim.resetStats();
    await graph.api(`${api}/exportItems`).post({ itemIds: [...events, ...contacts] });
    await graph.api(`${api}/folders/${calendar.id}/items/delta`).get();
    await graph.api(`/users/${owner.userId}/messages/${message.id}`).get();
    await graph.api(`/users/${owner.userId}/mailFolders`).get();

    const { graph: served } = sim.stats();
    expect(served.requests).toBe(4);
    expect(served.byKind).toEqual({ event: 1.75, contact: 0.25, mail: 1, overhead: 1 });
  });
});
