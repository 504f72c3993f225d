/**
 * `mailstream search`: messages across mailboxes by sender, recipient, subject words, date
 * range, folder and attachments, from the catalog's metadata (no blob is read).
 */
import type { Command } from "commander";
import { mailboxesOf, requireJobs, resolveAt } from "../../catalog-index/directory.js";
import { searchArchive } from "../../catalog-index/search.js";
import {
  type ArchiveOptions,
  addArchiveOptions,
  nonNegativeInt,
  withArchive,
} from "../format/archive-options.js";
import { senderText } from "../format/message.js";
import {
  type CommandIO,
  formatTable,
  formatTime,
  processIO,
  reportCatalogErrors,
  truncate,
  writeJson,
} from "../format/output.js";
import {
  addAtOption,
  addSearchFilterOptions,
  criteriaFrom,
  type SearchFilterOptions,
  searchedMailboxes,
} from "../format/search-options.js";
import { formatBytes } from "../progress-view.js";

/** Kept here too: the search command's criteria are the shared search filters'. */
export { criteriaFrom } from "../format/search-options.js";

export interface SearchCommandOptions extends ArchiveOptions, SearchFilterOptions {
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  /** Hits shown at most. Range 0–100 000, default 100. */
  limit?: number;
  json?: boolean;
}

export async function searchCommand(opts: SearchCommandOptions, io: CommandIO = processIO): Promise<number> {
  const criteria = criteriaFrom(opts);
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive);
    const all = mailboxesOf(jobs);
    const at = resolveAt(jobs, opts.at);
    const mailboxes = searchedMailboxes(all, opts);
    const started = performance.now();
    const result = await searchArchive(ctx.archive, mailboxes, criteria, { at });
    const ms = performance.now() - started;
    const damaged = reportCatalogErrors(io.err, result.errors);
    const shown = result.hits.slice(0, opts.limit ?? 100);
    if (opts.json) {
      writeJson(io.out, {
        at,
        criteria,
        total: result.hits.length,
        mailboxesSearched: result.mailboxesSearched,
        messagesScanned: result.messagesScanned,
        hits: shown.map((h) => ({
          mailboxId: h.mailbox.mailboxId,
          address: h.mailbox.address,
          folder: h.folderPath,
          ...h.message,
        })),
      });
    } else {
      io.out.write(
        formatTable(
          ["RECEIVED (UTC)", "MAILBOX", "FOLDER", "FROM", "SUBJECT", "SIZE", "ID"],
          shown.map((h) => [
            formatTime(h.message.meta.receivedDateTime as string | undefined),
            h.mailbox.address,
            truncate(h.folderPath, 24),
            truncate(senderText(h.message.meta), 28),
            truncate(typeof h.message.meta.subject === "string" ? h.message.meta.subject : "", 40),
            formatBytes(h.message.size),
            h.message.messageId,
          ]),
        ),
      );
      io.err.write(
        `mailstream: ${result.hits.length} hits (${shown.length} shown) in ${result.mailboxesSearched} mailboxes, ${result.messagesScanned} messages scanned at job ${at} in ${(ms / 1000).toFixed(2)} s\n`,
      );
    }
    return damaged > 0 ? 1 : 0;
  });
}

export function registerSearch(program: Command): void {
  addAtOption(
    addSearchFilterOptions(
      addArchiveOptions(
        program
          .command("search")
          .description(
            "Search messages across mailboxes by sender, recipient, subject words, date range, folder, attachments (from the catalog; no message is read)",
          ),
      ),
    ),
  )
    .option("--limit <n>", "hits shown at most (0–100000)", nonNegativeInt("--limit", 100_000), 100)
    .option("--json", "print JSON")
    .action(async (opts: SearchCommandOptions) => {
      process.exitCode = await searchCommand(opts);
    });
}
