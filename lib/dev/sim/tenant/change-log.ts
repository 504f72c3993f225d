/**
 * Change logs and the delta rounds served from them (message delta, item delta, folder delta).
 *
 * A log is a list of entries sorted by a sequence number that only grows: "in" when an object
 * entered the log's scope or changed in it, "out" when it left (a tombstone). A round delivers,
 * page by page, the latest state of every object that changed since the round's base, and the
 * tombstones of those that left, up to the round's snapshot; its last page's cursor is the base of
 * the next round.
 */
import type { ChangePage, DeltaCursor } from "../model.js";

export interface LogEntry {
  seq: number;
  id: string;
  /** "in": entered or changed; "out": left (tombstone). */
  kind: "in" | "out";
  /** Set for non-mail items in a folder's log, which message delta leaves out. */
  item?: true;
  /** The folder's parent when logged (folder logs), for the delta of one folder's children. */
  parent?: string;
}

/** Index of the first entry with a sequence greater than `seq`. */
export function firstIndexAfter(log: LogEntry[], seq: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((log[mid] as LogEntry).seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How a log's entries map to objects. */
export interface LogReader<T> {
  /** Entries that belong to this kind of round (others are passed over without counting). */
  include(entry: LogEntry): boolean;
  /** The object now, with the sequence of its latest change and whether it is still in scope. */
  current(id: string): { seq: number; value: T; inScope: boolean } | undefined;
}

/**
 * Whether `cursor` starts a new round: none (initial sync) or the cursor of a round's last page.
 * `now` is the log owner's sequence now: a new round's snapshot.
 */
export function roundOf(
  cursor: DeltaCursor | null,
  now: number,
  scope: Pick<DeltaCursor, "mailboxId" | "folderId" | "generation">,
): DeltaCursor {
  const starts = !cursor || (cursor.after === undefined && cursor.base === cursor.snapshot);
  return starts ? { ...scope, base: cursor?.base ?? 0, snapshot: now } : cursor;
}

/** One page of a round of `log`. */
export function changesPage<T>(
  log: LogEntry[],
  round: DeltaCursor,
  pageSize: number,
  reader: LogReader<T>,
): ChangePage<T> {
  const initial = round.base === 0;
  let index = firstIndexAfter(log, Math.max(round.base, round.after?.seq ?? 0));
  const entries: ChangePage<T>["entries"] = [];
  let last: LogEntry | undefined;
  while (index < log.length && entries.length < pageSize) {
    const entry = log[index] as LogEntry;
    if (entry.seq > round.snapshot) break;
    index++;
    last = entry;
    if (!reader.include(entry)) continue;
    const now = reader.current(entry.id);
    if (entry.kind === "in") {
      // Deliver only the latest change; an earlier entry is superseded by a later one.
      if (now?.inScope && now.seq === entry.seq) entries.push({ type: "upsert", value: now.value });
    } else if (!initial && !(now?.inScope && now.seq > entry.seq)) {
      entries.push({ type: "removed", id: entry.id });
    }
  }
  const more = index < log.length && (log[index] as LogEntry).seq <= round.snapshot;
  if (more) {
    const { after: _previous, ...rest } = round;
    const after = last ?? round.after;
    return {
      entries,
      done: false,
      cursor: { ...rest, ...(after ? { after: { seq: after.seq, id: after.id } } : {}) },
    };
  }
  const next: DeltaCursor = {
    mailboxId: round.mailboxId,
    folderId: round.folderId,
    generation: round.generation,
    base: round.snapshot,
    snapshot: round.snapshot,
  };
  return { entries, done: true, cursor: next };
}
