import { FatalError, SkipError } from "../errors.js";

/**
 * A name given on the command line (job, mailbox, folder, message, date) that the archive does
 * not hold. Fatal for the command: nothing sensible can be shown in its place.
 */
export class ArchiveLookupError extends FatalError {}

/**
 * A name given on the command line that fits more than one thing (the beginning of several ids):
 * the message lists them, so that the user can give more of the one meant.
 */
export class AmbiguousNameError extends FatalError {
  readonly matches: readonly string[];
  constructor(message: string, matches: readonly string[]) {
    super(message);
    this.matches = matches;
  }
}

/**
 * The archive could not be read at all (a bucket that is missing or denied, an endpoint that does
 * not answer): the cause says which, and decides the exit code.
 */
export class ArchiveAccessError extends FatalError {}

/**
 * A search index object that cannot be read as its format says (truncated, not gzip, not the
 * JSON expected). Never fatal for a search: the mailboxes it covers are searched by scanning the
 * catalog instead, and the note says why.
 */
export class SearchIndexDamagedError extends SkipError {
  readonly key: string;
  constructor(key: string, problem: string) {
    super(`search index ${key}: ${problem} (docs/archive-format.md "Search index")`);
    this.key = key;
  }
}
