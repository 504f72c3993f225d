/**
 * uploadLargeAttachment through mailstream's gateway against the simulator: fragments go to the
 * upload URL without a bearer token, count against the mailbox, and an answer lost after the
 * service stored a fragment is recovered from the session's reported position.
 */
import { randomBytes } from "node:crypto";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { FatalError } from "../../../lib/errors.js";
import {
  DEFAULT_FRAGMENT_BYTES,
  nextExpectedStart,
  uploadLargeAttachment,
} from "../../../lib/graph/upload-session.js";
import { sha } from "../../support/archive-entries.js";
import { buildTenant, type GraphTestTenant, gatewayFor, startSim } from "./fixture.js";

let tenant: GraphTestTenant;
let sim: RunningSimulator;

/** Random content of `size` bytes (incompressible, like a real attachment). */
function fileOf(size: number, _seed: number): Buffer {
  return randomBytes(size);
}

async function attachmentsOf(messageId: string): Promise<Map<string, string>> {
  const message = tenant.store.getMessage(tenant.alice.id, messageId)!;
  const chunks: Buffer[] = [];
  for await (const chunk of tenant.store.openMime(message)) chunks.push(chunk as Buffer);
  const parsed = await simpleParser(Buffer.concat(chunks));
  return new Map(parsed.attachments.map((a) => [a.filename ?? "", sha(a.content)]));
}

beforeAll(async () => {
  tenant = buildTenant({ inboxMessages: 3, bigMessageBytes: 1024 });
  sim = await startSim(tenant.store);
});
afterAll(async () => {
  await sim?.close();
});

describe("uploadLargeAttachment", () => {
  it("uploads in fragments with no bearer token on the upload URL, counted against the mailbox", async () => {
    const seen: Array<{ url: string; method: string; authorized: boolean }> = [];
    const recordingFetch: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      seen.push({
        url: String(input),
        method: init?.method ?? "GET",
        authorized: headers.has("authorization"),
      });
      return fetch(input, init);
    };
    const gateway = gatewayFor(sim, { policy: { fetch: recordingFetch } });
    const messageId = tenant.store.listMessages(tenant.alice.id, tenant.inboxId)[0]!.id;
    const file = fileOf(2 * DEFAULT_FRAGMENT_BYTES + 777, 5);
    const progress: number[] = [];

    const result = await uploadLargeAttachment(
      gateway,
      tenant.alice.id,
      messageId,
      { name: "report.pdf", contentType: "application/pdf", content: file },
      { onProgress: (done) => progress.push(done) },
    );
    expect(result).toMatchObject({ fragments: 3, resumes: 0 });
    expect(result.attachmentId).toBeTruthy();
    expect(progress).toEqual([DEFAULT_FRAGMENT_BYTES, 2 * DEFAULT_FRAGMENT_BYTES, file.length]);
    expect((await attachmentsOf(messageId)).get("report.pdf")).toBe(sha(file));

    const session = seen.filter((r) => r.url.includes("createUploadSession"));
    const puts = seen.filter((r) => r.method === "PUT");
    expect(session.map((r) => r.authorized)).toEqual([true]);
    expect(puts).toHaveLength(3);
    expect(puts.every((r) => !r.authorized)).toBe(true);
    expect(gateway.stats()[tenant.alice.id.toLowerCase()]?.requests).toBe(4);
  });

  it("resumes from the session's position when a stored fragment's answer was lost", async () => {
    let putCount = 0;
    // The second PUT reaches the service, which stores it; the answer never reaches us.
    const lossyFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === "PUT" && ++putCount === 2) {
        await response.arrayBuffer();
        throw new TypeError("fetch failed: socket closed before the answer");
      }
      return response;
    };
    const gateway = gatewayFor(sim, { policy: { fetch: lossyFetch, backoffBaseMs: 1 } });
    const messageId = tenant.store.listMessages(tenant.alice.id, tenant.inboxId)[1]!.id;
    const file = fileOf(3 * DEFAULT_FRAGMENT_BYTES + 10, 9);

    const result = await uploadLargeAttachment(gateway, tenant.alice.id, messageId, {
      name: "lost.bin",
      contentType: "application/octet-stream",
      content: file,
    });
    expect(result.resumes).toBe(1);
    const attachments = await attachmentsOf(messageId);
    expect(attachments.get("lost.bin")).toBe(sha(file));
    expect([...attachments.keys()].filter((n) => n === "lost.bin")).toHaveLength(1);
  });

  it("sleeps through the mailbox's upload budget when its Retry-After is longer than the gateway waits in place", async () => {
    const budgeted = await startSim(tenant.store, {
      uploadBytesPerWindow: 2 * DEFAULT_FRAGMENT_BYTES,
      uploadWindowMs: 1_500,
    });
    try {
      const gateway = gatewayFor(budgeted, { policy: { maxRetryAfterMs: 100 } });
      const messageId = tenant.store.listMessages(tenant.alice.id, tenant.inboxId)[2]!.id;
      const file = fileOf(3 * DEFAULT_FRAGMENT_BYTES, 13);
      const result = await uploadLargeAttachment(gateway, tenant.alice.id, messageId, {
        name: "budget.bin",
        contentType: "application/octet-stream",
        content: file,
      });
      expect(result.resumes).toBe(0);
      expect((await attachmentsOf(messageId)).get("budget.bin")).toBe(sha(file));
      const stats = budgeted.stats().mailboxes[tenant.alice.id]!;
      expect(stats.throttled).toBeGreaterThanOrEqual(1);
      expect(stats.uploadBytesReceived).toBe(file.length);
    } finally {
      await budgeted.close();
    }
  });

  it("refuses a fragment size the service would refuse, before creating a session", async () => {
    const gateway = gatewayFor(sim);
    const messageId = tenant.store.listMessages(tenant.alice.id, tenant.inboxId)[0]!.id;
    const attachment = { name: "x", contentType: "text/plain", content: fileOf(3_000_000, 1) };
    await expect(
      uploadLargeAttachment(gateway, tenant.alice.id, messageId, attachment, { fragmentBytes: 1_000_000 }),
    ).rejects.toThrow(FatalError);
    await expect(
      uploadLargeAttachment(gateway, tenant.alice.id, messageId, {
        ...attachment,
        content: fileOf(100, 1),
      }),
    ).rejects.toThrow(/upload session/);
    expect(gateway.stats()[tenant.alice.id.toLowerCase()]?.requests ?? 0).toBe(0);
  });

  it("reads Outlook's and OneDrive's forms of nextExpectedRanges", () => {
    expect(nextExpectedStart(["0-"])).toBe(0);
    expect(nextExpectedStart(["2097152"])).toBe(2097152);
    expect(nextExpectedStart(["12-99", "200-"])).toBe(12);
    expect(nextExpectedStart([])).toBeUndefined();
    expect(nextExpectedStart("12")).toBeUndefined();
  });
});
