import { type PlanLimits, resolvePlanLimits } from "./limits.js";
import { planJob } from "./plan.js";
import type { Plan, PlanMailbox } from "./types.js";

/** A mailbox as the coordinator lists it (structurally `MailboxForPlanning` of lib/backup). */
export interface ListedMailbox {
  mailbox: { userId: string; address: string };
  folders: ReadonlyArray<{
    id: string;
    path: string;
    totalItemCount: number;
    sizeBytes?: number;
    isSearchFolder: boolean;
  }>;
  /** Folders with a committed sync state. */
  syncedFolderIds: ReadonlySet<string>;
}

/** The planner's view of listed mailboxes: a synced folder is planned as an incremental pass. */
export function planMailboxesFromListing(listed: readonly ListedMailbox[]): PlanMailbox[] {
  return listed.map(({ mailbox, folders, syncedFolderIds }) => ({
    mailboxId: mailbox.userId,
    address: mailbox.address,
    folders: folders.map((f) => ({
      folderId: f.id,
      path: f.path,
      totalItemCount: f.totalItemCount,
      ...(f.sizeBytes === undefined ? {} : { sizeBytes: f.sizeBytes }),
      hasSyncState: syncedFolderIds.has(f.id),
      isSearchFolder: f.isSearchFolder,
    })),
  }));
}

/**
 * A planner for the coordinator's `plan` dependency. The limits are checked here, once, so that
 * a bad configuration fails at start-up (ConfigError) rather than at the first job.
 */
export function createPlanner(limits: Partial<PlanLimits> = {}): (listed: readonly ListedMailbox[]) => Plan {
  const resolved = resolvePlanLimits(limits);
  return (listed) => planJob({ mailboxes: planMailboxesFromListing(listed), limits: resolved });
}
