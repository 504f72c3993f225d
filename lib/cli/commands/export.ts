/**
 * `mailstream export <mailbox> [folder] -o <dir> [--format mbox|eml] [--at <job|date>]`: a
 * mailbox or folder as mbox files (one per folder, mboxrd) or a tree of `.eml` files.
 *
 * `mailstream export --search [--from …] [--subject …] [-m <mailbox>] … -o <dir>`: the hits of a
 * search (the `search` command's filters) as one mbox file per mailbox and folder
 * (`<dir>/<address>/<folder path>.mbox`) or an `.eml` tree by mailbox and folder.
 */
import { mailboxesOf, requireJobs } from "../../catalog-index/directory.js";
import { type ExportFormat, type ExportResult, exportSelection } from "../../export/export-messages.js";
import { createProgress } from "../../export/progress.js";
import { selectSearchHits } from "../../export/search-selection.js";
import { selectMessages, withoutMimeLine } from "../../export/selection.js";
import { assertFolderOrNew } from "../../export/verified-output.js";
import type { CliContext } from "../context.js";
import { withArchive } from "../context.js";
import { UsageError } from "../errors.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, reportCatalogErrors, writeJson } from "../format/output.js";
import {
  criteriaFrom,
  type SearchFilterOptions,
  searchedMailboxes,
  searchFiltersGiven,
} from "../format/search-options.js";
import type { ArchiveOptions } from "../options.js";

export interface ExportCommandOptions extends ArchiveOptions, SearchFilterOptions {
  /** `-o, --output <dir>`: output folder (created). Required. */
  output: string;
  /** `--format`: mbox (default) or eml. */
  format?: ExportFormat;
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  /**
   * `--search`: export the hits of a search (the filters in {@link SearchFilterOptions}) across
   * mailboxes instead of a mailbox or folder. Default false.
   */
  search?: boolean;
  json?: boolean;
}

/** A command line that asks for an export that cannot be (e.g. search filters without `--search`). */
export class ExportRequestError extends UsageError {}

export async function exportCommand(
  mailbox: string | undefined,
  folder: string | undefined,
  opts: ExportCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  assertFolderOrNew(opts.output);
  if (opts.search) {
    if (mailbox !== undefined || folder !== undefined) {
      throw new ExportRequestError(
        `export --search: expected the mailboxes as -m/--mailbox and the folder as --folder, found the argument "${mailbox ?? folder}"`,
      );
    }
    const criteria = criteriaFrom(opts);
    return withArchive(opts, (ctx) => exportSearch(ctx, criteria, opts, io));
  }
  const filters = searchFiltersGiven(opts);
  if (filters.length > 0) {
    throw new ExportRequestError(
      `export: ${filters.join(", ")} ${filters.length === 1 ? "is a search filter" : "are search filters"}: expected --search with ${filters.length === 1 ? "it" : "them"} (or a mailbox and folder alone), found no --search`,
    );
  }
  if (mailbox === undefined) {
    throw new ExportRequestError("export: expected a mailbox (address or id) or --search, found neither");
  }
  return withArchive(opts, async (ctx) => {
    const selection = await selectMessages(ctx.archive, {
      mailbox,
      ...(folder !== undefined ? { folder } : {}),
      ...(opts.at !== undefined ? { at: opts.at } : {}),
    });
    const damaged = reportCatalogErrors(io.err, selection.view.errors);
    const result = await exportWithProgress(ctx, selection, opts, io);
    const summary = {
      mailbox: selection.mailbox.address,
      jobId: selection.jobId,
      output: opts.output,
      ...result,
    };
    if (opts.json) writeJson(io.out, summary);
    else {
      io.out.write(
        `exported ${result.messages} messages (${result.bytes} bytes) of ${selection.mailbox.address} at job ${selection.jobId} into ${result.files.length} ${filesNoun(opts.format)} under ${opts.output}${leftOut(result)}\n`,
      );
    }
    return damaged + reportDamagedMessages(io, result) > 0 ? EXIT.damaged : EXIT.ok;
  });
}

/** Writes the selected messages with a progress bar on stderr. */
async function exportWithProgress(
  ctx: CliContext,
  selection: Parameters<typeof exportSelection>[1],
  opts: ExportCommandOptions,
  io: CommandIO,
): ReturnType<typeof exportSelection> {
  const progress = createProgress("export", io.err);
  try {
    return await exportSelection(ctx.archive, selection, {
      format: opts.format ?? "mbox",
      outDir: opts.output,
      onProgress: (d, t) => progress.update(d, t),
    });
  } finally {
    progress.stop();
  }
}

/** The summary's note on messages left out. */
function leftOut(result: ExportResult): string {
  const n = result.damaged.length;
  return n === 0 ? "" : `; ${n} damaged message${n === 1 ? "" : "s"} left out (listed on stderr)`;
}

/** Lists the messages an export left out (stderr, one line each); returns how many damaged. */
function reportDamagedMessages(io: CommandIO, result: ExportResult): number {
  if (result.withoutMime > 0) io.err.write(`${withoutMimeLine(result.withoutMime, "export")}\n`);
  for (const d of result.damaged) {
    io.err.write(`mailstream: damaged: message ${d.messageId} (${d.folder}) left out: ${d.problem}\n`);
  }
  return result.damaged.length;
}

function filesNoun(format: ExportFormat | undefined): string {
  return format === "eml" ? ".eml files" : "mbox files";
}

async function exportSearch(
  ctx: CliContext,
  criteria: ReturnType<typeof criteriaFrom>,
  opts: ExportCommandOptions,
  io: CommandIO,
): Promise<ExitCode> {
  const mailboxes = searchedMailboxes(mailboxesOf(await requireJobs(ctx.archive)), opts);
  const selection = await selectSearchHits(ctx.archive, {
    criteria,
    mailboxes,
    ...(opts.at !== undefined ? { at: opts.at } : {}),
  });
  const damaged = reportCatalogErrors(io.err, selection.errors);
  const result = await exportWithProgress(ctx, selection, opts, io);
  const mailboxesWithHits = new Set(selection.hits.map((h) => h.mailbox.mailboxId)).size;
  if (opts.json) {
    writeJson(io.out, {
      search: criteria,
      jobId: selection.jobId,
      mailboxesSearched: selection.mailboxesSearched,
      messagesScanned: selection.messagesScanned,
      hits: selection.count,
      output: opts.output,
      ...result,
    });
  } else {
    io.out.write(
      `exported ${result.messages} search hits (${result.bytes} bytes) from ${mailboxesWithHits} of ${selection.mailboxesSearched} mailboxes at job ${selection.jobId} into ${result.files.length} ${filesNoun(opts.format)} under ${opts.output}${leftOut(result)}\n`,
    );
  }
  return damaged + reportDamagedMessages(io, result) > 0 ? EXIT.damaged : EXIT.ok;
}
