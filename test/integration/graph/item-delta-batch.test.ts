/**
 * First item delta pages of several folders in one `$batch` (lib/graph/item-delta.ts
 * `itemDeltaFirstPages`) against the simulated tenant over HTTPS: the same pages as alone, in one
 * round trip counted as one request per page; a nextLink followed alone after a batched page; an
 * inner 429 returned to be fetched alone, its mailbox's gate closed for its Retry-After; a lost
 * sync state inside the batch thrown as alone (SyncStateLostError with its fresh link).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailSource } from "../../../lib/app/graph-ports.js";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { generateTenant } from "../../../lib/dev/sim/tenant/generate.js";
import type { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";
import type { GraphGateway } from "../../../lib/graph/client.js";
import { SyncStateLostError } from "../../../lib/graph/errors.js";
import {
  type ItemDeltaPage,
  type ItemDeltaStart,
  itemDeltaFirstPages,
  itemDeltaPages,
  mailboxOfLink,
} from "../../../lib/graph/item-delta.js";
import { type MailboxFolderInfo, readUserFolderTrees } from "../../../lib/graph/mailbox-folders.js";
import { gatewayFor, startSim } from "./fixture.js";

const PAGE_SIZE = 10;

let store: InMemoryTenantStore;
let sim: RunningSimulator;
let gateway: GraphGateway;
let userId: string;
let mailboxId: string;
/** Folders with items: one of more than a page, the others of one page. */
let long: MailboxFolderInfo;
let short: MailboxFolderInfo[];

beforeAll(async () => {
  store = generateTenant({
    seed: 77,
    shape: "uniform",
    mailboxes: 1,
    totalMessages: 120,
    archiveFraction: 0,
  });
  sim = await startSim(store);
  gateway = gatewayFor(sim);
  userId = (await store.groundTruth()).mailboxes[0]!.userId;
  const trees = await readUserFolderTrees(gateway, userId);
  mailboxId = trees.mailboxIds.primary;
  const withItems = trees.primary.filter((f) => f.totalItemCount > 0);
  long = withItems.find((f) => f.totalItemCount > PAGE_SIZE)!;
  short = withItems.filter((f) => f.totalItemCount <= PAGE_SIZE).slice(0, 3);
  expect(long).toBeDefined();
  expect(short.length).toBe(3);
});
afterAll(async () => {
  await sim?.close();
});

const options = () => ({ pageSize: PAGE_SIZE, trafficKey: userId });
const ids = (page: ItemDeltaPage) => page.upserts.map((u) => u.id).sort();

/** Every page of a round alone, from `from` or an initial round. */
async function alone(folderId: string, from?: string): Promise<ItemDeltaPage[]> {
  const pages: ItemDeltaPage[] = [];
  for await (const page of itemDeltaPages(gateway, mailboxId, folderId, {
    ...options(),
    ...(from ? { from } : {}),
  }))
    pages.push(page);
  return pages;
}

function pageOf(answer: Awaited<ReturnType<typeof itemDeltaFirstPages>>[number]): ItemDeltaPage {
  if (!("page" in answer)) throw new Error(`expected a page, found ${JSON.stringify(answer)}`);
  return answer.page;
}

describe("first item delta pages in one $batch", () => {
  it("answers each folder's first page as alone, in one round trip counted as one request per page", async () => {
    const folders = [...short, long];
    sim.resetStats();
    const answers = await itemDeltaFirstPages(
      gateway,
      mailboxId,
      folders.map((f) => ({ folderId: f.id })),
      options(),
    );
    const { graph } = sim.stats();
    expect(graph).toMatchObject({
      batches: 1,
      batchedRequests: folders.length,
      requests: folders.length + 1,
    });
    expect(gateway.traffic.counters(userId).requests).toBeGreaterThanOrEqual(folders.length);

    for (const [i, folder] of folders.entries()) {
      const page = pageOf(answers[i]!);
      const single = await alone(folder.id);
      expect(ids(page)).toEqual(ids(single[0]!));
      // Each item with the metadata properties the initial request's $select/$expand ask for.
      expect(page.upserts[0]?.type).toMatch(/^IPM\./);
      expect(Object.keys(page.upserts[0]?.properties ?? {}).length).toBeGreaterThan(0);
      if (folder === long) {
        expect(page.nextLink).toBeDefined();
        expect(page.deltaLink).toBeUndefined();
        // The round goes on alone from the batched page's link, to every item of the folder.
        const rest = await alone(folder.id, page.nextLink);
        const all = new Set([...ids(page), ...rest.flatMap(ids)]);
        expect(all.size).toBe(folder.totalItemCount);
        expect(rest.at(-1)?.deltaLink).toBeDefined();
      } else {
        expect(page.nextLink).toBeUndefined();
        expect(page.deltaLink).toBeDefined();
        expect(page.upserts.length).toBe(folder.totalItemCount);
      }
    }
  });

  it("resumes rounds from delta links in a batch: nothing changed, empty pages with fresh links", async () => {
    const starts: ItemDeltaStart[] = [];
    for (const f of short) starts.push({ folderId: f.id, from: (await alone(f.id)).at(-1)!.deltaLink! });
    const answers = await itemDeltaFirstPages(gateway, mailboxId, starts, options());
    for (const answer of answers) {
      const page = pageOf(answer);
      expect(page.upserts).toEqual([]);
      expect(page.deltaLink).toBeDefined();
    }
  });

  it("returns an inner 429 to be fetched alone, its mailbox's gate closed for its Retry-After", async () => {
    const before = gateway.traffic.counters(userId).throttled;
    sim.faults.serverError({ status: 429, count: 1, pathPattern: "/items/delta$", retryAfterSeconds: 1 });
    const asked = Date.now();
    const answers = await itemDeltaFirstPages(
      gateway,
      mailboxId,
      short.map((f) => ({ folderId: f.id })),
      options(),
    );
    const again = answers.filter((a) => "again" in a);
    expect(again.length).toBe(1);
    expect(answers.filter((a) => "page" in a).length).toBe(short.length - 1);
    expect(gateway.traffic.counters(userId).throttled).toBe(before + 1);
    expect(gateway.traffic.notBefore(userId)).toBeGreaterThanOrEqual(asked + 1_000);
    // Alone, through the gateway: it waits for the gate, then gets the folder's page.
    const index = answers.findIndex((a) => "again" in a);
    const single = await alone(short[index]!.id);
    expect(Date.now() - asked).toBeGreaterThanOrEqual(1_000);
    expect(single[0]!.upserts.length).toBe(short[index]!.totalItemCount);
  });

  it("hands back to be fetched alone an inner failure other than a lost sync state (a folder that is gone: 404)", async () => {
    const answers = await itemDeltaFirstPages(
      gateway,
      mailboxId,
      [{ folderId: short[0]!.id }, { folderId: "AAMkAGone-folder-id" }],
      options(),
    );
    expect(pageOf(answers[0]!).deltaLink).toBeDefined();
    const gone = answers[1]!;
    expect("again" in gone && (gone.again as Error).message).toMatch(/404/);
    // Alone, it meets the single request's handling: the folder's own not-found error.
    await expect(alone("AAMkAGone-folder-id")).rejects.toThrow(/404|not found/i);
  });

  it("throws nothing for a lost sync state inside the batch: that folder's answer is SyncStateLostError with a fresh link", async () => {
    const [a, b] = short;
    const fromA = (await alone(a!.id)).at(-1)!.deltaLink!;
    const fromB = (await alone(b!.id)).at(-1)!.deltaLink!;
    sim.faults.syncStateLost(userId, a!.id, "force", 1);
    const answers = await itemDeltaFirstPages(
      gateway,
      mailboxId,
      [
        { folderId: a!.id, from: fromA },
        { folderId: b!.id, from: fromB },
      ],
      options(),
    );
    const lost = answers[0]!;
    expect("error" in lost && lost.error).toBeInstanceOf(SyncStateLostError);
    expect("error" in lost && (lost.error as SyncStateLostError).location).toMatch(/items\/delta/);
    expect(pageOf(answers[1]!).deltaLink).toBeDefined();
  });

  it("sends no more pages in a batch than the mailbox's slots now: after 429s lowered them, the rest go alone", async () => {
    const lowered = gatewayFor(sim);
    const source = createMailSource(lowered, PAGE_SIZE);
    const mailbox = { userId, role: "primary" as const, apiId: mailboxId };
    const starts = [...short, long].map((f) => ({ folderId: f.id, from: undefined }));
    sim.resetStats();
    const all = await source.itemDeltaFirstPages!(mailbox, starts);
    expect(all.every((a) => "page" in a)).toBe(true);
    expect(sim.stats().graph).toMatchObject({ batches: 1, batchedRequests: 4 });

    // Two 429s cost the mailbox two of its 4 slots (lib/graph/mailbox-traffic.ts).
    lowered.traffic.throttled(userId);
    lowered.traffic.throttled(userId);
    expect(lowered.traffic.limit(userId)).toBe(2);
    sim.resetStats();
    const two = await source.itemDeltaFirstPages!(mailbox, starts);
    expect(two.map((a) => ("page" in a ? "page" : "alone" in a ? "alone" : "error"))).toEqual([
      "page",
      "page",
      "alone",
      "alone",
    ]);
    expect(sim.stats().graph).toMatchObject({ batches: 1, batchedRequests: 2 });
    // At one slot nothing is batched.
    lowered.traffic.throttled(userId);
    sim.resetStats();
    const none = await source.itemDeltaFirstPages!(mailbox, starts);
    expect(none.every((a) => "alone" in a)).toBe(true);
    expect(sim.stats().graph.batches).toBe(0);
  });
});

describe("a batched first page of an auto-expanded archive's folder (308 to its auxiliary mailbox)", () => {
  let expandedStore: InMemoryTenantStore;
  let expandedSim: RunningSimulator;
  afterAll(async () => {
    await expandedSim?.close();
  });

  it("answers `moved` with the auxiliary link, from which alone the round costs its pages only, no second 308", async () => {
    expandedStore = generateTenant({
      seed: 78,
      shape: "uniform",
      mailboxes: 2,
      totalMessages: 80,
      archiveFraction: 1,
    });
    expandedSim = await startSim(expandedStore);
    const g = gatewayFor(expandedSim);
    const truth = await expandedStore.groundTruth();
    const owner = truth.mailboxes.find((m) =>
      m.mailboxFolders.some((f) => f.mailbox === "archive" && f.itemsMailboxId !== m.archiveMailboxId),
    )!;
    expect(owner, "a mailbox with an expanded archive folder").toBeDefined();
    const archiveId = owner.archiveMailboxId!;
    const expanded = owner.mailboxFolders.find(
      (f) => f.mailbox === "archive" && f.itemsMailboxId !== archiveId,
    )!;
    const other = owner.mailboxFolders.find(
      (f) => f.mailbox === "archive" && f.itemsMailboxId === archiveId,
    )!;
    const opts = { pageSize: 100, trafficKey: owner.userId };
    expandedSim.resetStats();
    const [movedAnswer, otherAnswer] = await itemDeltaFirstPages(
      g,
      archiveId,
      [{ folderId: expanded.id }, { folderId: other.id }],
      opts,
    );
    expect(otherAnswer && "page" in otherAnswer).toBe(true);
    if (!movedAnswer || !("moved" in movedAnswer))
      throw new Error(`expected moved, found ${JSON.stringify(movedAnswer)}`);
    expect(movedAnswer.moved.startsWith(`${g.baseUrl}/`)).toBe(true);
    expect(mailboxOfLink(movedAnswer.moved)).toBe(expanded.itemsMailboxId);
    expect(expandedSim.stats().graph).toMatchObject({ batches: 1, batchedRequests: 2 });
    // Alone from the link: the folder's pages, each one request, every item of the folder.
    expandedSim.resetStats();
    const pages: ItemDeltaPage[] = [];
    for await (const page of itemDeltaPages(g, archiveId, expanded.id, { ...opts, from: movedAnswer.moved }))
      pages.push(page);
    expect(pages.flatMap((p) => p.upserts.map((u) => u.id)).sort()).toEqual(
      expanded.items.map((i) => i.id).sort(),
    );
    expect(pages.at(-1)?.servedBy).toBe(expanded.itemsMailboxId);
    expect(expandedSim.stats().graph.requests).toBe(pages.length);
  });
});
