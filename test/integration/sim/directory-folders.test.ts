import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import {
  clientCredentialToken,
  graphErrorOf,
  PREFER_IMMUTABLE,
  secretGraph,
  startTestSimulator,
} from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

interface FolderJson {
  id: string;
  displayName: string;
  parentFolderId: string;
  childFolderCount: number;
  totalItemCount: number;
  unreadItemCount: number;
  isHidden: boolean;
  "@odata.type"?: string;
  singleValueExtendedProperties?: Array<{ id: string; value: string }>;
}

async function allPages<T>(
  graph: Client,
  first: { value: T[]; "@odata.nextLink"?: string },
): Promise<{ items: T[]; pages: number }> {
  const items = [...first.value];
  let pages = 1;
  let next = first["@odata.nextLink"];
  while (next) {
    const page = await graph.api(next).header("Prefer", PREFER_IMMUTABLE).get();
    items.push(...page.value);
    pages++;
    next = page["@odata.nextLink"];
  }
  return { items, pages };
}

describe("simulator directory and folders through the real Graph client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let graph: Client;

  beforeAll(async () => {
    tenant = await buildTestTenant({ extraUsers: 250 });
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("pages /users to the end with the default page of 100 and with $top", async () => {
    const byDefault = await allPages<{ id: string }>(graph, await graph.api("/users").get());
    expect(byDefault.pages).toBe(Math.ceil(tenant.userCount / 100));
    expect(new Set(byDefault.items.map((u) => u.id)).size).toBe(tenant.userCount);
    const selected = await allPages<{ id: string }>(
      graph,
      await graph.api("/users").top(999).select("id,userPrincipalName,assignedLicenses").get(),
    );
    expect(selected.pages).toBe(1);
    const shared = selected.items.find((u) => u.id === tenant.shared.id) as Record<string, unknown>;
    expect(shared).toEqual({
      id: tenant.shared.id,
      userPrincipalName: "support@contoso.test",
      assignedLicenses: [],
    });
  });

  it("refuses $top above 999 and mailboxSettings on the collection", async () => {
    expect((await graphErrorOf(graph.api("/users").top(1000).get())).statusCode).toBe(400);
    expect((await graphErrorOf(graph.api("/users").select("id,mailboxSettings").get())).statusCode).toBe(501);
  });

  it("probes mailboxes: user, shared, none (404 MailboxNotEnabledForRESTAPI), denied (403), unknown", async () => {
    const user = await graph.api(`/users/${tenant.alice.id}/mailboxSettings`).get();
    expect(user.userPurpose).toBe("user");
    const shared = await graph.api(`/users/${tenant.shared.userPrincipalName}/mailboxSettings`).get();
    expect(shared.userPurpose).toBe("shared");
    const none = await graphErrorOf(graph.api(`/users/${tenant.noMailbox.id}/mailboxSettings`).get());
    expect([none.statusCode, none.code]).toEqual([404, "MailboxNotEnabledForRESTAPI"]);
    expect(none.body).toBeDefined();
    sim.faults.denyMailbox(tenant.shared.userPrincipalName);
    const denied = await graphErrorOf(graph.api(`/users/${tenant.shared.id}/mailFolders`).get());
    expect([denied.statusCode, denied.code]).toEqual([403, "ErrorAccessDenied"]);
    sim.faults.denyMailbox(tenant.shared.id, false);
    expect((await graph.api(`/users/${tenant.shared.id}/mailFolders`).get()).value).toHaveLength(1);
    const unknown = await graphErrorOf(graph.api("/users/nobody@contoso.test/mailboxSettings").get());
    expect(unknown.statusCode).toBe(404);
  });

  it("lists a user's groups through memberOf, paged", async () => {
    const first = await graph
      .api(`/users/${tenant.alice.userPrincipalName}/memberOf`)
      .top(2)
      .select("displayName")
      .get();
    expect(first.value).toHaveLength(2);
    const all = await allPages<{ displayName: string; "@odata.type": string }>(graph, first);
    expect(all.items.map((g) => g.displayName).sort()).toEqual(["All Staff", "Finance", "Legal Hold"]);
    expect(all.items.every((g) => g["@odata.type"] === "#microsoft.graph.group")).toBe(true);
    expect((await graph.api(`/users/${tenant.noMailbox.id}/memberOf`).get()).value).toEqual([]);
  });

  it("walks the folder tree: pages of 10, hidden folders only on request, search folders typed, sizes via Long 0x0E08", async () => {
    const expand = "singleValueExtendedProperties($filter=id eq 'Long 0x0E08')";
    const walk = async (listUrl: string): Promise<Array<FolderJson & { path: string }>> => {
      const out: Array<FolderJson & { path: string }> = [];
      const visit = async (url: string, prefix: string) => {
        const first = await graph
          .api(url)
          .query({ includeHiddenFolders: "true" })
          .expand(expand)
          .header("Prefer", PREFER_IMMUTABLE)
          .get();
        const { items } = await allPages<FolderJson>(graph, first);
        for (const folder of items) {
          const path = prefix ? `${prefix}/${folder.displayName}` : folder.displayName;
          out.push({ ...folder, path });
          if (folder.childFolderCount > 0)
            await visit(`/users/${tenant.alice.id}/mailFolders/${folder.id}/childFolders`, path);
        }
      };
      await visit(listUrl, "");
      return out;
    };
    const folders = await walk(`/users/${tenant.alice.id}/mailFolders`);
    const truth = (await tenant.store.groundTruth()).mailboxes.find((m) => m.userId === tenant.alice.id);
    expect(folders.map((f) => f.path).sort()).toEqual(truth?.folders.map((f) => f.path).sort());
    const hidden = folders.find((f) => f.displayName === "Conversation History");
    expect(hidden?.isHidden).toBe(true);
    expect(folders.find((f) => f.displayName === "To-Do Search")?.["@odata.type"]).toBe(
      "#microsoft.graph.mailSearchFolder",
    );
    for (const folder of folders) {
      const truthFolder = truth?.folders.find((f) => f.id === folder.id);
      const size = truthFolder?.messages.reduce((n, m) => n + m.size, 0);
      expect(folder.singleValueExtendedProperties).toEqual([{ id: "Long 0xe08", value: String(size) }]);
      expect(folder.totalItemCount).toBe(truthFolder?.messages.length);
    }
    const firstPage = await graph.api(`/users/${tenant.alice.id}/mailFolders`).get();
    expect(firstPage.value).toHaveLength(10);
    const visible = await allPages<FolderJson>(graph, firstPage);
    expect(visible.items.some((f) => f.isHidden)).toBe(false);
    expect(visible.items).toHaveLength(
      folders.filter((f) => f.parentFolderId === tenant.store.rootFolderId(tenant.alice.id) && !f.isHidden)
        .length,
    );
  });

  it("accepts well-known names and answers ErrorItemNotFound for unknown folders", async () => {
    const inbox = await graph.api(`/users/${tenant.alice.id}/mailFolders/inbox`).get();
    expect(inbox.displayName).toBe("Inbox");
    expect(inbox.totalItemCount).toBe(25);
    expect(inbox.unreadItemCount).toBe(12);
    const missing = await graphErrorOf(
      graph.api(`/users/${tenant.alice.id}/mailFolders/AAMkAGI2nothere`).get(),
    );
    expect([missing.statusCode, missing.code]).toEqual([404, "ErrorItemNotFound"]);
  });

  it("echoes Prefer IdType=ImmutableId in Preference-Applied and sends request ids", async () => {
    const response = await fetch(`${sim.baseUrl}/users/${tenant.alice.id}/mailFolders/inbox`, {
      headers: {
        authorization: `Bearer ${await clientCredentialToken(sim)}`,
        prefer: PREFER_IMMUTABLE,
        "client-request-id": "abc-123",
      },
    });
    expect(response.headers.get("preference-applied")).toBe(PREFER_IMMUTABLE);
    expect(response.headers.get("client-request-id")).toBe("abc-123");
    expect(response.headers.get("request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
