import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type {
  DeltaCursor,
  DeltaEntry,
  NewMessage,
  SimUser,
  TenantStore,
} from "../../../lib/dev/sim/model.js";
import { TenantObjectNotFoundError } from "../../../lib/dev/sim/tenant/errors.js";
import { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

const USER_ID = "11111111-2222-4333-8444-555555555555";

function user(overrides: Partial<SimUser> = {}): SimUser {
  return {
    id: USER_ID,
    userPrincipalName: "adele@contoso.test",
    displayName: "Adele Vance",
    mail: "adele@contoso.test",
    accountEnabled: true,
    licenseCount: 1,
    mailbox: { purpose: "user", timeZone: "UTC" },
    groups: [],
    ...overrides,
  };
}

function message(
  n: number,
  mime: NewMessage["mime"] = { kind: "bytes", bytes: Buffer.from(`Subject: m${n}\r\n\r\nbody ${n}\r\n`) },
): NewMessage {
  const date = new Date(Date.UTC(2024, 0, 1) + n * 60_000).toISOString();
  return {
    internetMessageId: `<m${n}@contoso.test>`,
    conversationId: `conv-${n}`,
    subject: `m${n}`,
    from: { name: "Sender", address: "sender@contoso.test" },
    toRecipients: [{ name: "Adele Vance", address: "adele@contoso.test" }],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: date,
    receivedDateTime: date,
    sentDateTime: date,
    isDraft: false,
    hasAttachments: false,
    bodyPreview: `body ${n}`,
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
    mime,
  };
}

function setup(): { store: InMemoryTenantStore; inbox: string; archive: string } {
  const store = new InMemoryTenantStore({ tenantId: "tenant-a" });
  store.addUser(user());
  const root = store.rootFolderId(USER_ID);
  const inbox = store.addFolder(USER_ID, root, {
    displayName: "Inbox",
    isHidden: false,
    isSearchFolder: false,
    wellKnownName: "inbox",
  }).id;
  const archive = store.addFolder(USER_ID, root, {
    displayName: "Archive",
    isHidden: false,
    isSearchFolder: false,
    wellKnownName: "archive",
  }).id;
  return { store, inbox, archive };
}

/** Runs one whole round from `cursor`, returning every entry and the cursor for the next round. */
function round(
  store: TenantStore,
  folder: string,
  cursor: DeltaCursor | null,
  pageSize: number,
): { entries: DeltaEntry[]; next: DeltaCursor; pages: number } {
  const entries: DeltaEntry[] = [];
  let current = cursor;
  for (let pages = 1; pages < 10_000; pages++) {
    const result = store.delta(USER_ID, folder, current, pageSize);
    if (!result.ok) throw new Error(`delta failed: ${result.reason}`);
    entries.push(...result.page.entries);
    expect(result.page.entries.length).toBeLessThanOrEqual(pageSize);
    if (result.page.done) return { entries, next: result.page.cursor, pages };
    current = result.page.cursor;
  }
  throw new Error("delta round never finished");
}

function summarise(entries: DeltaEntry[]): string[] {
  return entries.map((e) => (e.type === "upsert" ? `+${e.message.subject}` : `-${e.id}`));
}

describe("InMemoryTenantStore directory and folders", () => {
  it("finds users by id or UPN case-insensitively and gives users without mailbox no root", () => {
    const store = new InMemoryTenantStore({ tenantId: "t" });
    store.addUser(user());
    store.addUser(
      user({
        id: "AAAAAAAA-2222-4333-8444-555555555555",
        userPrincipalName: "nomail@contoso.test",
        mail: null,
        mailbox: null,
      }),
    );
    expect(store.getUser("ADELE@contoso.test")?.id).toBe(USER_ID);
    expect(store.getUser("aaaaaaaa-2222-4333-8444-555555555555")?.userPrincipalName).toBe(
      "nomail@contoso.test",
    );
    expect(() => store.rootFolderId("nomail@contoso.test")).toThrow(TenantObjectNotFoundError);
    expect(store.getFolder("nomail@contoso.test", "inbox")).toBeUndefined();
    store.removeUser(USER_ID);
    expect(store.getUser("adele@contoso.test")).toBeUndefined();
    expect(store.listUsers().map((u) => u.userPrincipalName)).toEqual(["nomail@contoso.test"]);
  });

  it("resolves well-known names, lists children and renames", () => {
    const { store, inbox } = setup();
    const root = store.rootFolderId(USER_ID);
    expect(store.getFolder(USER_ID, "msgfolderroot")?.id).toBe(root);
    expect(store.getFolder(USER_ID, "Inbox")?.id).toBe(inbox);
    expect(store.listChildFolders(USER_ID, root).map((f) => f.displayName)).toEqual(["Inbox", "Archive"]);
    expect(inbox).toMatch(/^AAMkAG[A-Za-z0-9_-]{60,}$/);
    const sub = store.addFolder(USER_ID, inbox, {
      displayName: "Projects",
      isHidden: false,
      isSearchFolder: false,
    });
    expect(sub.parentFolderId).toBe(inbox);
    store.renameFolder(USER_ID, sub.id, "Projekte 🚀");
    expect(store.listChildFolders(USER_ID, inbox)[0]?.displayName).toBe("Projekte 🚀");
  });

  it("gives identical ids for identical call sequences and different ids across tenants", () => {
    const a = setup();
    const b = setup();
    expect(a.inbox).toBe(b.inbox);
    expect(a.store.addMessage(USER_ID, a.inbox, message(1)).id).toBe(
      b.store.addMessage(USER_ID, b.inbox, message(1)).id,
    );
    const other = new InMemoryTenantStore({ tenantId: "tenant-b" });
    other.addUser(user());
    expect(other.rootFolderId(USER_ID)).not.toBe(a.store.rootFolderId(USER_ID));
  });

  it("keeps folder stats in step with adds, updates, moves and deletes", () => {
    const { store, inbox, archive } = setup();
    const m1 = store.addMessage(USER_ID, inbox, message(1));
    const m2 = store.addMessage(USER_ID, inbox, message(2));
    expect(store.folderStats(USER_ID, inbox)).toEqual({
      totalItemCount: 2,
      unreadItemCount: 2,
      sizeBytes: m1.size + m2.size,
      allItemCount: 2,
    });
    store.updateMessage(USER_ID, m1.id, { isRead: true });
    store.moveMessage(USER_ID, m2.id, archive);
    expect(store.folderStats(USER_ID, inbox)).toEqual({
      totalItemCount: 1,
      unreadItemCount: 0,
      sizeBytes: m1.size,
      allItemCount: 1,
    });
    expect(store.folderStats(USER_ID, archive)).toEqual({
      totalItemCount: 1,
      unreadItemCount: 1,
      sizeBytes: m2.size,
      allItemCount: 1,
    });
    store.deleteMessage(USER_ID, m2.id);
    expect(store.folderStats(USER_ID, archive)).toEqual({
      totalItemCount: 0,
      unreadItemCount: 0,
      sizeBytes: 0,
      allItemCount: 0,
    });
    expect(store.getMessage(USER_ID, m2.id)).toBeUndefined();
  });

  it("changes changeKey and advances lastModifiedDateTime on every change, keeping the id across moves", () => {
    const { store, inbox, archive } = setup();
    const added = store.addMessage(USER_ID, inbox, message(1));
    const updated = store.updateMessage(USER_ID, added.id, {
      flag: { flagStatus: "flagged" },
      categories: ["Red"],
    });
    const moved = store.moveMessage(USER_ID, added.id, "archive");
    expect(new Set([added.changeKey, updated.changeKey, moved.changeKey]).size).toBe(3);
    expect(moved.id).toBe(added.id);
    expect(moved.parentFolderId).toBe(archive);
    expect(moved.flag.flagStatus).toBe("flagged");
    expect(Date.parse(updated.lastModifiedDateTime)).toBeGreaterThan(Date.parse(added.lastModifiedDateTime));
    expect(Date.parse(moved.lastModifiedDateTime)).toBeGreaterThan(Date.parse(updated.lastModifiedDateTime));
  });
});

describe("InMemoryTenantStore delta", () => {
  it("pages an initial round to the end, each message once, then an empty round", () => {
    const { store, inbox } = setup();
    for (let i = 0; i < 23; i++) store.addMessage(USER_ID, inbox, message(i));
    const first = round(store, inbox, null, 5);
    expect(first.pages).toBe(5);
    expect(summarise(first.entries)).toEqual(Array.from({ length: 23 }, (_, i) => `+m${i}`));
    const second = round(store, inbox, first.next, 5);
    expect(second.entries).toEqual([]);
  });

  it("delivers exactly the adds, updates, moves and deletes of the next round", () => {
    const { store, inbox, archive } = setup();
    const ids = Array.from({ length: 6 }, (_, i) => store.addMessage(USER_ID, inbox, message(i)).id);
    const inboxRound = round(store, inbox, null, 4);
    const archiveRound = round(store, archive, null, 4);
    expect(archiveRound.entries).toEqual([]);

    store.addMessage(USER_ID, inbox, message(10));
    store.updateMessage(USER_ID, ids[1] as string, { isRead: true });
    store.moveMessage(USER_ID, ids[2] as string, archive);
    store.deleteMessage(USER_ID, ids[3] as string);
    // Moved out and back in: the client must see it as changed, not removed.
    store.moveMessage(USER_ID, ids[4] as string, archive);
    store.moveMessage(USER_ID, ids[4] as string, inbox);

    const inboxNext = round(store, inbox, inboxRound.next, 2);
    expect(summarise(inboxNext.entries)).toEqual(["+m10", "+m1", `-${ids[2]}`, `-${ids[3]}`, "+m4"]);
    const archiveNext = round(store, archive, archiveRound.next, 2);
    // m4 came and went within the round: its tombstone is reported (the client never saw it, harmless).
    expect(summarise(archiveNext.entries)).toEqual(["+m2", `-${ids[4]}`]);
    expect(round(store, inbox, inboxNext.next, 2).entries).toEqual([]);
  });

  it("never delivers tombstones in the initial round", () => {
    const { store, inbox } = setup();
    const gone = store.addMessage(USER_ID, inbox, message(1));
    store.addMessage(USER_ID, inbox, message(2));
    store.deleteMessage(USER_ID, gone.id);
    expect(summarise(round(store, inbox, null, 10).entries)).toEqual(["+m2"]);
  });

  it("does not skip items changed mid-round: they come in the next round", () => {
    const { store, inbox } = setup();
    const ids = Array.from({ length: 10 }, (_, i) => store.addMessage(USER_ID, inbox, message(i)).id);
    const page1 = store.delta(USER_ID, inbox, null, 3);
    if (!page1.ok) throw new Error("expected a page");
    expect(page1.page.done).toBe(false);
    // Change one delivered and one not-yet-delivered item, and add a new one, mid-round.
    store.updateMessage(USER_ID, ids[0] as string, { isRead: true });
    store.updateMessage(USER_ID, ids[5] as string, { isRead: true });
    store.addMessage(USER_ID, inbox, message(99));
    const rest = round(store, inbox, page1.page.cursor, 3);
    const firstRound = [...summarise(page1.page.entries), ...summarise(rest.entries)];
    expect(firstRound).toEqual(["+m0", "+m1", "+m2", "+m3", "+m4", "+m6", "+m7", "+m8", "+m9"]);
    const nextRound = round(store, inbox, rest.next, 3);
    expect(summarise(nextRound.entries)).toEqual(["+m0", "+m5", "+m99"]);
    const latest = nextRound.entries.find((e) => e.type === "upsert" && e.message.id === ids[5]);
    expect(latest?.type === "upsert" && latest.message.isRead).toBe(true);
  });

  it("answers SyncStateNotFound after invalidation and FolderNotFound for unknown folders", () => {
    const { store, inbox, archive } = setup();
    store.addMessage(USER_ID, inbox, message(1));
    store.addMessage(USER_ID, inbox, message(2));
    const page = store.delta(USER_ID, inbox, null, 1);
    const done = round(store, archive, null, 1);
    if (!page.ok) throw new Error("expected a page");
    store.invalidateSyncState(USER_ID, inbox);
    expect(store.delta(USER_ID, inbox, page.page.cursor, 1)).toEqual({
      ok: false,
      reason: "SyncStateNotFound",
    });
    // Only the invalidated folder loses its state.
    expect(store.delta(USER_ID, archive, done.next, 1).ok).toBe(true);
    // The cursor of one folder is not accepted for another.
    expect(store.delta(USER_ID, archive, page.page.cursor, 1)).toEqual({
      ok: false,
      reason: "SyncStateNotFound",
    });
    expect(store.delta(USER_ID, "AAMkAGnope", null, 1)).toEqual({ ok: false, reason: "FolderNotFound" });
    expect(store.delta("nobody@contoso.test", "inbox", null, 1)).toEqual({
      ok: false,
      reason: "FolderNotFound",
    });
    expect(summarise(round(store, inbox, null, 1).entries)).toEqual(["+m1", "+m2"]);
  });

  it("answers SyncStateNotFound for a cursor from a longer history of the tenant", () => {
    const long = setup();
    for (let i = 0; i < 3; i++) long.store.addMessage(USER_ID, long.inbox, message(i));
    const done = round(long.store, long.inbox, null, 10);
    const short = setup();
    short.store.addMessage(USER_ID, short.inbox, message(0));
    expect(short.inbox).toBe(long.inbox);
    expect(short.store.delta(USER_ID, short.inbox, done.next, 10)).toEqual({
      ok: false,
      reason: "SyncStateNotFound",
    });
    // The same history continued (as tenantFromSeed does with more rounds) accepts it.
    const longer = setup();
    for (let i = 0; i < 4; i++) longer.store.addMessage(USER_ID, longer.inbox, message(i));
    expect(summarise(round(longer.store, longer.inbox, done.next, 10).entries)).toEqual(["+m3"]);
  });

  it("gives search folders empty rounds", () => {
    const { store, inbox } = setup();
    const search = store.addFolder(USER_ID, store.rootFolderId(USER_ID), {
      displayName: "Unread Mail",
      isHidden: false,
      isSearchFolder: true,
    });
    store.addMessage(USER_ID, inbox, message(1));
    expect(round(store, search.id, null, 10).entries).toEqual([]);
  });
});

describe("InMemoryTenantStore MIME and ground truth", () => {
  it("streams bytes and generated MIME and hashes them in the ground truth", async () => {
    const { store, inbox, archive } = setup();
    const small = store.addMessage(USER_ID, inbox, message(1));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const generated = {
      kind: "generated" as const,
      size: chunk.length * 3,
      open: () => Readable.from([chunk, chunk, chunk], { objectMode: false }),
    };
    const big = store.addMessage(USER_ID, archive, message(2, generated));
    expect(big.size).toBe(chunk.length * 3);
    const sub = store.addFolder(USER_ID, archive, {
      displayName: "2024 / Q1",
      isHidden: true,
      isSearchFolder: false,
    });
    const streamed: Buffer[] = [];
    for await (const part of store.openMime(small)) streamed.push(part as Buffer);
    expect(Buffer.concat(streamed).toString()).toBe("Subject: m1\r\n\r\nbody 1\r\n");

    const truth = await store.groundTruth();
    expect(truth.tenantId).toBe("tenant-a");
    const folders = truth.mailboxes[0]?.folders ?? [];
    expect(folders.map((f) => f.path)).toEqual(["Inbox", "Archive", "Archive/2024 / Q1"]);
    expect(folders[2]?.id).toBe(sub.id);
    expect(folders[2]?.isHidden).toBe(true);
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(folders[0]?.messages).toEqual([
      {
        id: small.id,
        sha256: sha(Buffer.from("Subject: m1\r\n\r\nbody 1\r\n")),
        size: small.size,
        isRead: false,
        flag: { flagStatus: "notFlagged" },
        categories: [],
        importance: "normal",
      },
    ]);
    expect(folders[1]?.messages[0]?.sha256).toBe(sha(Buffer.concat([chunk, chunk, chunk])));
  });
});

describe("InMemoryTenantStore guards", () => {
  it("refuses items in search folders and names what is missing", () => {
    const { store, inbox } = setup();
    const search = store.addFolder(USER_ID, store.rootFolderId(USER_ID), {
      displayName: "Unread Mail",
      isHidden: false,
      isSearchFolder: true,
    });
    expect(() => store.addMessage(USER_ID, search.id, message(1))).toThrow(/search folder 'Unread Mail'/);
    const m = store.addMessage(USER_ID, inbox, message(2));
    expect(() => store.moveMessage(USER_ID, m.id, search.id)).toThrow(/search folder/);
    expect(() => store.updateMessage(USER_ID, "AAMkAGmissing", { isRead: true })).toThrow(
      /expected an existing message, found no message 'AAMkAGmissing'/,
    );
    expect(() =>
      store.addFolder(USER_ID, "nope", { displayName: "x", isHidden: false, isSearchFolder: false }),
    ).toThrow(TenantObjectNotFoundError);
    expect(() =>
      store.addFolder(USER_ID, store.rootFolderId(USER_ID), {
        displayName: "Inbox 2",
        isHidden: false,
        isSearchFolder: false,
        wellKnownName: "inbox",
      }),
    ).toThrow(/well-known/);
  });
});
