/**
 * One segment of the search index (docs/archive-format.md "Search index"): the point-in-time
 * views of a set of mailboxes at one job, as rows sorted newest first, with per field a sorted
 * dictionary of distinct terms and their posting lists (row numbers). A search reads the
 * directory, the dictionaries of the fields its criteria name, the posting chunks of the terms
 * that match and the row blocks of the hits it shows: a few ranged reads, whatever the segment's
 * size.
 */
import { z } from "zod";
import { compareJobIds } from "../../archive/keys.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import { MemberWriter, parseMember, type ReadCounter, readSpan, type Span } from "./gzip-members.js";
import { FIELDS, type Field, type IndexRow, termsOf } from "./terms.js";

export const SEGMENT_FORMAT = "mailstream.search-segment";
export const SEGMENT_VERSION = 1;

/** Rows per row block (one gzip member). */
export const ROWS_PER_BLOCK = 256;
/** Uncompressed bytes of posting lines per chunk (one gzip member), about. */
const CHUNK_BYTES = 64 * 1024;

/** A mailbox the segment covers: its view at the segment's job, whole. */
export interface SegmentMailbox {
  mailboxId: string;
  /**
   * What the view was made of: `<jobId>:<parts>:<folders record 0|1>` per counted job of the
   * mailbox, in time order. A later build reuses the mailbox's rows while this is unchanged.
   */
  catalog: string[];
  rows: number;
}

const span = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);
const directorySchema = z.looseObject({
  kind: z.literal("directory"),
  format: z.literal(SEGMENT_FORMAT),
  version: z.literal(SEGMENT_VERSION),
  jobId: z.string().min(1),
  rows: z.number().int().nonnegative(),
  mailboxes: span,
  /** Per field: its dictionary member and its posting chunks' members. */
  fields: z.record(z.string(), z.object({ dictionary: span, chunks: z.array(span) })),
  /** Row blocks: `[offset, length, firstRow, rows, maxKey, minKey, untimed]`. */
  blocks: z.array(
    z.tuple([z.number(), z.number(), z.number(), z.number(), z.number(), z.number(), z.number()]),
  ),
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

/** The segment's bytes, and where its directory lies in them. */
export function encodeSegment(
  jobId: string,
  mailboxes: readonly SegmentMailbox[],
  unsorted: readonly IndexRow[],
  /** Uncompressed bytes of posting lines per chunk, about (smaller in tests: many chunks). */
  chunkBytes = CHUNK_BYTES,
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
  const directory = {
    kind: "directory",
    format: SEGMENT_FORMAT,
    version: SEGMENT_VERSION,
    jobId,
    rows: rows.length,
    mailboxes: mailboxSpan,
    fields,
    blocks,
  } satisfies SegmentDirectory;
  const directorySpan = w.add([directory]);
  return { bytes: w.bytes(), directory: directorySpan, rows: rows.length };
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
      `expected a segment directory (${SEGMENT_FORMAT} version ${SEGMENT_VERSION}) at offset ${at[0]}, found ${issue?.path.join(".") || "it"} invalid: ${issue?.message}`,
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
    const { mailboxId, catalog, rows } = parsed.data;
    return { mailboxId, catalog, rows };
  });
}
