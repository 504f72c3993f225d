/**
 * Ids typed as tables print them: whole, or cut short (`AAMkAGI22CuC…`). As git does with commit
 * hashes, any unique beginning of an id names it; a beginning several ids share is refused with
 * the list of them.
 */
import { AmbiguousNameError } from "./errors.js";

/** A beginning must be at least this long, so that a stray short word never names something. */
export const MIN_PREFIX = 4;
/** Matches listed at most in the message about an ambiguous beginning. */
const LISTED = 10;

/** The id as typed, without the `…` (or `...`) of a cut id copied from a table. */
export function typedId(arg: string): string {
  return arg.trim().replace(/(?:…|\.\.\.)$/u, "");
}

/**
 * The item whose id is `arg`, else the one item whose id begins with it; undefined when none.
 * Throws {@link AmbiguousNameError} (listing them) when several begin with it.
 */
export function byIdOrPrefix<T>(
  items: Iterable<T>,
  idOf: (item: T) => string,
  arg: string,
  what: string,
): T | undefined {
  const id = typedId(arg);
  if (id === "") return undefined;
  const matches: T[] = [];
  for (const item of items) {
    const itemId = idOf(item);
    if (itemId === id) return item;
    if (id.length >= MIN_PREFIX && itemId.startsWith(id)) matches.push(item);
  }
  if (matches.length <= 1) return matches[0];
  throw ambiguous(what, arg, matches.map(idOf));
}

/** The error for a beginning that several ids share. */
export function ambiguous(what: string, arg: string, ids: readonly string[]): AmbiguousNameError {
  const sorted = [...new Set(ids)].sort();
  const shown = sorted.slice(0, LISTED).join(", ");
  const more = sorted.length > LISTED ? `, and ${sorted.length - LISTED} more` : "";
  return new AmbiguousNameError(
    `${what} "${arg}": expected an id or a beginning only one id has, found ${sorted.length} ids beginning so: ${shown}${more} (give more of it)`,
    sorted,
  );
}
