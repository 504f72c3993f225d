/**
 * Binds the backup's Graph-facing ports (lib/backup: `MailSource`, `MailboxDirectory`) to the
 * Graph access layer. Translation only.
 */
import type { MailboxDirectory, MailSource } from "../backup/ports.js";
import {
  discoverMailboxes,
  folderDeltaPages,
  type GraphGateway,
  listFolders,
  openMime,
} from "../graph/index.js";

export function createMailSource(gateway: GraphGateway, pageSize: number): MailSource {
  return {
    folderDelta: (userId, folderId, from) =>
      folderDeltaPages(gateway, userId, folderId, { pageSize, ...(from ? { from } : {}) }),
    openMime: (userId, messageId) => openMime(gateway, userId, messageId),
    traffic: (userId) => {
      const counters = gateway.stats()[userId.toLowerCase()];
      return { requests: counters?.requests ?? 0, throttled: counters?.throttled ?? 0 };
    },
  };
}

export function createMailboxDirectory(
  gateway: GraphGateway,
  selection: { include: string[]; exclude: string[] },
): MailboxDirectory {
  return {
    async discover() {
      const found = await discoverMailboxes(gateway, selection);
      return {
        mailboxes: found.mailboxes.map((m) => ({
          userId: m.userId,
          address: m.address,
          displayName: m.displayName,
          purpose: m.purpose,
        })),
        skipped: found.skipped.map((s) => ({ userId: s.userId, address: s.upn, reason: s.reason })),
      };
    },
    // Mail folders of the primary mailbox until units read item folders (the import/export
    // API's listing, readUserFolderTrees, replaces this then).
    listFolders: async (userId) => ({ folders: await listFolders(gateway, userId) }),
  };
}
