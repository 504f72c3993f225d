import { isMailFolder, type TenantStore } from "../model.js";
import { exportSize } from "./items/export.js";

/** A JSON-serialisable size summary of a tenant, for logs. */
export interface TenantDescription {
  tenantId: string;
  /** All directory accounts. */
  accounts: number;
  /** Accounts with a mailbox, by purpose. */
  mailboxes: { total: number; user: number; shared: number; room: number; other: number };
  /** Accounts without a usable mailbox. */
  withoutMailbox: number;
  disabledAccounts: number;
  /** Mail folders below the primary mailboxes' roots (search folders included). */
  folders: number;
  /** Messages of the primary mailboxes. */
  messages: number;
  /** Sum of MIME sizes in bytes. */
  bytes: number;
  /** Items besides mail in the primary mailboxes, by message class (`IPM.Appointment`, …). */
  items: Record<string, number>;
  /** In-place archives, and the messages and other items in them (auxiliary archives included). */
  archives: { mailboxes: number; messages: number; items: number };
  /** The mailbox with the most messages. */
  largestMailbox: { address: string; messages: number; bytes: number } | null;
}

export function describeTenant(store: TenantStore): TenantDescription {
  const users = store.listUsers();
  const out: TenantDescription = {
    tenantId: store.tenantId,
    accounts: users.length,
    mailboxes: { total: 0, user: 0, shared: 0, room: 0, other: 0 },
    withoutMailbox: 0,
    disabledAccounts: users.filter((u) => !u.accountEnabled).length,
    folders: 0,
    messages: 0,
    bytes: 0,
    items: {},
    archives: { mailboxes: 0, messages: 0, items: 0 },
    largestMailbox: null,
  };
  for (const user of users) {
    if (!user.mailbox) {
      out.withoutMailbox++;
      continue;
    }
    out.mailboxes.total++;
    const purpose = user.mailbox.purpose;
    if (purpose === "user" || purpose === "shared" || purpose === "room") out.mailboxes[purpose]++;
    else out.mailboxes.other++;
    let messages = 0;
    let bytes = 0;
    const walk = (id: string) => {
      for (const child of store.listChildFolders(user.id, id)) {
        if (isMailFolder(child)) out.folders++;
        const stats = store.folderStats(user.id, child.id);
        messages += stats.totalItemCount;
        bytes += stats.sizeBytes;
        for (const item of store.listItems(user.id, child.id))
          out.items[item.itemClass] = (out.items[item.itemClass] ?? 0) + 1;
        walk(child.id);
      }
    };
    walk(store.rootFolderId(user.id));
    const archive = store.archiveMailbox(user.id);
    if (archive) {
      out.archives.mailboxes++;
      const walkArchive = (id: string) => {
        for (const child of store.listChildFolders(archive.id, id)) {
          const stats = store.folderStats(archive.id, child.id);
          out.archives.messages += stats.totalItemCount;
          out.archives.items += stats.allItemCount - stats.totalItemCount;
          walkArchive(child.id);
        }
      };
      walkArchive(store.rootFolderId(archive.id));
    }
    out.messages += messages;
    out.bytes += bytes;
    if (!out.largestMailbox || messages > out.largestMailbox.messages)
      out.largestMailbox = { address: user.mail ?? user.userPrincipalName, messages, bytes };
  }
  return out;
}

/** One mailbox's usage as the usage report gives it. */
export interface MailboxUsage {
  /** Items (messages and others) in the primary mailbox's folders. */
  items: number;
  /** Their size in bytes (MIME of messages, export streams of other items). */
  bytes: number;
  /** Items in Deleted Items (and its subfolders). */
  deletedItems: number;
  deletedBytes: number;
  /** The newest `receivedDateTime` of a message, if any. */
  lastActivity: string | undefined;
  hasArchive: boolean;
}

export function mailboxUsage(store: TenantStore, userId: string): MailboxUsage {
  const usage: MailboxUsage = {
    items: 0,
    bytes: 0,
    deletedItems: 0,
    deletedBytes: 0,
    lastActivity: undefined,
    hasArchive: false,
  };
  const deletedId = store.getFolder(userId, "deleteditems")?.id;
  const walk = (id: string, deleted: boolean) => {
    for (const child of store.listChildFolders(userId, id)) {
      const stats = store.folderStats(userId, child.id);
      const inDeleted = deleted || child.id === deletedId;
      const otherBytes = store.listItems(userId, child.id).reduce((n, item) => n + exportSize({ item }), 0);
      usage.items += stats.allItemCount;
      usage.bytes += stats.sizeBytes + otherBytes;
      if (inDeleted) {
        usage.deletedItems += stats.allItemCount;
        usage.deletedBytes += stats.sizeBytes + otherBytes;
      }
      for (const m of store.listMessages(userId, child.id)) {
        if (!usage.lastActivity || m.receivedDateTime > usage.lastActivity)
          usage.lastActivity = m.receivedDateTime;
      }
      walk(child.id, inDeleted);
    }
  };
  walk(store.rootFolderId(userId), false);
  usage.hasArchive = store.archiveMailbox(userId) !== undefined;
  return usage;
}
