import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { batchGet } from "../../../lib/graph/batch.js";
import type { GraphGateway } from "../../../lib/graph/client.js";
import { type DeltaPage, folderDeltaPages } from "../../../lib/graph/delta.js";
import { ItemNotFoundError, SyncStateLostError } from "../../../lib/graph/errors.js";
import { openMime } from "../../../lib/graph/mime.js";
import { buildTenant, type GraphTestTenant, gatewayFor, message, startSim } from "./fixture.js";

let tenant: GraphTestTenant;
let sim: RunningSimulator;
let gateway: GraphGateway;

beforeAll(async () => {
  tenant = buildTenant({ inboxMessages: 30 });
  sim = await startSim(tenant.store);
  gateway = gatewayFor(sim);
});
afterAll(async () => {
  await sim?.close();
});

async function collect(from?: string, folderId = tenant.inboxId): Promise<DeltaPage[]> {
  const pages: DeltaPage[] = [];
  for await (const page of folderDeltaPages(gateway, tenant.alice.id, folderId, { from, pageSize: 7 }))
    pages.push(page);
  return pages;
}

async function truthOf(folderId: string) {
  const truth = await tenant.store.groundTruth();
  return truth.mailboxes.find((m) => m.userId === tenant.alice.id)?.folders.find((f) => f.id === folderId);
}

describe("folderDeltaPages", () => {
  it("delivers a full round in pages of maxpagesize, then an incremental round after changes", async () => {
    const full = await collect();
    expect(full.length).toBe(Math.ceil(30 / 7));
    for (const page of full.slice(0, -1)) {
      expect(page.upserts.length).toBeLessThanOrEqual(7);
      expect(page.nextLink).toMatch(/^https:\/\/localhost:\d+\//);
      expect(page.deltaLink).toBeUndefined();
    }
    const last = full.at(-1) as DeltaPage;
    expect(last.deltaLink).toMatch(/^https:\/\/localhost:\d+\//);
    const ids = new Set(full.flatMap((p) => p.upserts.map((m) => m.id)));
    const truth = await truthOf(tenant.inboxId);
    expect([...ids].sort()).toEqual((truth?.messages ?? []).map((m) => m.id).sort());
    const sample = full[0]?.upserts[0];
    expect(sample?.changeKey).toBe(tenant.store.getMessage(tenant.alice.id, sample?.id as string)?.changeKey);
    expect(sample).toMatchObject({
      parentFolderId: tenant.inboxId,
      subject: expect.any(String),
      isRead: expect.any(Boolean),
    });
    expect(sample).not.toHaveProperty("@odata.etag");

    // Changes: one new, one read-state change, one deleted, one moved out.
    const inboxMessages = tenant.store.listMessages(tenant.alice.id, tenant.inboxId);
    const [changed, deleted, moved] = inboxMessages;
    const added = tenant.store.addMessage(tenant.alice.id, tenant.inboxId, message("Late arrival"));
    tenant.store.updateMessage(tenant.alice.id, changed?.id as string, { isRead: !changed?.isRead });
    tenant.store.deleteMessage(tenant.alice.id, deleted?.id as string);
    const archive = tenant.store.getFolder(tenant.alice.id, "archive");
    tenant.store.moveMessage(tenant.alice.id, moved?.id as string, archive?.id as string);

    const incremental = await collect(last.deltaLink);
    const upserts = incremental.flatMap((p) => p.upserts.map((m) => m.id));
    const removed = incremental.flatMap((p) => p.removed);
    expect(new Set(upserts)).toEqual(new Set([added.id, changed?.id]));
    expect(new Set(removed)).toEqual(new Set([deleted?.id, moved?.id]));
    expect(incremental.at(-1)?.deltaLink).toBeDefined();
  });

  it("throws SyncStateLostError with the Location on 410, and a restart from it is a full round", async () => {
    const first = await collect();
    const deltaLink = first.at(-1)?.deltaLink as string;
    sim.faults.syncStateLost(tenant.alice.id, tenant.inboxId, "invalidate");
    const error = await collect(deltaLink).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SyncStateLostError);
    const location = (error as SyncStateLostError).location;
    expect(location).toMatch(/^https:\/\/localhost:\d+\/v1\.0\/.*delta/);
    const restarted = await collect(location);
    const truth = await truthOf(tenant.inboxId);
    expect(new Set(restarted.flatMap((p) => p.upserts.map((m) => m.id)))).toEqual(
      new Set(truth?.messages.map((m) => m.id)),
    );
  });
});

describe("openMime", () => {
  it("streams a MIME over 20 MB whose hash equals the ground truth, and frees the slot", async () => {
    const archive = tenant.store.getFolder(tenant.alice.id, "archive");
    const truth = (await truthOf(archive?.id as string))?.messages.find((m) => m.id === tenant.bigMessageId);
    const stream = await openMime(gateway, tenant.alice.id, tenant.bigMessageId);
    expect(gateway.traffic.inUse(tenant.alice.id)).toBe(1);
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    expect(size).toBe(tenant.bigMessageSize);
    expect(hash.digest("hex")).toBe(truth?.sha256);
    expect(gateway.traffic.inUse(tenant.alice.id)).toBe(0);
  });

  it("frees the slot when the consumer destroys the stream part-way", async () => {
    const stream = await openMime(gateway, tenant.alice.id, tenant.bigMessageId);
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    expect(gateway.traffic.inUse(tenant.alice.id)).toBe(1);
    stream.destroy();
    await new Promise<void>((resolve) => stream.once("close", () => resolve()));
    await expect.poll(() => gateway.traffic.inUse(tenant.alice.id)).toBe(0);
  });

  it("maps a missing message to ItemNotFoundError", async () => {
    await expect(openMime(gateway, tenant.alice.id, "AAMkAGnotthere")).rejects.toBeInstanceOf(
      ItemNotFoundError,
    );
  });
});

describe("batchGet", () => {
  it("answers every url in order, successes and failures, across several batches", async () => {
    const messages = tenant.store.listMessages(tenant.alice.id, tenant.inboxId).slice(0, 24);
    const urls = [
      ...messages.map((m) => `/users/${tenant.alice.id}/messages/${m.id}?$select=id,subject`),
      `/users/${tenant.alice.id}/messages/AAMkAGmissing`,
    ];
    const answers = await batchGet<{ id: string; subject: string }>(gateway, tenant.alice.id, urls);
    expect(answers).toHaveLength(25);
    messages.forEach((m, i) => {
      expect(answers[i]).toMatchObject({ status: 200, body: { id: m.id, subject: m.subject } });
    });
    expect(answers[24]?.status).toBe(404);
    expect(answers[24]?.error).toBeInstanceOf(ItemNotFoundError);
    // The inner answer's message is quoted, as a single request's is.
    expect(answers[24]?.error).toMatchObject({
      detail: "The specified object was not found in the store.",
      message: expect.stringContaining("ErrorItemNotFound: The specified object was not found in the store."),
    });
  });
});
