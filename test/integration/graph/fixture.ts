/**
 * A small tenant and a running simulator for the Graph layer's integration tests, built through
 * the real InMemoryTenantStore: a user with a folder tree (nested, hidden, search, more top-level
 * folders than one default page), a shared mailbox, a room, an account without mail, one whose
 * mailbox is gone, and a generated MIME message over 20 MB.
 */
import { Readable } from "node:stream";
import type { NewMessage, SimUser } from "../../../lib/dev/sim/model.js";
import {
  type LimitOptions,
  type RunningSimulator,
  startSimulator,
} from "../../../lib/dev/sim/server/index.js";
import { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";
import { createTokenProvider } from "../../../lib/graph/auth.js";
import {
  createGraphGateway,
  type GraphGateway,
  type GraphGatewayOptions,
} from "../../../lib/graph/client.js";
import { loadTestCa } from "../../support/sim-ca.js";

export const TENANT_ID = "6f1c0de0-0000-4000-8000-0000000000a7";

function user(
  index: number,
  name: string,
  mailbox: SimUser["mailbox"],
  mail = true,
  groups: string[] = [],
): SimUser {
  return {
    id: `0000000${index % 10}-bbbb-4ccc-8ddd-${index.toString(16).padStart(12, "0")}`,
    userPrincipalName: `${name}@contoso.test`,
    displayName: name.charAt(0).toUpperCase() + name.slice(1),
    mail: mail ? `${name}@contoso.test` : null,
    accountEnabled: true,
    licenseCount: mailbox?.purpose === "user" ? 1 : 0,
    mailbox,
    groups,
  };
}

export function message(subject: string, overrides: Partial<NewMessage> = {}): NewMessage {
  const mime = Buffer.from(
    [
      "From: Bob <bob@contoso.test>",
      "To: Alice <alice@contoso.test>",
      `Subject: ${subject}`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "",
      `Body of ${subject}.`,
      "",
    ].join("\r\n"),
  );
  return {
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
    internetMessageId: `<${subject.replace(/\W/g, "")}@contoso.test>`,
    conversationId: "conv",
    subject,
    from: { name: "Bob", address: "bob@contoso.test" },
    toRecipients: [{ name: "Alice", address: "alice@contoso.test" }],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: "2026-01-05T10:00:00Z",
    receivedDateTime: "2026-01-05T10:00:00Z",
    sentDateTime: "2026-01-05T09:59:00Z",
    isDraft: false,
    hasAttachments: false,
    bodyPreview: `Body of ${subject}.`,
    mime: { kind: "bytes", bytes: mime },
    ...overrides,
  };
}

/** A deterministic large MIME message produced in 64 KiB chunks. */
function generatedMime(size: number): { kind: "generated"; size: number; open(): Readable } {
  const header = Buffer.from("From: Bob <bob@contoso.test>\r\nSubject: Big\r\nMIME-Version: 1.0\r\n\r\n");
  const line = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n");
  return {
    kind: "generated",
    size,
    open() {
      let offset = 0;
      return new Readable({
        read() {
          if (offset >= size) return void this.push(null);
          const length = Math.min(65536, size - offset);
          const chunk = Buffer.alloc(length);
          for (let i = 0; i < length; i++) {
            const pos = offset + i;
            chunk[i] =
              pos < header.length
                ? (header[pos] as number)
                : (line[(pos - header.length) % line.length] as number);
          }
          offset += length;
          this.push(chunk);
        },
      });
    },
  };
}

export interface GraphTestTenant {
  store: InMemoryTenantStore;
  alice: SimUser;
  shared: SimUser;
  room: SimUser;
  noMail: SimUser;
  gone: SimUser;
  inboxId: string;
  bigMessageId: string;
  bigMessageSize: number;
}

export function buildTenant(
  options: { inboxMessages?: number; bigMessageBytes?: number } = {},
): GraphTestTenant {
  const store = new InMemoryTenantStore({ tenantId: TENANT_ID });
  const alice = user(1, "alice", { purpose: "user", timeZone: "UTC" }, true, ["Sales"]);
  const shared = user(2, "support", { purpose: "shared", timeZone: "UTC" }, true, ["Helpdesk"]);
  const room = user(3, "boardroom", { purpose: "room", timeZone: "UTC" });
  const noMail = user(4, "nomail", null, false);
  const gone = user(5, "gone", null, true);
  for (const u of [alice, shared, room, noMail, gone]) store.addUser(u);

  const root = store.rootFolderId(alice.id);
  const wellKnown: Array<[string, string]> = [
    ["Inbox", "inbox"],
    ["Sent Items", "sentitems"],
    ["Drafts", "drafts"],
    ["Deleted Items", "deleteditems"],
    ["Junk Email", "junkemail"],
    ["Archive", "archive"],
  ];
  for (const [displayName, wellKnownName] of wellKnown) {
    store.addFolder(alice.id, root, { displayName, isHidden: false, isSearchFolder: false, wellKnownName });
  }
  for (let i = 0; i < 7; i++)
    store.addFolder(alice.id, root, { displayName: `Project ${i}`, isHidden: false, isSearchFolder: false });
  store.addFolder(alice.id, root, {
    displayName: "Conversation History",
    isHidden: true,
    isSearchFolder: false,
  });
  store.addFolder(alice.id, root, { displayName: "Unread Mail", isHidden: false, isSearchFolder: true });
  const inbox = store.getFolder(alice.id, "inbox");
  if (!inbox) throw new Error("fixture: inbox missing");
  const receipts = store.addFolder(alice.id, inbox.id, {
    displayName: "Receipts",
    isHidden: false,
    isSearchFolder: false,
  });
  store.addFolder(alice.id, receipts.id, { displayName: "2026", isHidden: false, isSearchFolder: false });
  for (let i = 0; i < (options.inboxMessages ?? 30); i++) {
    store.addMessage(alice.id, inbox.id, message(`Inbox ${i}`, { isRead: i % 3 === 0 }));
  }
  store.addMessage(alice.id, receipts.id, message("Receipt 1"));

  const sharedInbox = store.addFolder(shared.id, store.rootFolderId(shared.id), {
    displayName: "Inbox",
    isHidden: false,
    isSearchFolder: false,
    wellKnownName: "inbox",
  });
  store.addMessage(shared.id, sharedInbox.id, message("Shared hello"));
  store.addFolder(room.id, store.rootFolderId(room.id), {
    displayName: "Calendar",
    isHidden: false,
    isSearchFolder: false,
  });

  const bigMessageSize = options.bigMessageBytes ?? 20 * 1024 * 1024 + 4321;
  const archive = store.getFolder(alice.id, "archive");
  if (!archive) throw new Error("fixture: archive missing");
  const big = store.addMessage(alice.id, archive.id, message("Big", { mime: generatedMime(bigMessageSize) }));
  return {
    store,
    alice,
    shared,
    room,
    noMail,
    gone,
    inboxId: inbox.id,
    bigMessageId: big.id,
    bigMessageSize,
  };
}

export async function startSim(store: InMemoryTenantStore, limits?: LimitOptions): Promise<RunningSimulator> {
  return startSimulator({ store, ca: await loadTestCa(), ...(limits ? { limits } : {}) });
}

/** A gateway configured the way mailstream configures one: no discovery call leaves the machine. */
export function gatewayFor(
  sim: RunningSimulator,
  options: Omit<GraphGatewayOptions, "tokens" | "baseUrl"> = {},
): GraphGateway {
  const tokens = createTokenProvider({
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    credential: { clientSecret: sim.clientSecret as string },
    authority: sim.authority,
    knownAuthorities: sim.knownAuthorities,
    authorityMetadata: sim.msalAuthorityMetadata,
  });
  return createGraphGateway({ tokens, baseUrl: sim.baseUrl, ...options });
}
