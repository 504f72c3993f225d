/**
 * `mailstream search`: messages across mailboxes by sender, recipient, subject words, date
 * range, folder and attachments, from the catalog's metadata (no blob is read).
 */
import { type Command, InvalidArgumentError } from "commander";
import { mailboxesOf, requireJobs, resolveAt, resolveMailbox } from "../../catalog-index/directory.js";
import { type SearchCriteria, searchArchive } from "../../catalog-index/search.js";
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
import { formatBytes } from "../progress-view.js";

export interface SearchCommandOptions extends ArchiveOptions {
  from?: string;
  to?: string;
  /** Words that must all be in the subject. */
  subject?: string;
  /** Received at or after (a date or time, UTC). */
  since?: string;
  /** Received before (a date or time, UTC; a bare date means the start of that day). */
  until?: string;
  folder?: string;
  /** true: only with attachments; false (`--no-attachments`): only without. */
  attachments?: boolean;
  /** Mailboxes (addresses or ids) to search; default all. */
  mailbox?: string[];
  at?: string;
  /** Hits shown at most. Range 0–100 000, default 100. */
  limit?: number;
  json?: boolean;
}

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new InvalidArgumentError(
      `${name}: expected a date or time (2026-11-29, 2026-11-29T05:00:00Z), found "${value}"`,
    );
  }
  return t;
}

/** The criteria the options describe. */
export function criteriaFrom(opts: SearchCommandOptions): SearchCriteria {
  const since = time("--since", opts.since);
  const until = time("--until", opts.until);
  const words = opts.subject?.split(/\s+/).filter(Boolean);
  return {
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(words?.length ? { subjectWords: words } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(opts.folder !== undefined ? { folder: opts.folder } : {}),
    ...(opts.attachments !== undefined ? { hasAttachments: opts.attachments } : {}),
  };
}

export async function searchCommand(opts: SearchCommandOptions, io: CommandIO = processIO): Promise<number> {
  const criteria = criteriaFrom(opts);
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive);
    const all = mailboxesOf(jobs);
    const at = resolveAt(jobs, opts.at);
    const mailboxes = opts.mailbox?.length ? opts.mailbox.map((m) => resolveMailbox(all, m)) : all;
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

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerSearch(program: Command): void {
  addArchiveOptions(
    program
      .command("search")
      .description(
        "Search messages across mailboxes by sender, recipient, subject words, date range, folder, attachments (from the catalog; no message is read)",
      ),
  )
    .option("--from <text>", "sender address or name contains this (case-insensitive)")
    .option("--to <text>", "a To/Cc/Bcc address or name contains this")
    .option("--subject <words>", "every word occurs in the subject")
    .option("--since <date>", "received at or after (UTC)")
    .option("--until <date>", "received before (UTC)")
    .option("--folder <path>", "in this folder (path, e.g. Inbox) or below it")
    .option("--attachments", "only messages with attachments")
    .option("--no-attachments", "only messages without attachments")
    .option("-m, --mailbox <mailbox>", "search only this mailbox (address or id; repeatable)", collect)
    .option("--at <job|date>", "point in time: latest, a job id, or a date/time (UTC)", "latest")
    .option("--limit <n>", "hits shown at most (0–100000)", nonNegativeInt("--limit", 100_000), 100)
    .option("--json", "print JSON")
    .action(async (opts: SearchCommandOptions) => {
      process.exitCode = await searchCommand(opts);
    });
}
