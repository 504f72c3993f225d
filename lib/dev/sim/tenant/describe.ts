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
