/**
 * Restore of a message too large for one Graph request: a real backup of a simulated mailbox
 * holding a message with an ~8.5 MB attachment, restored into other mailboxes through the
 * simulator (upload sessions). The copy is received mail with its properties and the attachment
 * byte for byte; a second run adds nothing; an upload that fails leaves no half-made message, and
 * a half-made message left by a run that died is replaced.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreCommand } from "../../../lib/cli/commands/restore.js";
import { type LocalStack, startLocalStack } from "../../../lib/dev/local/stack.js";
import { generateTenant, type SimMessage, type SimUser } from "../../../lib/dev/sim/index.js";
import { composeMime } from "../../../lib/dev/sim/server/mime-compose.js";
import { createFolder, createMessage } from "../../../lib/graph/write.js";
import { planRestoreMessage } from "../../../lib/restore/message-json.js";
import type { RestoreResult } from "../../../lib/restore/restore-run.js";
import { sha } from "../../support/archive-entries.js";
import { captureIO } from "../../support/command-io.js";
import { loadTestCa } from "../../support/sim-ca.js";

const LARGE_MIME_BYTES = 11_600_000;

let dir: string;
let archive: string;
let tenant: ReturnType<typeof generateTenant>;
let stack: LocalStack | undefined;
let source: SimUser;
let large: SimMessage;
let largeAttachmentHashes: string[];
/** A message with three 1.4 MB attachments: too much for one request, each small enough to POST. */
let several: SimMessage;
let severalHashes: string[];

async function mimeOf(userId: string, messageId: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tenant.openMime(tenant.getMessage(userId, messageId)!))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function attachmentHashes(mime: Buffer): Promise<string[]> {
  return (await simpleParser(mime)).attachments.map((a) => sha(a.content)).sort();
}

/** Copies of the large message (by internetMessageId) in a folder path of a mailbox. */
function copiesIn(user: SimUser, path: string[]): SimMessage[] {
  let folderId = tenant.rootFolderId(user.id);
  for (const name of path) {
    const child = tenant.listChildFolders(user.id, folderId).find((f) => f.displayName === name);
    if (!child) return [];
    folderId = child.id;
  }
  return tenant
    .listMessages(user.id, folderId)
    .filter((m) => m.internetMessageId === large.internetMessageId);
}

async function restoreInbox(target: SimUser, into: string): Promise<RestoreResult> {
  const c = captureIO();
  const code = await restoreCommand(
    source.mail!,
    "Inbox",
    { archive, to: target.mail!, into, json: true, gateway: stack!.app.gateway },
    c.io,
  );
  expect(code).toBe(0);
  return JSON.parse(c.out.text()) as RestoreResult;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mailstream-restore-large-"));
  archive = join(dir, "archive");
  tenant = generateTenant({
    seed: 83,
    shape: "uniform",
    mailboxes: 4,
    totalMessages: 24,
    largeFraction: 0,
    largeMessages: [{ bytes: LARGE_MIME_BYTES, mailbox: 0 }],
  });
  source = tenant.listUsers().filter((u) => u.mailbox)[0]!;
  large = tenant.listMessages(source.id, "inbox").find((m) => m.size === LARGE_MIME_BYTES)!;
  largeAttachmentHashes = await attachmentHashes(await mimeOf(source.id, large.id));
  const severalMime = composeMime({
    subject: "Three scans",
    from: { name: "Scanner", address: "scanner@contoso.test" },
    to: [{ name: source.displayName, address: source.mail! }],
    cc: [],
    bcc: [],
    date: "2026-02-02T09:00:00Z",
    internetMessageId: "<three-scans@contoso.test>",
    bodyContentType: "text",
    body: "Three scans attached.",
    attachments: [1, 2, 3].map((i) => ({
      name: `scan${i}.pdf`,
      contentType: "application/pdf",
      content: Buffer.alloc(1_400_000, i),
    })),
  });
  several = tenant.addMessage(source.id, "inbox", {
    isRead: true,
    flag: { flagStatus: "flagged" },
    categories: ["Scans"],
    importance: "normal",
    internetMessageId: "<three-scans@contoso.test>",
    conversationId: "scans",
    subject: "Three scans",
    from: { name: "Scanner", address: "scanner@contoso.test" },
    toRecipients: [{ name: source.displayName, address: source.mail! }],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: "2026-02-02T09:00:05Z",
    receivedDateTime: "2026-02-02T09:00:05Z",
    sentDateTime: "2026-02-02T09:00:00Z",
    isDraft: false,
    hasAttachments: true,
    bodyPreview: "Three scans attached.",
    mime: { kind: "bytes", bytes: severalMime },
  });
  severalHashes = await attachmentHashes(severalMime);
  stack = await startLocalStack({
    store: tenant,
    ca: await loadTestCa(),
    archive: { kind: "local", path: archive },
    streams: 1,
    // MIME commands: mail kept as .eml (content mode mime).
    env: { MAILSTREAM_MAIL_CONTENT: "mime" },
    // A short retry budget, so that the failing-upload case gives up quickly (it still waits out
    // the 1 s Retry-After of the first case).
    graphPolicy: { budgetMs: 2_000, backoffBaseMs: 50 },
  });
  await stack.runJob();
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("restore of a message over Graph's 4 MB request limit", () => {
  it("the fixture has a message whose attachment needs an upload session", async () => {
    expect(large).toBeDefined();
    const plan = await planRestoreMessage(await mimeOf(source.id, large.id), {});
    expect(plan.later.map((a) => a.content.length).some((n) => n > 8_000_000)).toBe(true);
  });

  it("restores it as received mail with the attachment byte-identical, honouring a 503 Retry-After on a fragment; a second run adds nothing", async () => {
    const target = tenant.listUsers().filter((u) => u.mailbox)[1]!;
    const inboxCount = tenant.listMessages(source.id, "inbox").length;
    stack!.sim.resetStats();
    stack!.sim.faults.serverError({
      status: 503,
      pathPattern: "AttachmentSessions",
      mailbox: target.id,
      count: 1,
      retryAfterSeconds: 1,
    });

    const first = await restoreInbox(target, "Restored large");
    expect(first).toMatchObject({ created: inboxCount, skipped: 0 });
    expect(first.attachmentsAddedLater).toBeGreaterThanOrEqual(1);

    const copies = copiesIn(target, ["Restored large", "Inbox"]);
    expect(copies).toHaveLength(1);
    const copy = copies[0]!;
    expect(copy.isDraft).toBe(false);
    expect({
      isRead: copy.isRead,
      flag: copy.flag.flagStatus,
      categories: [...copy.categories].sort(),
      received: new Date(copy.receivedDateTime).toISOString(),
      subject: copy.subject,
    }).toEqual({
      isRead: large.isRead,
      flag: large.flag.flagStatus,
      categories: [...large.categories].sort(),
      received: new Date(large.receivedDateTime).toISOString(),
      subject: large.subject,
    });
    expect(await attachmentHashes(await mimeOf(target.id, copy.id))).toEqual(largeAttachmentHashes);
    // The message with several mid-size attachments: one inline, the others POSTed afterwards.
    expect(first.attachmentsAddedLater).toBe(1 + 2);
    const scans = tenant
      .listMessages(target.id, copy.parentFolderId)
      .filter((m) => m.internetMessageId === several.internetMessageId);
    expect(scans).toHaveLength(1);
    expect(scans[0]).toMatchObject({ isDraft: false, isRead: true, flag: { flagStatus: "flagged" } });
    expect(await attachmentHashes(await mimeOf(target.id, scans[0]!.id))).toEqual(severalHashes);

    // The upload went through the target mailbox's limits; the 503 was answered and retried.
    const stats = stack!.sim.stats();
    expect(stats.mailboxes[target.id]!.uploadBytesReceived).toBeGreaterThan(8_000_000);
    expect(stats.graph.byStatus["503"]).toBe(1);

    const second = await restoreInbox(target, "Restored large");
    expect(second).toMatchObject({ created: 0, skipped: inboxCount, attachmentsAddedLater: 0 });
    expect(copiesIn(target, ["Restored large", "Inbox"]).map((m) => m.id)).toEqual([copy.id]);
  });

  it("leaves no half-made message when the upload fails, and a later run restores it whole", async () => {
    const target = tenant.listUsers().filter((u) => u.mailbox)[2]!;
    stack!.sim.faults.serverError({
      status: 503,
      pathPattern: "AttachmentSessions",
      mailbox: target.id,
      // More than the retry budget can go through.
      count: 1_000,
      retryAfterSeconds: 0,
    });
    await expect(
      restoreCommand(
        source.mail!,
        "Inbox",
        { archive, to: target.mail!, into: "Failed", json: true, gateway: stack!.app.gateway },
        captureIO().io,
      ),
    ).rejects.toThrow(/503/);
    stack!.sim.faults.clear();
    expect(copiesIn(target, ["Failed", "Inbox"])).toEqual([]);

    await restoreInbox(target, "Failed");
    const copies = copiesIn(target, ["Failed", "Inbox"]);
    expect(copies).toHaveLength(1);
    expect(await attachmentHashes(await mimeOf(target.id, copies[0]!.id))).toEqual(largeAttachmentHashes);
  });

  it("replaces a half-made copy that a run which died left behind", async () => {
    const target = tenant.listUsers().filter((u) => u.mailbox)[3]!;
    const gateway = stack!.app.gateway;
    // What a run that died after creating the message, before its upload, leaves behind.
    const top = await createFolder(gateway, target.id, null, "Crashed");
    const inbox = await createFolder(gateway, target.id, top.id, "Inbox");
    const plan = await planRestoreMessage(await mimeOf(source.id, large.id), {
      internetMessageId: large.internetMessageId,
      isRead: large.isRead,
    });
    const halfMade = await createMessage(gateway, target.id, inbox.id, plan.message);
    expect(copiesIn(target, ["Crashed", "Inbox"]).map((m) => m.id)).toEqual([halfMade.id]);

    const result = await restoreInbox(target, "Crashed");
    const item = result.items.find((i) => i.messageId === large.id);
    expect(item).toMatchObject({ action: "create", replacesIncomplete: 1 });
    const copies = copiesIn(target, ["Crashed", "Inbox"]);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.id).not.toBe(halfMade.id);
    expect(await attachmentHashes(await mimeOf(target.id, copies[0]!.id))).toEqual(largeAttachmentHashes);

    const again = await restoreInbox(target, "Crashed");
    expect(again.items.find((i) => i.messageId === large.id)?.action).toBe("skip-existing");
  });
});
