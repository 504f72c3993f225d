/**
 * What an export or a restore works on: the messages of a mailbox (or one folder of it, or one
 * message) as of a point in time, resolved from the archive's jobs and catalog.
 */
import { type MailboxView, mailboxViewAt, type ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import {
  type ArchivedMailbox,
  mailboxesOf,
  requireJobs,
  resolveAt,
  resolveFolder,
  resolveMailbox,
} from "../catalog-index/directory.js";
import { ArchiveLookupError } from "../catalog-index/errors.js";
import { byIdOrPrefix } from "../catalog-index/id-prefix.js";

export interface SelectedFolder {
  folderId: string;
  /** Folder path in the mailbox, e.g. `Inbox/Projects`; the folder id when no record names it. */
  path: string;
  messages: ViewMessage[];
}

export interface Selection {
  mailbox: ArchivedMailbox;
  jobId: string;
  view: MailboxView;
  folders: SelectedFolder[];
  /** Messages in all selected folders. */
  count: number;
}

export interface SelectionRequest {
  /** Mailbox address or id. */
  mailbox: string;
  /** Folder path, name or id; all folders when absent. */
  folder?: string;
  /** One message id; the whole folder/mailbox when absent. */
  message?: string;
  /** "latest" (default), a job id, or a date/time. */
  at?: string;
}

export async function selectMessages(store: ObjectStore, request: SelectionRequest): Promise<Selection> {
  const jobs = await requireJobs(store);
  const mailbox = resolveMailbox(mailboxesOf(jobs), request.mailbox);
  const jobId = resolveAt(jobs, request.at);
  const view = await mailboxViewAt(store, mailbox.mailboxId, jobId);
  // Search folders are saved searches: their messages are exported from the folders they live in.
  let folders = view.folders.filter((f) => !f.searchFolder);
  if (request.folder !== undefined) folders = [resolveFolder(view, request.folder, mailbox.address)];
  let selected: SelectedFolder[] = folders.map((f) => ({
    folderId: f.folderId,
    path: f.path ?? f.folderId,
    messages: f.messages,
  }));
  if (request.message !== undefined) {
    const arg = request.message;
    const all = selected.flatMap((f) => f.messages);
    const id = byIdOrPrefix(all, (m) => m.messageId, arg, "message")?.messageId;
    selected = selected
      .map((f) => ({ ...f, messages: f.messages.filter((m) => m.messageId === id) }))
      .filter((f) => f.messages.length > 0);
    if (selected.length === 0) {
      throw new ArchiveLookupError(
        `message "${arg}": expected a message id of ${mailbox.address} at job ${jobId} (see \`mailstream ls\`), found none`,
      );
    }
  }
  const count = selected.reduce((n, f) => n + f.messages.length, 0);
  return { mailbox, jobId, view, folders: selected, count };
}
