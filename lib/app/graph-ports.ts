/**
 * Binds the backup's Graph-facing ports (lib/backup: `MailSource`, `MailboxDirectory`) to the
 * Graph access layer. Translation only.
 */
import type { FolderInfo, ItemMailbox, MailboxDirectory, MailboxRole, MailSource } from "../backup/ports.js";
import {
  archiveTrafficKey,
  discoverMailboxPage,
  exportItemStreamed,
  exportItems,
  folderDeltaPages,
  type GraphGateway,
  itemDeltaPages,
  itemMetadata,
  type MailboxFolderInfo,
  openMime,
  readUserFolderTrees,
} from "../graph/index.js";

/** The key an import/export mailbox's requests count against: the user's for the primary, its own for the archive. */
function trafficKeyOf(mailbox: ItemMailbox): string {
  return mailbox.role === "archive" ? archiveTrafficKey(mailbox.apiId) : mailbox.userId;
}

export function createMailSource(gateway: GraphGateway, pageSize: number): MailSource {
  // Archive traffic keys by user, learnt from the mailboxes read, for the user's traffic.
  const archiveKeys = new Map<string, Set<string>>();
  const noteArchive = (mailbox: ItemMailbox) => {
    if (mailbox.role !== "archive") return;
    const keys = archiveKeys.get(mailbox.userId.toLowerCase()) ?? new Set<string>();
    keys.add(trafficKeyOf(mailbox));
    archiveKeys.set(mailbox.userId.toLowerCase(), keys);
  };
  return {
    folderDelta: (userId, folderId, from) =>
      folderDeltaPages(gateway, userId, folderId, { pageSize, ...(from ? { from } : {}) }),
    openMime: (userId, messageId) => openMime(gateway, userId, messageId),
    async *itemDelta(mailbox, folderId, from) {
      noteArchive(mailbox);
      for await (const page of itemDeltaPages(gateway, mailbox.apiId, folderId, {
        pageSize,
        trafficKey: trafficKeyOf(mailbox),
        ...(from ? { from } : {}),
      })) {
        yield {
          upserts: page.upserts.map((item) => ({
            id: item.id,
            ...(item.changeKey !== undefined ? { changeKey: item.changeKey } : {}),
            itemClass: item.type,
            ...(item.size !== undefined ? { size: item.size } : {}),
            meta: {
              id: item.id,
              ...(item.changeKey !== undefined ? { changeKey: item.changeKey } : {}),
              ...itemMetadata(item),
            },
          })),
          removed: page.removed,
          ...(page.nextLink ? { nextLink: page.nextLink } : {}),
          ...(page.deltaLink ? { deltaLink: page.deltaLink } : {}),
        };
      }
    },
    exportItems: (mailbox, itemIds) =>
      exportItems(gateway, mailbox.apiId, itemIds, { trafficKey: trafficKeyOf(mailbox) }),
    exportItemTo: (mailbox, itemId, store) =>
      exportItemStreamed(gateway, mailbox.apiId, itemId, { trafficKey: trafficKeyOf(mailbox) }, store),
    traffic: (userId) => {
      // The user's primary mailbox and its archive (counted under the archive's own key).
      // Each key's own counters (not a copy of every mailbox's: a warm controller knows many).
      const keys = [userId.toLowerCase(), ...(archiveKeys.get(userId.toLowerCase()) ?? [])];
      let requests = 0;
      let throttled = 0;
      for (const key of keys) {
        const counters = gateway.traffic.peek(key);
        requests += counters?.requests ?? 0;
        throttled += counters?.throttled ?? 0;
      }
      return { requests, throttled };
    },
  };
}

export function createMailboxDirectory(
  gateway: GraphGateway,
  selection: { include: string[]; exclude: string[] },
): MailboxDirectory {
  return {
    async discoverPage(cursor, pageSize) {
      const found = await discoverMailboxPage(gateway, selection, cursor, pageSize);
      return {
        mailboxes: found.mailboxes.map((m) => ({
          userId: m.userId,
          address: m.address,
          displayName: m.displayName,
          purpose: m.purpose,
        })),
        skipped: found.skipped.map((s) => ({ userId: s.userId, address: s.upn, reason: s.reason })),
        ...(found.next !== undefined ? { next: found.next } : {}),
      };
    },
    async listFolders(userId) {
      const trees = await readUserFolderTrees(gateway, userId);
      return {
        mailboxIds: trees.mailboxIds,
        folders: [
          ...trees.primary.map((f) => folderInfo(f, "primary")),
          ...trees.archive.map((f) => folderInfo(f, "archive")),
        ],
      };
    },
  };
}

/**
 * A folder of the import/export API as the coordinator plans it. The API tells neither hidden
 * nor search folders apart (a search folder is an `IPF.Note` folder whose rounds are empty) nor
 * a folder's size (the planner counts `averageItemBytes` per item).
 */
function folderInfo(f: MailboxFolderInfo, mailbox: MailboxRole): FolderInfo {
  return {
    id: f.id,
    parentFolderId: f.parentFolderId,
    path: f.path,
    displayName: f.displayName,
    isHidden: false,
    isSearchFolder: false,
    totalItemCount: f.totalItemCount,
    unreadItemCount: 0,
    ...(mailbox === "archive" ? { mailbox } : {}),
    folderClass: f.folderClass,
  };
}
