/**
 * What an export or a restore works on: the messages of a mailbox (or one folder of it, or one
 * message) as of a point in time, resolved from the archive's jobs and catalog.
 */
import { hasMime } from "../archive/catalog.js";
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

/**
 * The line for items a MIME-based command left out because the archive holds their export
 * stream only; the command goes on with the rest and its exit code does not change.
 */
export function withoutMimeLine(count: number, command: string): string {
  return `mailstream: ${command}: ${count} item${count === 1 ? "" : "s"} left out: kept as export stream${count === 1 ? "" : "s"} only (events, contacts, tasks, notes, or mail backed up in content mode fidelity), no MIME to ${command}; mailContent both keeps MIME too`;
}

/** The selection without the items the archive holds no MIME of, and how many those were. */
export function withMimeOnly<T extends { folders: SelectedFolder[]; count: number }>(
  selection: T,
): { selection: T; withoutMime: number } {
  let withoutMime = 0;
  const folders = selection.folders.map((f) => {
    const kept = f.messages.filter(hasMime);
    withoutMime += f.messages.length - kept.length;
    return { ...f, messages: kept };
  });
  return { selection: { ...selection, folders, count: selection.count - withoutMime }, withoutMime };
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
