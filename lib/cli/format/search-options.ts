/**
 * The search filters' values (options.ts defines them) turned into criteria and mailboxes, for
 * every command that selects messages by search: `search` lists the hits, `export --search`
 * writes them.
 */

import { DATE_EXAMPLES, parseUtcTime } from "../../catalog-index/dates.js";
import type { ArchivedMailbox } from "../../catalog-index/directory.js";
import { resolveMailbox } from "../../catalog-index/directory.js";
import { ITEM_KINDS, type SearchCriteria } from "../../catalog-index/search.js";
import { UsageError } from "../errors.js";
import { SEARCH_FILTER_KEYS, type SearchFilterOptions } from "../options.js";

export type { SearchFilterOptions } from "../options.js";

/** Which search filters the options set (for commands where they only make sense with a flag). */
export function searchFiltersGiven(opts: SearchFilterOptions): string[] {
  return SEARCH_FILTER_KEYS.filter((k) => opts[k] !== undefined).map((k) =>
    k === "attachments" && opts.attachments === false ? "--no-attachments" : `--${k}`,
  );
}

function time(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = parseUtcTime(value);
  if (t === undefined) {
    throw new UsageError(`${name}: expected a date or time (${DATE_EXAMPLES}), found "${value}"`);
  }
  return t;
}

/** The criteria the options describe. */
export function criteriaFrom(opts: SearchFilterOptions): SearchCriteria {
  const since = time("--since", opts.since);
  const until = time("--until", opts.until);
  if (since !== undefined && until !== undefined && until <= since) {
    throw new UsageError(
      `--until: expected a time after --since (${opts.since}), found "${opts.until}" (nothing can match)`,
    );
  }
  const words = opts.subject?.split(/\s+/).filter(Boolean);
  if (opts.kind !== undefined && !ITEM_KINDS.includes(opts.kind)) {
    throw new UsageError(`--kind: expected one of ${ITEM_KINDS.join(", ")}, found "${opts.kind}"`);
  }
  return {
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
    ...(words?.length ? { subjectWords: words } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(opts.folder !== undefined ? { folder: opts.folder } : {}),
    ...(opts.attachments !== undefined ? { hasAttachments: opts.attachments } : {}),
    ...(opts.kind !== undefined ? { kind: opts.kind } : {}),
  };
}

/** The mailboxes `-m/--mailbox` names (each resolved, unknown ones refused), else all. */
export function searchedMailboxes(
  all: readonly ArchivedMailbox[],
  opts: SearchFilterOptions,
): ArchivedMailbox[] {
  return opts.mailbox?.length ? opts.mailbox.map((m) => resolveMailbox(all, m)) : [...all];
}
