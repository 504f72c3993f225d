/**
 * `mailstream search`: messages across mailboxes by sender, recipient, subject words, date
 * range, folder and attachments, from the catalog's metadata (no blob is read).
 */
import { mailboxesOf, requireJobs, resolveAt } from "../../catalog-index/directory.js";
import { searchArchive } from "../../catalog-index/search.js";
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
import { criteriaFrom, type SearchFilterOptions, searchedMailboxes } from "../format/search-options.js";
import type { ArchiveOptions } from "../options.js";

/** Kept here too: the search command's criteria are the shared search filters'. */
export { criteriaFrom } from "../format/search-options.js";

export interface SearchCommandOptions extends ArchiveOptions, SearchFilterOptions {
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  /** Hits shown at most. Range 0–100 000, default 100. */
  limit?: number;
  json?: boolean;
  /** `--no-index`: false scans every mailbox even where a current search index covers it. Default true. */
  index?: boolean;
}

export async function searchCommand(
  opts: SearchCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  const criteria = criteriaFrom(opts);
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive);
    const all = mailboxesOf(jobs);
    const at = resolveAt(jobs, opts.at);
    const mailboxes = searchedMailboxes(all, opts);
    const started = performance.now();
    const limit = opts.limit ?? 100;
    const result = await searchArchive(ctx.archive, mailboxes, criteria, {
      at,
      limit,
      useIndex: opts.index !== false,
    });
    const ms = performance.now() - started;
    const damaged = reportCatalogErrors(io.err, result.errors);
    const shown = result.hits.slice(0, limit);
    for (const note of result.notes) io.err.write(`mailstream: ${note}\n`);
    if (opts.json) {
      writeJson(io.out, {
        at,
        criteria,
        total: result.total,
        mailboxesSearched: result.mailboxesSearched,
        messagesScanned: result.messagesScanned,
        ...(result.index ? { index: result.index } : {}),
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
            formatReceived(h.message.meta),
            h.mailbox.address,
            truncate(h.folderPath, 24),
            truncate(senderText(h.message.meta), 28),
            truncate(typeof h.message.meta.subject === "string" ? h.message.meta.subject : "", 40),
            formatBytes(h.message.size),
            h.message.messageId,
          ]),
        ),
      );
      const indexed = result.index
        ? ` (${result.index.mailboxes} mailboxes answered by the search index in ${result.index.reads} reads)`
        : "";
      io.err.write(
        `mailstream: ${result.total} hits (${shown.length} shown) in ${result.mailboxesSearched} mailboxes, ${result.messagesScanned} messages scanned${indexed} at job ${at} in ${(ms / 1000).toFixed(2)} s\n`,
      );
    }
    return damaged > 0 ? EXIT.damaged : EXIT.ok;
  });
}
