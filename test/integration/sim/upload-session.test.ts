/**
 * Attachment upload sessions on the simulator, driven by the real Graph client: the session is
 * created on Graph with a bearer token, the fragments go to the pre-authenticated upload URL
 * without one, and the finished file is part of the message (MIME, attachments, ground truth).
 */
import { randomBytes } from "node:crypto";
import type { Client } from "@microsoft/microsoft-graph-client";
import { ResponseType } from "@microsoft/microsoft-graph-client";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { sha } from "../../support/archive-entries.js";
import { graphErrorOf, PREFER_IMMUTABLE, secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

const KIB = 1024;
const UNIT = 320 * KIB;

/** Random content of `size` bytes (incompressible, like a real attachment). */
function fileOf(size: number, _seed: number): Buffer {
  return randomBytes(size);
}

interface Session {
  uploadUrl: string;
  expirationDateTime: string;
  nextExpectedRanges: string[];
}

describe("simulator attachment upload sessions through the real Graph client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let graph: Client;
  let messageId: string;
  const user = () => tenant.alice.id;

  const createSession = (size: number, name = "big.bin", target = messageId) =>
    graph
      .api(`/users/${user()}/messages/${target}/attachments/createUploadSession`)
      .header("Prefer", PREFER_IMMUTABLE)
      .post({
        AttachmentItem: { attachmentType: "file", name, size, contentType: "application/x-test" },
      }) as Promise<Session>;

  /** PUT one fragment with the Graph client (which sends no bearer token off the Graph host). */
  const put = (uploadUrl: string, bytes: Buffer, start: number, total: number) =>
    graph
      .api(uploadUrl)
      .headers({
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${start}-${start + bytes.length - 1}/${total}`,
      })
      .responseType(ResponseType.RAW)
      .put(bytes) as Promise<Response>;

  beforeAll(async () => {
    tenant = await buildTestTenant({ bigMessageBytes: 8 * KIB });
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
    messageId = tenant.store.listMessages(user(), "inbox")[0]!.id;
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("uploads a file in ordered fragments; the message then holds it byte for byte", async () => {
    const file = fileOf(3 * UNIT * 4 + 12_345, 7); // 3.75 MiB + change: 4 fragments of 960 KiB and a tail
    const before = tenant.store.getMessage(user(), messageId)!;
    const beforeAttachments = (await simpleParser(before.mime.kind === "bytes" ? before.mime.bytes : ""))
      .attachments.length;
    sim.resetStats();
    const session = await createSession(file.length);
    expect(session.nextExpectedRanges).toEqual(["0-"]);
    expect(new URL(session.uploadUrl).host).not.toBe(new URL(sim.baseUrl).host);
    expect(Date.parse(session.expirationDateTime)).toBeGreaterThan(Date.now());

    const step = 3 * UNIT;
    let last: Response | undefined;
    const answers: unknown[] = [];
    for (let start = 0; start < file.length; start += step) {
      last = await put(session.uploadUrl, file.subarray(start, start + step), start, file.length);
      if (last.status === 200) answers.push(await last.json());
    }
    expect(answers.map((a) => (a as Session).nextExpectedRanges)).toEqual([
      [String(step)],
      [String(2 * step)],
      [String(3 * step)],
      [String(4 * step)],
    ]);
    expect(last?.status).toBe(201);
    const location = last?.headers.get("location") ?? "";
    const attachmentId = /Attachments\('([^']+)'\)/.exec(location)?.[1];
    expect(attachmentId).toBeTruthy();

    // The attachment through Graph: listed, its raw content equal to the file.
    const listed = (await graph
      .api(`/users/${user()}/messages/${messageId}/attachments`)
      .select("id,name,size")
      .get()) as { value: Array<{ id: string; name: string; contentBytes?: string }> };
    expect(listed.value).toHaveLength(beforeAttachments + 1);
    expect(listed.value.every((a) => a.contentBytes === undefined)).toBe(true);
    expect(listed.value.find((a) => a.id === attachmentId)?.name).toBe("big.bin");
    const raw = (await graph
      .api(`/users/${user()}/messages/${messageId}/attachments/${attachmentId}/$value`)
      .responseType(ResponseType.ARRAYBUFFER)
      .get()) as ArrayBuffer;
    expect(sha(new Uint8Array(raw))).toBe(sha(file));

    // The MIME ($value) carries it, the ground truth has the new MIME, the message stays received mail.
    const mime = (await graph
      .api(`/users/${user()}/messages/${messageId}/$value`)
      .responseType(ResponseType.ARRAYBUFFER)
      .get()) as ArrayBuffer;
    const parsed = await simpleParser(Buffer.from(mime));
    expect(parsed.attachments.map((a) => sha(a.content))).toContain(sha(file));
    const truth = (await tenant.store.groundTruth()).mailboxes
      .flatMap((m) => m.folders.flatMap((f) => f.messages))
      .find((m) => m.id === messageId);
    expect(truth?.sha256).toBe(sha(Buffer.from(mime)));
    const after = tenant.store.getMessage(user(), messageId)!;
    expect(after.isDraft).toBe(before.isDraft);
    expect(after.changeKey).not.toBe(before.changeKey);
    expect(after.hasAttachments).toBe(true);

    // Uploads count against the mailbox like any request: session + 5 PUTs (+ the reads above).
    const stats = sim.stats().mailboxes[user()]!;
    expect(stats.uploadBytesReceived).toBe(file.length);
    expect(stats.requests).toBeGreaterThanOrEqual(6);
  });

  it("refuses gaps and overlaps with 416, reports where it stands, and refuses misaligned or oversized fragments", async () => {
    const file = fileOf(6_000_000, 11);
    const session = await createSession(file.length, "order.bin");
    expect((await put(session.uploadUrl, file.subarray(0, UNIT), 0, file.length)).status).toBe(200);

    // (A RAW response type hands back error answers instead of throwing them.)
    const gap = await put(session.uploadUrl, file.subarray(2 * UNIT, 3 * UNIT), 2 * UNIT, file.length);
    expect(gap.status).toBe(416);
    const overlap = await put(session.uploadUrl, file.subarray(0, UNIT), 0, file.length);
    expect(overlap.status).toBe(416);
    const misaligned = await put(session.uploadUrl, file.subarray(UNIT, UNIT + 1000), UNIT, file.length);
    expect(misaligned.status).toBe(400);
    const tooBig = await put(session.uploadUrl, file.subarray(UNIT, UNIT + 13 * UNIT), UNIT, file.length);
    expect(tooBig.status).toBe(413);
    const wrongTotal = await put(session.uploadUrl, file.subarray(UNIT, 2 * UNIT), UNIT, file.length + 1);
    expect(wrongTotal.status).toBe(400);

    const status = (await graph.api(session.uploadUrl).get()) as Session;
    expect(status.nextExpectedRanges).toEqual([String(UNIT)]);

    // Cancelled: the session is gone and the message did not change.
    const before = tenant.store.getMessage(user(), messageId)!.changeKey;
    expect(
      ((await graph.api(session.uploadUrl).responseType(ResponseType.RAW).delete()) as Response).status,
    ).toBe(204);
    expect((await graphErrorOf(graph.api(session.uploadUrl).get())).statusCode).toBe(404);
    expect(tenant.store.getMessage(user(), messageId)!.changeKey).toBe(before);
  });

  it("accepts no bearer token on the upload URL and refuses a wrong token", async () => {
    const session = await createSession(3_000_000, "auth.bin");
    const status = await fetch(session.uploadUrl);
    expect(status.status).toBe(200);
    const withBearer = await fetch(session.uploadUrl, { headers: { Authorization: "Bearer abc" } });
    expect(withBearer.status).toBe(401);
    const url = new URL(session.uploadUrl);
    url.searchParams.set("authtoken", "not-the-token");
    const wrong = await fetch(url, {
      method: "PUT",
      headers: { "Content-Range": "bytes 0-9/3000000", "Content-Type": "application/octet-stream" },
      body: Buffer.alloc(10),
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe(
      "InvalidAuthenticationToken",
    );
  });

  it("refuses attachments below 3 MB (POST those) and above 150 MB, and unknown messages", async () => {
    const small = await graphErrorOf(createSession(2_999_999));
    expect(small.statusCode).toBe(400);
    expect(small.code).toBe("ErrorAttachmentSizeShouldNotBeLessThanMinimumSize");
    const huge = await graphErrorOf(createSession(150 * 1024 * 1024 + 1));
    expect(huge.statusCode).toBe(400);
    const missing = await graphErrorOf(createSession(3_000_000, "x", "AAMkNoSuchMessage"));
    expect(missing.statusCode).toBe(404);
  });

  it("adds a small attachment by POST and deletes a message permanently", async () => {
    const target = tenant.store.listMessages(user(), "inbox")[1]!.id;
    const file = fileOf(50_000, 3);
    const created = (await graph.api(`/users/${user()}/messages/${target}/attachments`).post({
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: "small.bin",
      contentType: "application/octet-stream",
      contentBytes: file.toString("base64"),
    })) as { id: string; size: number };
    expect(created.size).toBe(file.length);
    const raw = (await graph
      .api(`/users/${user()}/messages/${target}/attachments/${created.id}/$value`)
      .responseType(ResponseType.ARRAYBUFFER)
      .get()) as ArrayBuffer;
    expect(sha(new Uint8Array(raw))).toBe(sha(file));

    await graph.api(`/users/${user()}/messages/${target}/permanentDelete`).post({});
    expect(tenant.store.getMessage(user(), target)).toBeUndefined();
  });

  it("refuses an expired session's token", async () => {
    const short = await startTestSimulator({ store: tenant.store, uploadSessionLifetimeSeconds: 1 });
    try {
      const client = secretGraph(short);
      const session = (await client
        .api(`/users/${user()}/messages/${messageId}/attachments/createUploadSession`)
        .post({ AttachmentItem: { attachmentType: "file", name: "late.bin", size: 3_000_000 } })) as Session;
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const late = await fetch(session.uploadUrl);
      expect(late.status).toBe(401);
    } finally {
      await short.close();
    }
  });
});
