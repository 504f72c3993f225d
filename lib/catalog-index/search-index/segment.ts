/**
 * One segment of the search index (docs/archive-format.md "Search index"): rows of a set of
 * mailboxes at one job (their whole views, or only the items a job added or changed), sorted
 * newest first, with per field a sorted dictionary of distinct terms and their posting lists (row
 * numbers). A search reads the directory, the dictionaries of the fields its criteria name, the
 * posting chunks of the terms that match and the row blocks of the hits it shows: a few ranged
 * reads, whatever the segment's size. Version 2 adds an item-id lookup (a build finds an item's
 * row without reading the rows) and masks: rows of older segments that no longer count.
 */
import { z } from "zod";
import { compareJobIds } from "../../archive/keys.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import {
  MemberWriter,
  parseMember,
  type ReadCounter,
  readMembers,
  readSpan,
  type Span,
} from "./gzip-members.js";
import { FIELDS, type Field, type IndexRow, termsOf } from "./terms.js";

export const SEGMENT_FORMAT = "mailstream.search-segment";
/** The version written; version 1 (no item ids, no masks) is still read. */
export const SEGMENT_VERSION = 2;

/** Rows per row block (one gzip member). */
export const ROWS_PER_BLOCK = 256;
/** Uncompressed bytes of posting lines per chunk (one gzip member), about. */
const CHUNK_BYTES = 64 * 1024;

/** A mailbox the segment holds rows of (its whole view, or the items a job changed). */
export interface SegmentMailbox {
  mailboxId: string;
  /**
   * What the view was made of: `<jobId>:<parts>:<folders record 0|1>` per counted job of the
   * mailbox, in time order. A later build reuses the mailbox's rows while this is unchanged.
   */
  catalog: string[];
  rows: number;
  /**
   * Version 2: the job of the folders record whose hash `catalog` holds (a later build that finds
   * the same newest record takes the hash from here instead of reading it again).
   */
  foldersJob?: string;
}

const span = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);
const directorySchema = z.looseObject({
  kind: z.literal("directory"),
  format: z.literal(SEGMENT_FORMAT),
  version: z.union([z.literal(1), z.literal(SEGMENT_VERSION)]),
  jobId: z.string().min(1),
  rows: z.number().int().nonnegative(),
  mailboxes: span,
  /** Per field: its dictionary member and its posting chunks' members. */
  fields: z.record(z.string(), z.object({ dictionary: span, chunks: z.array(span) })),
  /** Row blocks: `[offset, length, firstRow, rows, maxKey, minKey, untimed]`. */
  blocks: z.array(
    z.tuple([z.number(), z.number(), z.number(), z.number(), z.number(), z.number(), z.number()]),
  ),
  /** Version 2: the item-id lookup (its first-keys member and its chunks). */
  ids: z.object({ first: span, chunks: z.array(span) }).optional(),
  /** Version 2: the masks member (rows of older segments that no longer count); null when none. */
  masks: span.nullable().optional(),
});
export type SegmentDirectory = z.infer<typeof directorySchema>;

/** Sort key of a row: its time, 0 without one (as search orders hits). */
export const rowKey = (row: IndexRow): number => row.t ?? 0;

/** Newest first, then mailbox id, then item id: the order of a segment's rows. */
export function compareRows(a: IndexRow, b: IndexRow): number {
  return (
    rowKey(b) - rowKey(a) ||
    (a.m < b.m ? -1 : a.m > b.m ? 1 : 0) ||
    (a.msg.messageId < b.msg.messageId ? -1 : a.msg.messageId > b.msg.messageId ? 1 : 0)
  );
}

/** Posting lists as JSON: the first row number, then the differences (small numbers, small gzip). */
function deltas(ids: readonly number[]): number[] {
  return ids.map((id, i) => (i === 0 ? id : id - ids[i - 1]!));
}

/**
 * Rows of an older segment that no longer count: the item was changed, moved or removed later
 * (its newer row, if any, is in the segment that carries the mask).
 */
export interface SegmentMask {
  /** The older segment's key. */
  segment: string;
  mailboxId: string;
  /** Row numbers in that segment, ascending. */
  rows: number[];
}

/** An entry of the item-id lookup: where an item's row is in the segment. */
export type IdLine = [mailboxId: string, itemId: string, row: number, folderId: string];

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** The order of the item-id lookup: mailbox id, then item id (UTF-16 code units). */
export const compareIdKeys = (a: readonly [string, string], b: readonly [string, string]) =>
  compareText(a[0], b[0]) || compareText(a[1], b[1]);

/** The segment's bytes, and where its directory lies in them. */
export function encodeSegment(
  jobId: string,
  mailboxes: readonly SegmentMailbox[],
  unsorted: readonly IndexRow[],
  /** Uncompressed bytes of posting lines (and item-id lines) per chunk, about (smaller in tests). */
  chunkBytes = CHUNK_BYTES,
  masks: readonly SegmentMask[] = [],
): { bytes: Buffer; directory: Span; rows: number } {
  const rows = [...unsorted].sort(compareRows);
  const w = new MemberWriter();
  w.add([{ kind: "segment", format: SEGMENT_FORMAT, version: SEGMENT_VERSION, jobId, rows: rows.length }]);
  const mailboxSpan = w.add(
    [...mailboxes]
      .sort((a, b) => compareJobIds(a.mailboxId, b.mailboxId))
      .map((m) => ({ kind: "mailbox", ...m })),
  );
  const postings = new Map<Field, Map<string, number[]>>(FIELDS.map((f) => [f, new Map()]));
  rows.forEach((row, id) => {
    const terms = termsOf(row);
    for (const field of FIELDS) {
      const byTerm = postings.get(field)!;
      for (const term of terms[field]) {
        const list = byTerm.get(term);
        if (list) list.push(id);
        else byTerm.set(term, [id]);
      }
    }
  });
  const fields: SegmentDirectory["fields"] = {};
  for (const field of FIELDS) {
    const byTerm = postings.get(field)!;
    const terms = [...byTerm.keys()].sort();
    const chunks: Span[] = [];
    // The first term of each chunk, by its number in `terms`.
    const starts: number[] = [];
    const rowsOf: number[] = [];
    let lines: Array<[string, number[]]> = [];
    let bytes = 0;
    const flush = () => {
      if (lines.length === 0) return;
      chunks.push(w.add(lines));
      lines = [];
      bytes = 0;
    };
    terms.forEach((term, i) => {
      const ids = byTerm.get(term)!;
      const size = term.length + ids.length * 3;
      if (bytes > 0 && bytes + size > chunkBytes) flush();
      if (lines.length === 0) starts.push(i);
      rowsOf.push(ids.length);
      lines.push([term, deltas(ids)]);
      bytes += size;
    });
    flush();
    const dictionary = { kind: "dictionary", field, terms, rows: rowsOf, chunks: starts };
    fields[field] = { dictionary: w.add([dictionary]), chunks };
  }
  const blocks: SegmentDirectory["blocks"] = [];
  for (let first = 0; first < rows.length; first += ROWS_PER_BLOCK) {
    const block = rows.slice(first, first + ROWS_PER_BLOCK);
    const [offset, length] = w.add(block);
    const keys = block.map(rowKey);
    const untimed = block.filter((r) => r.t === null).length;
    blocks.push([offset, length, first, block.length, Math.max(...keys), Math.min(...keys), untimed]);
  }
  const ids = encodeIds(w, rows, chunkBytes);
  const maskLines = [...masks]
    .filter((m) => m.rows.length > 0)
    .sort((a, b) => compareText(a.segment, b.segment) || compareText(a.mailboxId, b.mailboxId))
    .map((m) => ({ kind: "mask", segment: m.segment, mailboxId: m.mailboxId, rows: deltas(m.rows) }));
  const maskSpan = maskLines.length > 0 ? w.add(maskLines) : null;
  const directory = {
    kind: "directory",
    format: SEGMENT_FORMAT,
    version: SEGMENT_VERSION,
    jobId,
    rows: rows.length,
    mailboxes: mailboxSpan,
    fields,
    blocks,
    ids,
    masks: maskSpan,
  } satisfies SegmentDirectory;
  const directorySpan = w.add([directory]);
  return { bytes: w.bytes(), directory: directorySpan, rows: rows.length };
}

/** The item-id lookup: chunks of id lines in key order, then the first key of each chunk. */
function encodeIds(w: MemberWriter, rows: readonly IndexRow[], chunkBytes: number) {
  const lines: IdLine[] = rows.map((r, n) => [r.m, r.msg.messageId, n, r.msg.folderId]);
  lines.sort((a, b) => compareIdKeys([a[0], a[1]], [b[0], b[1]]));
  const chunks: Span[] = [];
  const first: Array<[string, string]> = [];
  let at = 0;
  while (at < lines.length) {
    let bytes = 0;
    let end = at;
    while (end < lines.length && (end === at || bytes < chunkBytes)) {
      const [m, id, , f] = lines[end]!;
      bytes += m.length + id.length + f.length + 16;
      end++;
    }
    first.push([lines[at]![0], lines[at]![1]]);
    chunks.push(w.add(lines.slice(at, end)));
    at = end;
  }
  return { first: w.add([{ kind: "ids", first }]), chunks };
}

/** Reads and checks a segment's directory. */
export async function readDirectory(
  store: ObjectStore,
  key: string,
  at: Span,
  counter?: ReadCounter,
): Promise<SegmentDirectory> {
  const [value] = parseMember(key, await readSpan(store, key, at, counter), at[0]);
  const parsed = directorySchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SearchIndexDamagedError(
      key,
      `expected a segment directory (${SEGMENT_FORMAT} version 1 or ${SEGMENT_VERSION}) at offset ${at[0]}, found ${issue?.path.join(".") || "it"} invalid: ${issue?.message}`,
    );
  }
  for (const field of FIELDS) {
    if (!parsed.data.fields[field]) {
      throw new SearchIndexDamagedError(key, `expected field ${field} in the directory, found none`);
    }
  }
  return parsed.data;
}

const mailboxLineSchema = z.looseObject({
  kind: z.literal("mailbox"),
  mailboxId: z.string().min(1),
  catalog: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  foldersJob: z.string().optional(),
});

/** The mailboxes a segment covers. */
export async function readSegmentMailboxes(
  store: ObjectStore,
  key: string,
  directory: SegmentDirectory,
  counter?: ReadCounter,
): Promise<SegmentMailbox[]> {
  const lines = parseMember(
    key,
    await readSpan(store, key, directory.mailboxes, counter),
    directory.mailboxes[0],
  );
  return lines.map((line, i) => {
    const parsed = mailboxLineSchema.safeParse(line);
    if (!parsed.success) {
      throw new SearchIndexDamagedError(
        key,
        `expected a mailbox line (${i + 1}) in the mailbox list, found another`,
      );
    }
    const { mailboxId, catalog, rows, foldersJob } = parsed.data;
    return { mailboxId, catalog, rows, ...(foldersJob !== undefined ? { foldersJob } : {}) };
  });
}

const maskLineSchema = z.looseObject({
  kind: z.literal("mask"),
  segment: z.string().min(1),
  mailboxId: z.string().min(1),
  rows: z.array(z.number().int()),
});

/** The masks a segment carries (none for version 1). */
export async function readSegmentMasks(
  store: ObjectStore,
  key: string,
  directory: SegmentDirectory,
  counter?: ReadCounter,
): Promise<SegmentMask[]> {
  if (!directory.masks) return [];
  const lines = parseMember(key, await readSpan(store, key, directory.masks, counter), directory.masks[0]);
  return lines.map((line, i) => {
    const parsed = maskLineSchema.safeParse(line);
    if (!parsed.success) {
      throw new SearchIndexDamagedError(
        key,
        `expected a mask line (${i + 1}) in the masks member, found another`,
      );
    }
    let row = 0;
    const rows = parsed.data.rows.map((d, n) => (row = n === 0 ? d : row + d));
    return { segment: parsed.data.segment, mailboxId: parsed.data.mailboxId, rows };
  });
}

/** Where items are in a segment: `<mailbox id>\n<item id>` → row number and folder id. */
export type FoundIds = Map<string, { row: number; folderId: string }>;
export const idKey = (mailboxId: string, itemId: string) => `${mailboxId}\n${itemId}`;

/**
 * Looks items up in a segment's item-id lookup: its first-keys member, then only the chunks that
 * may hold the items asked for (a build's cost grows with the items it looks up, not the segment).
 * Throws when the segment has no lookup (version 1).
 */
export async function lookupIds(
  store: ObjectStore,
  key: string,
  directory: SegmentDirectory,
  items: ReadonlyArray<readonly [string, string]>,
  counter?: ReadCounter,
): Promise<FoundIds> {
  const found: FoundIds = new Map();
  if (!directory.ids)
    throw new SearchIndexDamagedError(key, "expected an item-id lookup (segment version 2), found none");
  if (items.length === 0 || directory.ids.chunks.length === 0) return found;
  const [head] = parseMember(
    key,
    await readSpan(store, key, directory.ids.first, counter),
    directory.ids.first[0],
  );
  const first = (head as { first?: unknown } | undefined)?.first;
  if (!Array.isArray(first) || first.length !== directory.ids.chunks.length) {
    throw new SearchIndexDamagedError(
      key,
      "expected the first key of each item-id chunk, found another line",
    );
  }
  const keys = first as Array<[string, string]>;
  // The chunk an item would be in: the last whose first key is not after it.
  const chunkOf = (item: readonly [string, string]) => {
    let lo = 0;
    let hi = keys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (compareIdKeys(keys[mid]!, item) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const wanted = new Set(items.map(([m, id]) => idKey(m, id)));
  const chunks = [...new Set(items.map(chunkOf))].sort((a, b) => a - b);
  const read = await readMembers(
    store,
    key,
    chunks.map((c) => directory.ids!.chunks[c]!),
    counter,
  );
  for (const lines of read) {
    for (const line of lines as IdLine[]) {
      const k = idKey(line[0], line[1]);
      if (wanted.has(k)) found.set(k, { row: line[2], folderId: line[3] });
    }
  }
  return found;
}
