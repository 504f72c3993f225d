/**
 * Binds the backup's Graph-facing ports (lib/backup: `MailSource`, `MailboxDirectory`) to the
 * Graph access layer. Translation only.
 */
import type {
  FirstPageAnswer,
  FolderInfo,
  ItemMailbox,
  ItemPageView,
  MailboxDirectory,
  MailboxRole,
  MailSource,
} from "../backup/ports.js";
import {
  archiveTrafficKey,
  batchableStart,
  batchSizeOf,
  discoverMailboxPage,
  type ExchangeMailboxIds,
  exchangeMailboxIdsOf,
  exportItemStreamed,
  exportItems,
  folderDeltaPages,
  type GraphGateway,
  type ItemDeltaPage,
  itemDeltaFirstPages,
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
  return mailSourceOver(gateway, pageSize, new Map<string, Set<string>>());
}

/** The source over `gateway` (the process's, or a unit's view of it), `archiveKeys` shared by every view. */
function mailSourceOver(
  gateway: GraphGateway,
  pageSize: number,
  archiveKeys: Map<string, Set<string>>,
): MailSource {
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
        yield itemPageView(page);
      }
    },
    async itemDeltaFirstPages(mailbox, starts) {
      noteArchive(mailbox);
      // A link under another base URL cannot ride in the batch: that folder's page goes alone. So
      // do the pages beyond the mailbox's slots now (lowered after 429s, for a mailbox whose
      // service allows fewer): the service runs min(k, 4) inner requests of a batch at once.
      const room = gateway.traffic.limit(trafficKeyOf(mailbox));
      const batchable = starts.filter((s) => batchableStart(gateway, s)).slice(0, room);
      const answers =
        batchable.length < 2
          ? []
          : await itemDeltaFirstPages(gateway, mailbox.apiId, batchable, {
              pageSize,
              trafficKey: trafficKeyOf(mailbox),
            });
      const byStart = new Map(batchable.map((s, i) => [s, answers[i]]));
      return starts.map((s): FirstPageAnswer => {
        const answer = byStart.get(s);
        if (answer === undefined || "again" in answer) return { alone: true };
        if ("moved" in answer) return { alone: true, from: answer.moved };
        if ("error" in answer) return { error: answer.error };
        return { page: itemPageView(answer.page) };
      });
    },
    exportItems: (mailbox, itemIds) => {
      // An auxiliary archive the unit exports from directly counts in the user's traffic too.
      noteArchive(mailbox);
      return exportItems(gateway, mailbox.apiId, itemIds, { trafficKey: trafficKeyOf(mailbox) });
    },
    exportItemTo: (mailbox, itemId, store) => {
      noteArchive(mailbox);
      return exportItemStreamed(gateway, mailbox.apiId, itemId, { trafficKey: trafficKeyOf(mailbox) }, store);
    },
    withContext: (context) => mailSourceOver(gateway.withContext(context), pageSize, archiveKeys),
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

/** An item delta page as the backup reads it. */
function itemPageView(page: ItemDeltaPage): ItemPageView {
  return {
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
    ...(page.servedBy ? { servedBy: page.servedBy } : {}),
  };
}

/** Mailbox ids read ahead and not yet taken by a listing, at most: four directory pages' worth. */
const KEPT_MAILBOX_IDS = 4 * 999;

export interface MailboxDirectoryOptions {
  /**
   * Requests per `$batch` of discovery: a directory page's mailbox probes and its mailboxes'
   * ids (`settings/exchange`) go out in batches of this many, each counted against its own
   * mailbox's limits; 1 sends each as a request of its own. Bounds 1–20. Default 20.
   */
  batchSize?: number;
}

export function createMailboxDirectory(
  gateway: GraphGateway,
  selection: { include: string[]; exclude: string[] },
  options: MailboxDirectoryOptions = {},
): MailboxDirectory {
  const batchSize = batchSizeOf(options.batchSize);
  // The mailbox ids of the pages' mailboxes (or the error reading them), by lower-cased user id,
  // read with each page's probes in batches; each is taken by that mailbox's listing. Pieces of
  // one process may overlap, so pages add to it; the oldest entries (a piece that failed before
  // listing them) go beyond a few pages' worth. A listing that finds none reads its own.
  const pageIds = new Map<string, ExchangeMailboxIds | Error>();
  return {
    async discoverPage(cursor, pageSize) {
      const found = await discoverMailboxPage(
        gateway,
        { ...selection, probeBatchSize: batchSize },
        cursor,
        pageSize,
      );
      if (batchSize > 1 && found.mailboxes.length > 0) {
        const userIds = found.mailboxes.map((m) => m.userId);
        // A failure of the batches as a whole leaves each listing to read its own ids, as without batching.
        const ids = await exchangeMailboxIdsOf(gateway, userIds, { batchSize }).catch(() => []);
        for (const [i, entry] of ids.entries()) {
          const key = (userIds[i] as string).toLowerCase();
          pageIds.delete(key); // re-inserted as the newest
          pageIds.set(key, entry);
        }
        for (const key of pageIds.keys()) {
          if (pageIds.size <= KEPT_MAILBOX_IDS) break;
          pageIds.delete(key);
        }
      }
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
      const key = userId.toLowerCase();
      const known = pageIds.get(key);
      pageIds.delete(key);
      // A user whose batched read failed fails its listing with that read's error, as its own read would.
      if (known instanceof Error) throw known;
      const trees = await readUserFolderTrees(gateway, userId, known);
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
