import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { graphErrorOf, PREFER_IMMUTABLE, secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, newMessage, type TestTenant } from "./fixture.js";

interface DeltaItem {
  id: string;
  "@odata.etag"?: string;
  "@removed"?: { reason: string };
  subject?: string;
  isRead?: boolean;
}

interface Round {
  items: DeltaItem[];
  pages: number;
  deltaLink: string;
}

const PAGE_SIZE = 7;
const prefer = `odata.maxpagesize=${PAGE_SIZE}, ${PREFER_IMMUTABLE}`;

/** Follows nextLinks to the deltaLink, as a backup stream does. */
async function round(graph: Client, firstUrl: string, select?: string): Promise<Round> {
  let request = graph.api(firstUrl).header("Prefer", prefer);
  if (select) request = request.select(select);
  let page = await request.get();
  const items: DeltaItem[] = [...page.value];
  let pages = 1;
  while (page["@odata.nextLink"]) {
    expect(page.value.length).toBeLessThanOrEqual(PAGE_SIZE);
    page = await graph.api(page["@odata.nextLink"]).header("Prefer", prefer).get();
    items.push(...page.value);
    pages++;
  }
  expect(page["@odata.deltaLink"]).toMatch(
    /^https:\/\/localhost:\d+\/v1\.0\/.*\/messages\/delta\?\$deltatoken=/,
  );
  return { items, pages, deltaLink: page["@odata.deltaLink"] };
}

describe("simulator message delta through the real Graph client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let graph: Client;
  let inboxId: string;

  beforeAll(async () => {
    tenant = await buildTestTenant();
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
    inboxId = tenant.store.getFolder(tenant.alice.id, "inbox")?.id ?? "";
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("delivers a full round, then only the changes (adds, updates, @removed) in the next round", async () => {
    const first = await round(
      graph,
      `/users/${tenant.alice.id}/mailFolders/inbox/messages/delta`,
      "subject,isRead",
    );
    expect(first.pages).toBe(Math.ceil(25 / PAGE_SIZE));
    expect(first.items).toHaveLength(25);
    expect(first.items.every((i) => i["@removed"] === undefined)).toBe(true);
    const sample = first.items[0] as DeltaItem;
    expect(Object.keys(sample).sort()).toEqual(["@odata.etag", "id", "isRead", "subject"]);
    const truthIds = tenant.store.listMessages(tenant.alice.id, inboxId).map((m) => m.id);
    expect(first.items.map((i) => i.id).sort()).toEqual([...truthIds].sort());

    const [updated, deleted, movedOut] = truthIds;
    const added = tenant.store.addMessage(tenant.alice.id, inboxId, newMessage("Arrived later"));
    tenant.store.updateMessage(tenant.alice.id, updated as string, { isRead: false, categories: ["Blue"] });
    tenant.store.deleteMessage(tenant.alice.id, deleted as string);
    tenant.store.moveMessage(
      tenant.alice.id,
      movedOut as string,
      tenant.store.getFolder(tenant.alice.id, "archive")?.id ?? "",
    );

    const second = await round(graph, first.deltaLink);
    const byId = new Map(second.items.map((i) => [i.id, i]));
    expect(byId.get(added.id)?.subject).toBe("Arrived later");
    expect(byId.get(updated as string)?.isRead).toBe(false);
    expect(byId.get(updated as string)?.["@odata.etag"]).toBe(
      `W/"${tenant.store.getMessage(tenant.alice.id, updated as string)?.changeKey}"`,
    );
    expect(byId.get(deleted as string)?.["@removed"]).toEqual({ reason: "deleted" });
    expect(byId.get(movedOut as string)?.["@removed"]).toEqual({ reason: "deleted" });
    expect(second.items).toHaveLength(4);

    const third = await round(graph, second.deltaLink);
    expect(third.items).toEqual([]);
  });

  it("answers 410 SyncStateNotFound with a Location holding a fresh initial delta URL, which resyncs the folder", async () => {
    const first = await round(
      graph,
      `/users/${tenant.alice.id}/mailFolders/${inboxId}/messages/delta`,
      "subject",
    );
    sim.faults.syncStateLost(tenant.alice.userPrincipalName, "inbox");
    const gone = await graphErrorOf(graph.api(first.deltaLink).header("Prefer", prefer).get());
    expect([gone.statusCode, gone.code]).toEqual([410, "SyncStateNotFound"]);
    const location = gone.headers?.get("location");
    expect(location).toMatch(/^https:\/\/localhost:\d+\/v1\.0\/users\/.+\/messages\/delta/);
    expect(location).not.toMatch(/token=/);
    const resync = await round(graph, location as string);
    expect(resync.items.map((i) => i.id).sort()).toEqual(
      tenant.store
        .listMessages(tenant.alice.id, inboxId)
        .map((m) => m.id)
        .sort(),
    );
    expect(Object.keys(resync.items[0] as DeltaItem).sort()).toEqual(["@odata.etag", "id", "subject"]);
  });

  it("can force a 410 on a folder without losing its sync state", async () => {
    const first = await round(graph, `/users/${tenant.alice.id}/mailFolders/${inboxId}/messages/delta`);
    sim.faults.syncStateLost(tenant.alice.id, inboxId, "force", 1);
    expect((await graphErrorOf(graph.api(first.deltaLink).get())).statusCode).toBe(410);
    const again = await round(graph, first.deltaLink);
    expect(again.items).toEqual([]);
  });

  it("uses a default page of 10 and refuses tokens it did not issue", async () => {
    const page = await graph.api(`/users/${tenant.alice.id}/mailFolders/inbox/messages/delta`).get();
    expect(page.value).toHaveLength(10);
    const bad = await graphErrorOf(
      graph.api(`/users/${tenant.alice.id}/mailFolders/inbox/messages/delta?$skiptoken=garbage`).get(),
    );
    expect(bad.statusCode).toBe(400);
  });
});
