/**
 * A small tenant for the simulator server tests, built through the real InMemoryTenantStore:
 * a licensed user with a folder tree (well-known, nested, hidden, search, more than one page of
 * top-level folders), a shared mailbox, an account without mailbox, and a generated 20 MB
 * message whose source records how it is read.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { NewMessage, SimUser } from "../../../lib/dev/sim/model.js";
import { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

export const TENANT_ID = "6f1c0de0-0000-4000-8000-000000000001";

/** What the large message's generator saw: how many chunks it produced and how far ahead of the client it ran. */
export interface GeneratedSourceProbe {
  chunksProduced: number;
  bytesProduced: number;
}

export interface TestTenant {
  store: InMemoryTenantStore;
  alice: SimUser;
  shared: SimUser;
  noMailbox: SimUser;
  /** Extra users so that `/users` needs several pages. */
  userCount: number;
  bigMessageId: string;
  bigMessageSize: number;
  bigMessageSha256: string;
  probe: GeneratedSourceProbe;
}

function user(index: number, name: string, mailbox: SimUser["mailbox"], licenseCount: number): SimUser {
  const hex = index.toString(16).padStart(12, "0");
  return {
    id: `0000000${index % 10}-aaaa-4bbb-8ccc-${hex}`,
    userPrincipalName: `${name}@contoso.test`,
    displayName: name.charAt(0).toUpperCase() + name.slice(1),
    mail: mailbox ? `${name}@contoso.test` : null,
    accountEnabled: true,
    licenseCount,
    mailbox,
    groups: [],
  };
}

export function smallMime(subject: string, body = "Hello there."): Buffer {
  return Buffer.from(
    [
      "From: Bob <bob@contoso.test>",
      "To: Alice <alice@contoso.test>",
      `Subject: ${subject}`,
      "Date: Mon, 05 Jan 2026 10:00:00 +0000",
      `Message-ID: <${createHash("sha1").update(subject).digest("hex")}@contoso.test>`,
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain; charset=utf-8",
      "",
      body,
      "--b1",
      'Content-Type: application/octet-stream; name="data.bin"',
      'Content-Disposition: attachment; filename="data.bin"',
      "Content-Transfer-Encoding: base64",
      "",
      Buffer.from("attachment-bytes").toString("base64"),
      "--b1--",
      "",
    ].join("\r\n"),
  );
}

export function newMessage(subject: string, overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
    internetMessageId: `<${subject.replace(/\W/g, "")}@contoso.test>`,
    conversationId: "conv-1",
    subject,
    from: { name: "Bob", address: "bob@contoso.test" },
    toRecipients: [{ name: "Alice", address: "alice@contoso.test" }],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: "2026-01-05T10:00:00Z",
    receivedDateTime: "2026-01-05T10:00:00Z",
    sentDateTime: "2026-01-05T09:59:00Z",
    isDraft: false,
    hasAttachments: true,
    bodyPreview: "Hello there.",
    mime: { kind: "bytes", bytes: smallMime(subject) },
    ...overrides,
  };
}

const CHUNK = 64 * 1024;

/** A deterministic large MIME message produced chunk by chunk; byte i of the body is a function of i. */
function generatedMime(size: number, probe: GeneratedSourceProbe): { size: number; open(): Readable } {
  const header = Buffer.from(
    "From: Bob <bob@contoso.test>\r\nTo: Alice <alice@contoso.test>\r\nSubject: Big\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
  );
  const line = Buffer.from(`${"0123456789abcdefghijklmnopqrstuvwxyz".repeat(2)}\r\n`);
  return {
    size,
    open() {
      let offset = 0;
      return new Readable({
        read() {
          if (offset >= size) {
            this.push(null);
            return;
          }
          const length = Math.min(CHUNK, size - offset);
          const chunk = Buffer.alloc(length);
          for (let i = 0; i < length; i++) {
            const pos = offset + i;
            chunk[i] =
              pos < header.length
                ? (header[pos] as number)
                : (line[(pos - header.length) % line.length] as number);
          }
          offset += length;
          probe.chunksProduced++;
          probe.bytesProduced += length;
          this.push(chunk);
        },
      });
    },
  };
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function buildTestTenant(
  options: { extraUsers?: number; bigMessageBytes?: number } = {},
): Promise<TestTenant> {
  const store = new InMemoryTenantStore({ tenantId: TENANT_ID });
  const alice = {
    ...user(1, "alice", { purpose: "user", timeZone: "UTC" }, 1),
    groups: ["Finance", "All Staff", "Legal Hold"],
  };
  const shared = user(2, "support", { purpose: "shared", timeZone: "UTC" }, 0);
  const noMailbox = user(3, "nomail", null, 1);
  for (const u of [alice, shared, noMailbox]) store.addUser(u);
  const extraUsers = options.extraUsers ?? 0;
  for (let i = 0; i < extraUsers; i++)
    store.addUser(user(100 + i, `user${i}`, { purpose: "user", timeZone: "UTC" }, 1));

  const root = store.rootFolderId(alice.id);
  const wellKnown = ["Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive"];
  const names = ["inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive"];
  wellKnown.forEach((displayName, i) => {
    store.addFolder(alice.id, root, {
      displayName,
      isHidden: false,
      isSearchFolder: false,
      wellKnownName: names[i],
    });
  });
  for (let i = 0; i < 6; i++)
    store.addFolder(alice.id, root, { displayName: `Project ${i}`, isHidden: false, isSearchFolder: false });
  store.addFolder(alice.id, root, {
    displayName: "Conversation History",
    isHidden: true,
    isSearchFolder: false,
  });
  store.addFolder(alice.id, root, { displayName: "To-Do Search", isHidden: false, isSearchFolder: true });
  const inbox = store.getFolder(alice.id, "inbox");
  if (!inbox) throw new Error("fixture: inbox missing");
  const sub = store.addFolder(alice.id, inbox.id, {
    displayName: "Receipts",
    isHidden: false,
    isSearchFolder: false,
  });
  store.addFolder(alice.id, sub.id, { displayName: "2026", isHidden: false, isSearchFolder: false });
  for (let i = 0; i < 25; i++)
    store.addMessage(alice.id, inbox.id, newMessage(`Inbox message ${i}`, { isRead: i % 2 === 0 }));
  store.addMessage(alice.id, sub.id, newMessage("Receipt 1"));

  const sharedRoot = store.rootFolderId(shared.id);
  const sharedInbox = store.addFolder(shared.id, sharedRoot, {
    displayName: "Inbox",
    isHidden: false,
    isSearchFolder: false,
    wellKnownName: "inbox",
  });
  store.addMessage(shared.id, sharedInbox.id, newMessage("Shared hello"));

  const probe: GeneratedSourceProbe = { chunksProduced: 0, bytesProduced: 0 };
  const bigSize = options.bigMessageBytes ?? 20 * 1024 * 1024 + 123;
  const big = generatedMime(bigSize, probe);
  const bigMessageSha256 = await sha256Of(big.open());
  const archive = store.getFolder(alice.id, "archive");
  if (!archive) throw new Error("fixture: archive missing");
  const bigMessage = store.addMessage(
    alice.id,
    archive.id,
    newMessage("Big", { mime: { kind: "generated", ...big }, hasAttachments: false }),
  );
  probe.chunksProduced = 0;
  probe.bytesProduced = 0;
  return {
    store,
    alice,
    shared,
    noMailbox,
    userCount: 3 + extraUsers,
    bigMessageId: bigMessage.id,
    bigMessageSize: bigSize,
    bigMessageSha256,
    probe,
  };
}
