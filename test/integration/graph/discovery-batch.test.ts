/**
 * Discovery with `$batch` (a page's mailbox probes and mailbox ids, each inner request counted
 * against its own mailbox) against the simulated tenant over HTTPS: the same mailboxes, skipped
 * users, mailbox ids and folder trees as one request each, in fewer round trips, with inner
 * throttling and server errors ridden out.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailboxDirectory } from "../../../lib/app/graph-ports.js";
import type { DirectoryPage, FolderListing, MailboxDirectory } from "../../../lib/backup/ports.js";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { generateTenant } from "../../../lib/dev/sim/tenant/generate.js";
import type { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";
import { gatewayFor, startSim } from "./fixture.js";

/** 30 mailboxes (shared ones, a room, archives for about half) and unlicensed accounts without one. */
function tenant(): InMemoryTenantStore {
  return generateTenant({
    seed: 15,
    shape: "many-small",
    mailboxes: 30,
    totalMessages: 60,
    sharedFraction: 0.2,
    unlicensedFraction: 0.3,
    archiveFraction: 0.5,
  });
}

interface Discovered {
  pages: Array<Omit<DirectoryPage, "next">>;
  listings: Record<string, FolderListing | string>;
}

/** Every page of the directory (pages of 16 users), and every mailbox's listing (or its error). */
async function discoverAll(directory: MailboxDirectory): Promise<Discovered> {
  const out: Discovered = { pages: [], listings: {} };
  let cursor: string | undefined;
  do {
    const page = await directory.discoverPage(cursor, 16);
    const { next, ...rest } = page;
    out.pages.push(rest);
    for (const m of page.mailboxes) {
      out.listings[m.userId] = await Promise.resolve(directory.listFolders(m.userId)).catch(
        (error: Error) => `${error.name}: ${error.message.split(";")[0]}`,
      );
    }
    cursor = next;
  } while (cursor);
  return out;
}

function roundTrips(sim: RunningSimulator): number {
  const { graph } = sim.stats();
  return graph.requests - graph.batchedRequests;
}

function requestsByMailbox(sim: RunningSimulator): Record<string, number> {
  return Object.fromEntries(Object.entries(sim.stats().mailboxes).map(([id, m]) => [id, m.requests]));
}

let store: InMemoryTenantStore;
let sim: RunningSimulator;
let single: Discovered;
let singleRoundTrips: number;
let singleRequests: Record<string, number>;
let deniedId: string;

beforeAll(async () => {
  store = tenant();
  sim = await startSim(store);
  const truth = await store.groundTruth();
  // One mailbox refused by an application access policy: skipped with its reason.
  deniedId = truth.mailboxes[3]?.userId as string;
  sim.faults.denyMailbox(deniedId);
  sim.resetStats();
  single = await discoverAll(
    createMailboxDirectory(gatewayFor(sim), { include: [], exclude: [] }, { batchSize: 1 }),
  );
  singleRoundTrips = roundTrips(sim);
  singleRequests = requestsByMailbox(sim);
});
afterAll(async () => {
  await sim?.close();
});

describe("discovery with $batch", () => {
  it("finds without batching what the tenant holds: users without mailboxes, shared and room mailboxes, archives", async () => {
    const truth = await store.groundTruth();
    const mailboxes = single.pages.flatMap((p) => p.mailboxes);
    const skipped = single.pages.flatMap((p) => p.skipped);
    expect(mailboxes.map((m) => m.userId).sort()).toEqual(
      truth.mailboxes
        .map((m) => m.userId)
        .filter((id) => id !== deniedId)
        .sort(),
    );
    expect(new Set(mailboxes.map((m) => m.purpose))).toEqual(new Set(["user", "shared", "room"]));
    // The unlicensed accounts have an address but no mailbox: their probe answers 404.
    expect(skipped.filter((s) => s.reason === "MailboxNotEnabledForRESTAPI").length).toBeGreaterThan(3);
    expect(skipped.find((s) => s.userId === deniedId)?.reason).toBe("ErrorAccessDenied");
    const listings = Object.values(single.listings) as FolderListing[];
    expect(listings.filter((l) => l.mailboxIds?.archive !== undefined).length).toBeGreaterThan(0);
    expect(listings.some((l) => l.folders.some((f) => f.mailbox === "archive"))).toBe(true);
    expect(single.pages.length).toBeGreaterThan(2);
  });

  it("discovers the same with batching, each mailbox sent the same requests, in fewer round trips", async () => {
    sim.resetStats();
    const batched = await discoverAll(
      createMailboxDirectory(gatewayFor(sim), { include: [], exclude: [] }, { batchSize: 20 }),
    );
    expect(batched).toEqual(single);
    expect(requestsByMailbox(sim)).toEqual(singleRequests);
    const { graph } = sim.stats();
    // Per page: the probes, then the mailbox ids, each spread over the 8 batches in flight, at
    // least 4 and at most 20 to a batch (each of a different mailbox, so they fill up).
    const batchesFor = (n: number) =>
      n === 0 ? 0 : Math.ceil(n / Math.min(20, Math.max(4, Math.ceil(n / 8))));
    const probeSkip = /^(MailboxNotEnabledForRESTAPI|ErrorAccessDenied|HTTP \d+)$/;
    const expectedBatches = single.pages.reduce((n, page) => {
      const probes = page.mailboxes.length + page.skipped.filter((s) => probeSkip.test(s.reason)).length;
      return n + batchesFor(probes) + batchesFor(page.mailboxes.length);
    }, 0);
    expect(graph.batches).toBe(expectedBatches);
    expect(roundTrips(sim)).toBeLessThan(singleRoundTrips);
    const mailboxCount = single.pages.reduce((n, p) => n + p.mailboxes.length, 0);
    // The probes of every user with a mail address and the ids of every mailbox left as round trips.
    expect(singleRoundTrips - roundTrips(sim)).toBe(graph.batchedRequests - graph.batches);
    expect(graph.batchedRequests).toBeGreaterThan(2 * mailboxCount);
  });

  it("rides out inner 429s (each with its own Retry-After, never sent early) and inner 503s with the same result", async () => {
    // Some mailbox-id reads are throttled and some probes unavailable, inside their batches.
    const faulty = await startSim(store);
    try {
      faulty.faults.denyMailbox(deniedId);
      faulty.faults.serverError({
        status: 429,
        count: 5,
        retryAfterSeconds: 1,
        pathPattern: "/settings/exchange$",
      });
      faulty.faults.serverError({
        status: 503,
        count: 6,
        retryAfterSeconds: 1,
        pathPattern: "/mailboxSettings$",
      });
      const batched = await discoverAll(
        createMailboxDirectory(gatewayFor(faulty), { include: [], exclude: [] }),
      );
      expect(batched).toEqual(single);
      const { graph, mailboxes } = faulty.stats();
      expect(graph.byStatus["429"]).toBe(5);
      expect(graph.byStatus["503"]).toBe(6);
      expect(graph.throttled).toBe(5);
      expect(Object.values(mailboxes).reduce((n, m) => n + m.earlyRetries, 0)).toBe(0);
      // Every probe and id read went in a batch: the failed ones in later batches of their own.
      expect(graph.batches).toBeGreaterThan(2 * single.pages.length);
      expect(faulty.faults.pending().serverErrors).toEqual([]);
    } finally {
      await faulty.close();
    }
  });
});
