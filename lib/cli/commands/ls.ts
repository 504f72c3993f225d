/**
 * `mailstream ls [mailbox] [folder]`: the backed-up mailboxes; a mailbox's folder tree with
 * counts; a folder's messages (date, from, subject, size), paged; as of the latest job or
 * `--at <job|date>`.
 */
import { mailboxViewAt, type ViewFolder, type ViewMessage } from "../../archive/replay.js";
import {
  mailboxesOf,
  requireJobs,
  resolveAt,
  resolveFolder,
  resolveMailbox,
} from "../../catalog-index/directory.js";
import { completeMessages, receivedAt } from "../../catalog-index/message-fields.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { formatReceived, senderText } from "../format/message.js";
import {
  type CommandIO,
  formatBytes,
  formatTable,
  processIO,
  reportCatalogErrors,
  truncate,
  writeJson,
} from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

export interface LsCommandOptions extends ArchiveOptions {
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  /** Messages shown at most. Range 0–100 000, default 50. */
  limit?: number;
  /** Messages skipped first (newest first order). Range ≥ 0, default 0. */
  offset?: number;
  json?: boolean;
}

/** A folder's messages newest first (received time), ties by id, so pages are stable. */
export function sortNewestFirst(messages: readonly ViewMessage[]): ViewMessage[] {
  return [...messages].sort(
    (a, b) =>
      (receivedAt(b.meta) || 0) - (receivedAt(a.meta) || 0) ||
      (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? EXIT.damaged : EXIT.ok),
  );
}

/** Folders in tree order: by path segment, so children follow their parent directly. */
export function treeOrder(folders: readonly ViewFolder[]): ViewFolder[] {
  const key = (f: ViewFolder) => (f.path ?? `\uffff${f.folderId}`).split("/");
  return [...folders].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    }
    return ka.length - kb.length;
  });
}

/**
 * The folder tree's rows, then the search folders': a search folder is a saved search over the
 * other folders, with no messages of its own, so it is named as such, apart from the tree,
 * instead of as an empty folder under a path it does not have.
 */
function folderRows(all: readonly ViewFolder[]): string[][] {
  const folders = all.filter((f) => !f.searchFolder);
  const searches = all
    .filter((f) => f.searchFolder)
    .map((f) => [
      `${f.displayName ?? f.folderId} (search folder)`,
      "primary",
      "IPF.Note",
      "-",
      "-",
      f.folderId,
    ]);
  // The primary mailbox's tree, then the in-place archive's (each with its own top folders).
  return [
    ...treeRows(folders.filter((f) => f.mailbox !== "archive")),
    ...treeRows(folders.filter((f) => f.mailbox === "archive")),
    ...searches,
  ];
}

function treeRows(folders: readonly ViewFolder[]): string[][] {
  return treeOrder(folders).map((f) => {
    const depth = f.path ? f.path.split("/").length - 1 : 0;
    const name = f.displayName ?? `(folder ${f.folderId}, not in the folder list)`;
    const bytes = f.messages.reduce((s, m) => s + m.size, 0);
    return [
      `${"  ".repeat(depth)}${name}`,
      f.mailbox ?? "primary",
      f.class ?? "IPF.Note",
      String(f.messages.length),
      formatBytes(bytes),
      f.folderId,
    ];
  });
}

export async function lsCommand(
  mailboxArg: string | undefined,
  folderArg: string | undefined,
  opts: LsCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive);
    const mailboxes = mailboxesOf(jobs);
    const at = resolveAt(jobs, opts.at);
    if (mailboxArg === undefined) {
      // The mailboxes the archive held at that point: those of the jobs up to it.
      const upTo = jobs.slice(0, jobs.findIndex((j) => j.jobId === at) + 1);
      const mailboxes = mailboxesOf(upTo);
      if (opts.json) writeJson(io.out, { at, mailboxes });
      else {
        io.out.write(
          formatTable(
            ["MAILBOX", "ID", "LAST JOB", "STATUS"],
            mailboxes.map((m) => [m.address, m.mailboxId, m.lastJobId, m.lastStatus]),
          ),
        );
      }
      return EXIT.ok;
    }
    const mailbox = resolveMailbox(mailboxes, mailboxArg);
    const view = await mailboxViewAt(ctx.archive, mailbox.mailboxId, at);
    const damaged = reportCatalogErrors(io.err, view.errors);
    if (folderArg === undefined) {
      if (opts.json) {
        writeJson(io.out, {
          mailbox,
          at: view.jobId,
          folders: view.folders.map((f) => ({
            folderId: f.folderId,
            path: f.path,
            displayName: f.displayName,
            ...(f.searchFolder ? { searchFolder: true } : {}),
            mailbox: f.mailbox ?? "primary",
            class: f.class ?? "IPF.Note",
            items: f.messages.length,
            messages: f.messages.length,
            bytes: f.messages.reduce((s, m) => s + m.size, 0),
          })),
        });
      } else {
        const total = view.folders.reduce((s, f) => s + f.messages.length, 0);
        const searches = view.folders.filter((f) => f.searchFolder).length;
        io.out.write(
          `${mailbox.address} at job ${view.jobId}: ${view.folders.length - searches} folders${searches ? ` (and ${searches} search folder${searches === 1 ? "" : "s"})` : ""}, ${total} items\n`,
        );
        io.out.write(
          formatTable(["FOLDER", "MAILBOX", "CLASS", "ITEMS", "SIZE", "ID"], folderRows(view.folders)),
        );
      }
      return damaged > 0 ? EXIT.damaged : EXIT.ok;
    }
    const folder = resolveFolder(view, folderArg, mailbox.address);
    // Sender and time from the MIME headers where the properties lack them (message-fields.ts).
    const all = sortNewestFirst(await completeMessages(ctx.archive, folder.messages));
    const offset = opts.offset ?? 0;
    const page = all.slice(offset, offset + (opts.limit ?? 50));
    if (opts.json) {
      writeJson(io.out, {
        mailbox,
        at: view.jobId,
        folder: { folderId: folder.folderId, path: folder.path },
        total: all.length,
        offset,
        messages: page,
      });
    } else {
      io.out.write(
        `${mailbox.address} ${folder.path ?? folder.folderId} at job ${view.jobId}: messages ${page.length ? offset + 1 : 0}–${offset + page.length} of ${all.length}\n`,
      );
      io.out.write(
        formatTable(
          ["RECEIVED (UTC)", "FROM", "SUBJECT", "SIZE", "ID"],
          page.map((m) => [
            formatReceived(m.meta),
            truncate(senderText(m.meta), 32),
            truncate(typeof m.meta.subject === "string" ? m.meta.subject : "", 48),
            formatBytes(m.size),
            m.messageId,
          ]),
        ),
      );
    }
    return damaged > 0 ? EXIT.damaged : EXIT.ok;
  });
}
