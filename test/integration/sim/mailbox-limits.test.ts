import { describe, expect, it } from "vitest";
import { msalFor, secretGraph, startTestSimulator, tokenFrom } from "./clients.js";
import { buildApiTenant, folderWith } from "./mailbox-api-fixture.js";

const api = (mailboxId: string) => `/admin/exchange/mailboxes/${mailboxId}`;

describe("Outlook's per-mailbox limits on the mailbox import/export API", () => {
  it("counts /users/{id} and /admin/exchange/mailboxes/{primary} requests against one budget; an archive has its own", async () => {
    const tenant = await buildApiTenant();
    const sim = await startTestSimulator({ store: tenant.store, limits: { budgetPerWindow: 6 } });
    try {
      const graph = secretGraph(sim);
      const { userId, primaryMailboxId, archiveMailboxId } = tenant.owner;
      for (let i = 0; i < 3; i++) {
        await graph.api(`/users/${userId}/mailFolders`).get();
        await graph.api(`${api(primaryMailboxId)}/folders`).get();
      }
      // The Graph client would retry a 429 after Retry-After (the window's rest): ask without it.
      const token = await tokenFrom(msalFor(sim, { clientSecret: sim.clientSecret ?? "" }));
      const over = await fetch(`${sim.baseUrl}${api(primaryMailboxId)}/folders`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(over.status).toBe(429);
      expect(((await over.json()) as { error: { code: string } }).error.code).toBe("TooManyRequests");
      expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
      const archive = await graph.api(`${api(archiveMailboxId as string)}/folders`).get();
      expect(archive.value.length).toBeGreaterThan(0);
      const stats = sim.stats().mailboxes;
      expect(stats[userId]?.requests).toBe(7);
      expect(stats[(archiveMailboxId as string).toLowerCase()]?.requests).toBe(1);
    } finally {
      await sim.close();
    }
  });

  it("counts imported data against the mailbox's upload budget (429 once it is spent)", async () => {
    const tenant = await buildApiTenant();
    const { item, folder } = folderWith(tenant.owner, "IPM.Contact");
    const sim = await startTestSimulator({
      store: tenant.store,
      limits: { uploadBytesPerWindow: item.size + 10 },
    });
    try {
      const graph = secretGraph(sim);
      const mailbox = tenant.owner.primaryMailboxId;
      const exported = await graph.api(`${api(mailbox)}/exportItems`).post({ itemIds: [item.id] });
      const session = await graph.api(`${api(mailbox)}/createImportSession`).post({});
      const post = () =>
        fetch(session.importUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ FolderId: folder.id, Mode: "create", Data: exported.value[0].data }),
        });
      expect((await post()).status).toBe(200);
      const second = await post();
      expect(second.status).toBe(429);
      expect(((await second.json()) as { error: { code: string } }).error.code).toBe("ApplicationThrottled");
      expect(sim.stats().mailboxes[tenant.owner.userId]?.uploadBytesReceived).toBe(item.size);
      expect(sim.stats().mailboxes[tenant.owner.userId]?.exportBytesServed).toBe(item.size);
    } finally {
      await sim.close();
    }
  });

  it("runs at most 4 export requests of one app on one mailbox at once, answering the rest 429 ApplicationThrottled", async () => {
    const tenant = await buildApiTenant();
    // 200 ms per request: 8 requests sent together overlap (timing only makes more of them overlap).
    const sim = await startTestSimulator({ store: tenant.store, latency: { baseMs: 200 } });
    try {
      const token = await tokenFrom(msalFor(sim, { clientSecret: sim.clientSecret ?? "" }));
      const mailbox = tenant.owner.primaryMailboxId;
      const { item } = folderWith(tenant.owner, "IPM.Appointment");
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          fetch(`${sim.baseUrl}${api(mailbox)}/exportItems`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ itemIds: [item.id] }),
          }),
        ),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(4);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(sim.stats().mailboxes[tenant.owner.userId]?.maxInFlight).toBe(4);
      const throttled = answers.find((a) => a.status === 429) as Response;
      expect(((await throttled.json()) as { error: { code: string } }).error.code).toBe(
        "ApplicationThrottled",
      );
    } finally {
      await sim.close();
    }
  });
});
