import { createHash } from "node:crypto";
import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { graphErrorOf, PREFER_IMMUTABLE, secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, smallMime, type TestTenant } from "./fixture.js";

describe("simulator message content and restore writes through the real Graph client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let graph: Client;

  beforeAll(async () => {
    tenant = await buildTestTenant();
    sim = await startTestSimulator({ store: tenant.store, latency: { baseMs: 1, perMimeByteNs: 0.5 } });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("streams a 20 MB $value equal to the ground truth, reading the source only as the client reads", async () => {
    const stream = (await graph
      .api(`/users/${tenant.alice.id}/messages/${tenant.bigMessageId}/$value`)
      .header("Prefer", PREFER_IMMUTABLE)
      .getStream()) as ReadableStream<Uint8Array>;
    const reader = stream.getReader();
    const hash = createHash("sha256");
    let received = 0;
    let maxLead = 0;
    const first = await reader.read();
    received += first.value?.length ?? 0;
    hash.update(first.value ?? new Uint8Array());
    // The client stops reading for a while: a server that buffered the message would read it all now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const producedWhilePaused = tenant.probe.bytesProduced;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      hash.update(value);
      maxLead = Math.max(maxLead, tenant.probe.bytesProduced - received);
    }
    expect(received).toBe(tenant.bigMessageSize);
    const truth = (await tenant.store.groundTruth()).mailboxes
      .flatMap((m) => m.folders.flatMap((f) => f.messages))
      .find((m) => m.id === tenant.bigMessageId);
    expect(hash.digest("hex")).toBe(truth?.sha256);
    expect(producedWhilePaused).toBeLessThan(tenant.bigMessageSize / 2);
    expect(maxLead).toBeLessThan(tenant.bigMessageSize / 2);
    expect(tenant.probe.chunksProduced).toBeGreaterThanOrEqual(
      Math.floor(tenant.bigMessageSize / (64 * 1024)),
    );
    expect(sim.stats().mailboxes[tenant.alice.id]?.mimeBytesServed).toBe(tenant.bigMessageSize);
  });

  it("serves a message with $select, its attachments and an attachment's raw content", async () => {
    const id = tenant.store.listMessages(tenant.alice.id, "inbox")[0]?.id ?? "";
    const message = await graph
      .api(`/users/${tenant.alice.id}/messages/${id}`)
      .select("subject,hasAttachments")
      .get();
    expect(message).toMatchObject({ id, subject: "Inbox message 0", hasAttachments: true });
    expect(message.isRead).toBeUndefined();
    const attachments = await graph.api(`/users/${tenant.alice.id}/messages/${id}/attachments`).get();
    expect(attachments.value).toHaveLength(1);
    const [attachment] = attachments.value;
    expect(attachment).toMatchObject({
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: "data.bin",
      size: 16,
    });
    expect(Buffer.from(attachment.contentBytes, "base64").toString()).toBe("attachment-bytes");
    const raw = (await graph
      .api(`/users/${tenant.alice.id}/messages/${id}/attachments/${attachment.id}/$value`)
      .getStream()) as ReadableStream<Uint8Array>;
    expect(await new Response(raw).text()).toBe("attachment-bytes");
    const missing = await graphErrorOf(graph.api(`/users/${tenant.alice.id}/messages/AAMkAGI2missing`).get());
    expect([missing.statusCode, missing.code]).toEqual([404, "ErrorItemNotFound"]);
  });

  it("restores: creates folders, a non-draft message from JSON with extended properties, a draft from MIME, and patches props", async () => {
    const user = `/users/${tenant.alice.id}`;
    const restored = await graph.api(`${user}/mailFolders`).post({ displayName: "Restored" });
    expect(restored.parentFolderId).toBe(tenant.store.rootFolderId(tenant.alice.id));
    const child = await graph
      .api(`${user}/mailFolders/${restored.id}/childFolders`)
      .post({ displayName: "Inbox copy" });
    expect(child.parentFolderId).toBe(restored.id);
    const duplicate = await graphErrorOf(graph.api(`${user}/mailFolders`).post({ displayName: "restored" }));
    expect([duplicate.statusCode, duplicate.code]).toEqual([409, "ErrorFolderExists"]);

    const created = await graph.api(`${user}/mailFolders/${child.id}/messages`).post({
      subject: "Quarterly numbers",
      body: { contentType: "text", content: "See attached." },
      from: { emailAddress: { name: "Carol", address: "carol@contoso.test" } },
      toRecipients: [{ emailAddress: { name: "Alice", address: "alice@contoso.test" } }],
      isRead: true,
      categories: ["Red"],
      importance: "high",
      flag: { flagStatus: "flagged" },
      singleValueExtendedProperties: [
        { id: "Integer 0x0E07", value: "1" },
        { id: "SystemTime 0x0E06", value: "2025-03-04T05:06:07Z" },
      ],
    });
    expect(created).toMatchObject({
      isDraft: false,
      isRead: true,
      receivedDateTime: "2025-03-04T05:06:07Z",
      categories: ["Red"],
      importance: "high",
    });
    const mime = await new Response(
      (await graph.api(`${user}/messages/${created.id}/$value`).getStream()) as ReadableStream<Uint8Array>,
    ).text();
    expect(mime).toContain("Subject: Quarterly numbers");

    const draft = await graph
      .api(`${user}/mailFolders/${child.id}/messages`)
      .header("Content-Type", "text/plain")
      .post(smallMime("From a MIME restore").toString("base64"));
    expect(draft).toMatchObject({ isDraft: true, subject: "From a MIME restore", hasAttachments: true });

    const patched = await graph
      .api(`${user}/messages/${draft.id}`)
      .patch({ isRead: true, flag: { flagStatus: "complete" }, categories: ["Green"] });
    expect(patched).toMatchObject({ isRead: true, flag: { flagStatus: "complete" }, categories: ["Green"] });
    expect(tenant.store.getMessage(tenant.alice.id, draft.id)?.isRead).toBe(true);
    const invalid = await graphErrorOf(
      graph.api(`${user}/messages/${draft.id}`).patch({ importance: "urgent" }),
    );
    expect(invalid.statusCode).toBe(400);
    const folder = await graph.api(`${user}/mailFolders/${child.id}`).get();
    expect(folder.totalItemCount).toBe(2);
  });
});
