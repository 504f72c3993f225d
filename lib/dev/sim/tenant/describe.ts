import type { TenantStore } from "../model.js";

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
  /** Folders below the mailbox roots (search folders included). */
  folders: number;
  messages: number;
  /** Sum of MIME sizes in bytes. */
  bytes: number;
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
        out.folders++;
        const stats = store.folderStats(user.id, child.id);
        messages += stats.totalItemCount;
        bytes += stats.sizeBytes;
        walk(child.id);
      }
    };
    walk(store.rootFolderId(user.id));
    out.messages += messages;
    out.bytes += bytes;
    if (!out.largestMailbox || messages > out.largestMailbox.messages)
      out.largestMailbox = { address: user.mail ?? user.userPrincipalName, messages, bytes };
  }
  return out;
}

/** One mailbox's usage as the usage report gives it. */
export interface MailboxUsage {
  /** Items in the primary mailbox's folders. */
  items: number;
  /** Their size in bytes. */
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
      usage.items += stats.totalItemCount;
      usage.bytes += stats.sizeBytes;
      if (inDeleted) {
        usage.deletedItems += stats.totalItemCount;
        usage.deletedBytes += stats.sizeBytes;
      }
      for (const m of store.listMessages(userId, child.id)) {
        if (!usage.lastActivity || m.receivedDateTime > usage.lastActivity)
          usage.lastActivity = m.receivedDateTime;
      }
      walk(child.id, inDeleted);
    }
  };
  walk(store.rootFolderId(userId), false);
  return usage;
}
