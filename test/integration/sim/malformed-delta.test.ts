/**
 * The malformed-delta-item fault: the next delta pages of one folder carry an extra item without
 * an id, after the real ones; other folders and later pages are untouched.
 */
import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

type Page = { value: Array<Record<string, unknown>>; "@odata.nextLink"?: string };

describe("simulator fault: malformed delta item", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let graph: Client;

  beforeAll(async () => {
    tenant = await buildTestTenant();
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("adds one item without id to the next page of the folder only, once per count", async () => {
    const inbox = `/users/${tenant.alice.id}/mailFolders/inbox/messages/delta`;
    const prefer = "odata.maxpagesize=5";
    sim.faults.malformedDeltaItem(tenant.alice.userPrincipalName, "inbox", 1);
    expect(sim.faults.pending().malformed).toHaveLength(1);

    const first = (await graph.api(inbox).header("Prefer", prefer).get()) as Page;
    expect(first.value).toHaveLength(6);
    const withoutId = first.value.filter((i) => typeof i.id !== "string");
    expect(withoutId).toHaveLength(1);
    expect(first.value.at(-1)).toBe(withoutId[0]);
    expect(sim.faults.pending().malformed).toEqual([]);

    const second = (await graph.api(first["@odata.nextLink"]!).header("Prefer", prefer).get()) as Page;
    expect(second.value.every((i) => typeof i.id === "string")).toBe(true);
  });

  it("is taken by the admin endpoint and dropped by clear", async () => {
    sim.faults.apply({ action: "malformedDeltaItem", mailbox: tenant.alice.id, folder: "inbox", count: 3 });
    expect(sim.faults.pending().malformed).toEqual([
      { mailbox: tenant.alice.id, folder: tenant.store.getFolder(tenant.alice.id, "inbox")!.id, count: 3 },
    ]);
    sim.faults.clear();
    expect(sim.faults.pending().malformed).toEqual([]);
  });
});
