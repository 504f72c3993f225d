import { type PlanLimits, resolvePlanLimits } from "./limits.js";
import { planJob } from "./plan.js";
import type { FolderRead, MailContent, Plan, PlanMailbox } from "./types.js";

/** A mailbox as the coordinator lists it (structurally `MailboxForPlanning` of lib/backup). */
export interface ListedMailbox {
  mailbox: { userId: string; address: string };
  folders: ReadonlyArray<{
    id: string;
    path: string;
    totalItemCount: number;
    sizeBytes?: number;
    isSearchFolder: boolean;
    /** Absent: the primary mailbox. */
    mailbox?: "primary" | "archive";
    /** Absent: `IPF.Note`. */
    folderClass?: string;
  }>;
  /** Folders with a committed message delta link. */
  syncedFolderIds: ReadonlySet<string>;
  /** Folders with a committed item delta link (a separate sync state of the same folder). */
  syncedItemFolderIds?: ReadonlySet<string>;
}

/** Whether a folder class holds mail (`IPF.Note`, `IPF.Note.…`). */
export function isMailClass(folderClass: string | undefined): boolean {
  return folderClass === undefined || folderClass === "IPF.Note" || folderClass.startsWith("IPF.Note.");
}

/**
 * How a folder is read under a content mode: the archive's folders and the primary mailbox's
 * other kinds always through item delta and export streams; the primary mailbox's mail through
 * message delta and MIME (`mime`), the same plus export streams (`both`), or item delta and
 * export streams (`fidelity`).
 */
export function folderRead(
  folder: { mailbox?: "primary" | "archive"; folderClass?: string },
  mailContent: MailContent,
): FolderRead {
  if (folder.mailbox === "archive") return "a";
  if (!isMailClass(folder.folderClass)) return "p";
  return mailContent === "mime" ? "m" : mailContent === "both" ? "b" : "p";
}

/** Whether a folder read goes through item delta (its sync state is an item delta link). */
export function readsItems(read: FolderRead): boolean {
  return read === "p" || read === "a";
}

/** The planner's view of listed mailboxes: a synced folder is planned as an incremental pass. */
export function planMailboxesFromListing(
  listed: readonly ListedMailbox[],
  mailContent: MailContent = "fidelity",
): PlanMailbox[] {
  return listed.map(({ mailbox, folders, syncedFolderIds, syncedItemFolderIds }) => ({
    mailboxId: mailbox.userId,
    address: mailbox.address,
    folders: folders.map((f) => {
      const read = folderRead(f, mailContent);
      return {
        folderId: f.id,
        path: f.path,
        read,
        totalItemCount: f.totalItemCount,
        ...(f.sizeBytes === undefined ? {} : { sizeBytes: f.sizeBytes }),
        hasSyncState: readsItems(read)
          ? (syncedItemFolderIds?.has(f.id) ?? false)
          : syncedFolderIds.has(f.id),
        isSearchFolder: f.isSearchFolder,
      };
    }),
  }));
}

/**
 * A planner for the coordinator's `plan` dependency. The limits are checked here, once, so that
 * a bad configuration fails at start-up (ConfigError) rather than at the first job.
 * `mailContent` decides how mail folders are read. Default `fidelity`.
 */
export function createPlanner(
  limits: Partial<PlanLimits> = {},
  mailContent: MailContent = "fidelity",
): (listed: readonly ListedMailbox[]) => Plan {
  const resolved = resolvePlanLimits(limits);
  return (listed) => planJob({ mailboxes: planMailboxesFromListing(listed, mailContent), limits: resolved });
}
