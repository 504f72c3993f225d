/**
 * Which folder tree of a mailbox the archive holds, so that a job writes `folders.jsonl` only when
 * the tree changed. A job that writes one records the tree's hash in its mailbox record
 * (`JOB#<j>`/`MAILBOX#<m>`, `folderTreeHash`); finalization, after the manifest, makes it the
 * mailbox's tree (`MBX#<m>`/`META`: `folderTreeHash`, `folderTreeJob`). Like sync states, a tree
 * becomes the base of later jobs only once the job that wrote it counts in the archive.
 */
import { openJobs } from "./jobs.js";
import { META, mailboxPk } from "./keys.js";
import type { StateTable } from "./table.js";

/** The tree the archive holds for a mailbox as of the newest finalized job that wrote one. */
export interface CommittedFolderTree {
  treeHash: string;
  jobId: string;
}

export async function committedFolderTree(
  t: StateTable,
  mailboxId: string,
): Promise<CommittedFolderTree | undefined> {
  const item = await t.get(mailboxPk(mailboxId), META);
  const treeHash = item?.folderTreeHash;
  const jobId = item?.folderTreeJob;
  return typeof treeHash === "string" && typeof jobId === "string" ? { treeHash, jobId } : undefined;
}

/**
 * True when a job older than `jobId` is not closed yet. Such a job may still write a tree, or
 * finalize one, that readers would take for this job's: while one is open, every tree is written.
 */
export async function olderJobOpen(t: StateTable, jobId: string): Promise<boolean> {
  return (await openJobs(t)).some((j) => j.jobId < jobId);
}
