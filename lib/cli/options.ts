/**
 * The command line's shared options and value parsers. Loaded by every start (help included), so
 * this module imports commander and nothing heavier: what a command does lives in commands/ and
 * is loaded only when that command runs.
 */
import { type Command, InvalidArgumentError } from "commander";
import { DATE_EXAMPLES, parseUtcTime } from "../catalog-index/dates.js";

/** `--data`/`--archive`, shared by every archive command. */
export interface ArchiveOptions {
  /** `--data <dir>`: the local runtime's data folder. Default `.mailstream`. */
  data?: string;
  /** `--archive <dir|s3://bucket/prefix>`: the archive, overriding `--data` and the environment. */
  archive?: string;
}

/** A parser of an integer option within bounds (commander argument parser). */
export function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name}: expected an integer from ${min} to ${max}, found "${value}"`);
    }
    return n;
  };
}

/** A parser of a non-negative integer option. */
export function nonNegativeInt(name: string, max: number) {
  return integer(name, 0, max);
}

/** A parser of one of a fixed set of words. */
export function oneOf<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${name}: expected one of ${choices.join(", ")}, found "${value}"`);
    }
    return value as T;
  };
}

/** A parser that refuses what is not a date or time (kept as the text typed). */
export function checkedTime(name: string) {
  return (value: string): string => {
    if (parseUtcTime(value) === undefined) {
      throw new InvalidArgumentError(`${name}: expected a date or time (${DATE_EXAMPLES}), found "${value}"`);
    }
    return value;
  };
}

/** A parser of `--at`: `latest`, a job id (or its unique beginning), or a date/time. */
export function pointInTime(name: string) {
  return (value: string): string => {
    if (value.trim() === "") {
      throw new InvalidArgumentError(`${name}: expected "latest", a job id or a date/time, found nothing`);
    }
    return value;
  };
}

export function addArchiveOptions(command: Command): Command {
  return command
    .option("-d, --data <dir>", "data folder of the local runtime (its archive/ is read)", ".mailstream")
    .option("-a, --archive <place>", "archive folder or s3://bucket/prefix (overrides --data)");
}

/** Adds `--at <job|date>` (default `latest`). */
export function addAtOption(command: Command): Command {
  return command.option(
    "--at <job|date>",
    "point in time: latest, a job id (or its unique beginning), or a date/time (UTC)",
    pointInTime("--at"),
    "latest",
  );
}

/** The search filters' option values, as commander keys them. */
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
  /** `--kind <kind>`: only items of this kind (mail, event, contact, distributionList, task, note). */
  kind?: string;
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
  "kind",
] as const satisfies ReadonlyArray<keyof SearchFilterOptions>;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds the search filters (`search`, `export --search`). */
export function addSearchFilterOptions(command: Command): Command {
  return command
    .option("--from <text>", "sender address or name contains this (case-insensitive)")
    .option("--to <text>", "a To/Cc/Bcc address or name contains this")
    .option("--subject <words>", "every word occurs in the subject")
    .option("--since <date>", "received at or after this date/time (UTC)", checkedTime("--since"))
    .option("--until <date>", "received before this date/time (UTC)", checkedTime("--until"))
    .option("--folder <path>", "in this folder (path, e.g. Inbox) or below it")
    .option("--attachments", "only messages with attachments")
    .option("--no-attachments", "only messages without attachments")
    .option("-m, --mailbox <mailbox>", "search only this mailbox (address or id; repeatable)", collect)
    .option("--kind <kind>", "only items of this kind: mail, event, contact, distributionList, task, note");
}
