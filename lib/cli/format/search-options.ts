/**
 * The search filters (`--from`, `--to`, `--subject`, `--since`, `--until`, `--folder`,
 * `--attachments`, `-m/--mailbox`) and the point in time (`--at`), defined once for every
 * command that selects messages by search: `search` lists the hits, `export --search` writes them.
 */
import { type Command, InvalidArgumentError } from "commander";
import type { ArchivedMailbox } from "../../catalog-index/directory.js";
import { resolveMailbox } from "../../catalog-index/directory.js";
import type { SearchCriteria } from "../../catalog-index/search.js";

export interface SearchFilterOptions {
  /** `--from <text>`: sender address or name contains this (case-insensitive). */
  from?: string;
  /** `--to <text>`: a To/Cc/Bcc address or name contains this (case-insensitive). */
  to?: string;
  /** `--subject <words>`: words that must all be in the subject (any order, case-insensitive). */
  subject?: string;
  /** `--since <date>`: received at or after (a date or time, UTC). */
  since?: string;
  /** `--until <date>`: received before (a date or time, UTC; a bare date means the start of that day). */
  until?: string;
  /** `--folder <path>`: in this folder path or below it. */
  folder?: string;
  /** true (`--attachments`): only with attachments; false (`--no-attachments`): only without. */
  attachments?: boolean;
  /** `-m, --mailbox` (repeatable): mailboxes (addresses or ids) to search; default all. */
  mailbox?: string[];
}

/** The option names {@link addSearchFilterOptions} adds, as commander keys them. */
export const SEARCH_FILTER_KEYS = [
  "from",
  "to",
  "subject",
  "since",
  "until",
  "folder",
  "attachments",
  "mailbox",
] as const satisfies ReadonlyArray<keyof SearchFilterOptions>;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A commander parser that refuses a bad date while the command line is read (kept as text). */
function checkedTime(name: string) {
  return (value: string): string => {
    time(name, value);
    return value;
  };
}

/** Adds the search filters to a command. */
export function addSearchFilterOptions(command: Command): Command {
  return command
    .option("--from <text>", "sender address or name contains this (case-insensitive)")
    .option("--to <text>", "a To/Cc/Bcc address or name contains this")
    .option("--subject <words>", "every word occurs in the subject")
    .option("--since <date>", "received at or after (UTC)", checkedTime("--since"))
    .option("--until <date>", "received before (UTC)", checkedTime("--until"))
    .option("--folder <path>", "in this folder (path, e.g. Inbox) or below it")
    .option("--attachments", "only messages with attachments")
    .option("--no-attachments", "only messages without attachments")
    .option("-m, --mailbox <mailbox>", "search only this mailbox (address or id; repeatable)", collect);
}

/** Adds `--at <job|date>` (default `latest`). */
export function addAtOption(command: Command): Command {
  return command.option("--at <job|date>", "point in time: latest, a job id, or a date/time (UTC)", "latest");
}

/** Which search filters the options set (for commands where they only make sense with a flag). */
export function searchFiltersGiven(opts: SearchFilterOptions): string[] {
  return SEARCH_FILTER_KEYS.filter((k) => opts[k] !== undefined).map((k) =>
    k === "attachments" && opts.attachments === false ? "--no-attachments" : `--${k}`,
  );
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
export function criteriaFrom(opts: SearchFilterOptions): SearchCriteria {
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

/** The mailboxes `-m/--mailbox` names (each resolved, unknown ones refused), else all. */
export function searchedMailboxes(
  all: readonly ArchivedMailbox[],
  opts: SearchFilterOptions,
): ArchivedMailbox[] {
  return opts.mailbox?.length ? opts.mailbox.map((m) => resolveMailbox(all, m)) : [...all];
}
