/**
 * What the search index knows of an item: one row per item of a mailbox's point-in-time view, and
 * per field the terms the row is found by. Each criterion of a search (search.ts) maps to a test
 * on a field's distinct terms whose matching rows are exactly the rows the scan's
 * `messageMatches` accepts for that criterion: both derive from match-text.ts.
 */
import type { ViewMessage } from "../../archive/replay.js";
import { folderFilterPath, inFolder, kindOf, recipientTexts, senderText, titleText } from "../match-text.js";
import { receivedAt } from "../message-fields.js";
import type { SearchCriteria } from "../search-criteria.js";

/**
 * The indexed fields: `m` mailbox id, `k` kind, `a` attachments (`1`/`0`), `f` folder path
 * (lowercase), `s` sender text, `r` recipient texts, `w` title words (lowercase, split at white
 * space).
 */
export const FIELDS = ["m", "k", "a", "f", "s", "r", "w"] as const;
export type Field = (typeof FIELDS)[number];

/** One item as the index keeps it: enough to show and export it as a hit. */
export interface IndexRow {
  /** Mailbox id. */
  m: string;
  /** Folder path as hits show it (the folder's path, else its id). */
  p: string;
  /** The item's time (ms, `receivedAt`); null when it has none. */
  t: number | null;
  /** The item as the view holds it, its sender and time completed (message-fields.ts). */
  msg: ViewMessage;
}

/** The row of one view message (its meta already completed). */
export function rowOf(mailboxId: string, folderPath: string, msg: ViewMessage): IndexRow {
  const t = receivedAt(msg.meta);
  return { m: mailboxId, p: folderPath, t: Number.isNaN(t) ? null : t, msg };
}

/** The terms of one row, per field (each field's terms distinct). */
export function termsOf(row: IndexRow): Record<Field, string[]> {
  const meta = row.msg.meta;
  return {
    m: [row.m],
    k: [kindOf(meta)],
    a: [meta.hasAttachments ? "1" : "0"],
    f: [row.p.toLowerCase()],
    s: [senderText(meta)],
    r: [...new Set(recipientTexts(meta))],
    w: [...new Set(titleText(meta).split(/\s+/).filter(Boolean))],
  };
}

/** A test on one field's terms: a row matches when one of its terms in the field passes. */
export interface TermTest {
  field: Field;
  accepts(term: string): boolean;
}

/**
 * The criteria as term tests, all of which a row must pass (plus the time range, kept on rows);
 * undefined when a criterion cannot be answered from terms exactly (a subject "word" holding
 * white space, which may span two words): then the search scans.
 */
export function termTests(c: SearchCriteria): TermTest[] | undefined {
  const tests: TermTest[] = [];
  if (c.kind !== undefined) {
    const kind = c.kind;
    tests.push({ field: "k", accepts: (t) => t === kind });
  }
  if (c.hasAttachments !== undefined) {
    const want = c.hasAttachments ? "1" : "0";
    tests.push({ field: "a", accepts: (t) => t === want });
  }
  if (c.folder !== undefined) {
    const want = folderFilterPath(c.folder);
    tests.push({ field: "f", accepts: (t) => inFolder(t, want) });
  }
  if (c.from !== undefined) {
    const needle = c.from.toLowerCase();
    tests.push({ field: "s", accepts: (t) => t.includes(needle) });
  }
  if (c.to !== undefined) {
    const needle = c.to.toLowerCase();
    tests.push({ field: "r", accepts: (t) => t.includes(needle) });
  }
  for (const word of c.subjectWords ?? []) {
    const needle = word.toLowerCase();
    // An empty word is in every title; one with white space may span words (not a term's part).
    if (needle === "") continue;
    if (/\s/.test(needle)) return undefined;
    tests.push({ field: "w", accepts: (t) => t.includes(needle) });
  }
  return tests;
}

/** Whether a row's time is inside the criteria's range (no range: every row; no time: none). */
export function inTimeRange(t: number | null, c: SearchCriteria): boolean {
  if (c.since === undefined && c.until === undefined) return true;
  if (t === null) return false;
  return (c.since === undefined || t >= c.since) && (c.until === undefined || t < c.until);
}
