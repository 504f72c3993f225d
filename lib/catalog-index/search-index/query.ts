/**
 * Answers search criteria from one segment: the rows (by number, ascending = newest first) that
 * pass every term test and the time range, and the rows themselves for the hits that are shown.
 */
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import type { SearchCriteria } from "../search-criteria.js";
import { parseLine, type ReadCounter, readMemberLines, readMembers, type Span } from "./gzip-members.js";
import { ROWS_PER_BLOCK, rowKey, type SegmentDirectory } from "./segment.js";
import { type Field, type IndexRow, inTimeRange, type TermTest } from "./terms.js";

/** A segment opened for searching. */
export interface OpenSegment {
  key: string;
  directory: SegmentDirectory;
}

/** Sorted, distinct union of two sorted lists. */
function merge(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1] !== x) out.push(x);
  }
  return out;
}

/** Sorted, distinct union of sorted lists (merged pairwise: n log k, never a sort of them all). */
export function union(lists: number[][]): number[] {
  if (lists.length === 0) return [];
  let level = lists;
  while (level.length > 1) {
    const next: number[][] = [];
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? merge(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  return level[0]!;
}

/** The rows of `a` not in `b` (both ascending). */
export function withoutRows(a: readonly number[], b: readonly number[]): number[] {
  if (b.length === 0) return a as number[];
  const out: number[] = [];
  let j = 0;
  for (const x of a) {
    while (j < b.length && b[j]! < x) j++;
    if (j >= b.length || b[j] !== x) out.push(x);
  }
  return out;
}

/** Intersection of sorted lists. */
function intersect(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! < b[j]!) i++;
    else if (a[i]! > b[j]!) j++;
    else {
      out.push(a[i]!);
      i++;
      j++;
    }
  }
  return out;
}

function undelta(values: unknown, key: string): number[] {
  if (!Array.isArray(values))
    throw new SearchIndexDamagedError(key, "expected a posting list, found another value");
  const ids: number[] = new Array(values.length);
  let id = 0;
  values.forEach((d, i) => {
    id = i === 0 ? (d as number) : id + (d as number);
    ids[i] = id;
  });
  return ids;
}

/** A field's distinct terms, sorted, and the number of the first term of each posting chunk. */
interface Dictionary {
  terms: string[];
  chunks: number[];
}

function checkedDictionary(key: string, field: Field, value: unknown): Dictionary {
  const d = value as Partial<Dictionary & { kind: string; field: string }> | undefined;
  if (d?.kind !== "dictionary" || d.field !== field || !Array.isArray(d.terms) || !Array.isArray(d.chunks)) {
    throw new SearchIndexDamagedError(key, `expected the dictionary of field ${field}, found another line`);
  }
  return { terms: d.terms, chunks: d.chunks };
}

/** The rows passing every test: one sorted list per test, intersected. */
async function rowsPassing(
  store: ObjectStore,
  seg: OpenSegment,
  tests: readonly TermTest[],
  counter: ReadCounter,
): Promise<number[] | undefined> {
  if (tests.length === 0) return undefined;
  const fields = [...new Set(tests.map((t) => t.field))];
  const dictionaries = await readMembers(
    store,
    seg.key,
    fields.map((f) => seg.directory.fields[f]!.dictionary),
    counter,
  );
  const dictOf = new Map<Field, Dictionary>(
    fields.map((f, i) => [f, checkedDictionary(seg.key, f, dictionaries[i]?.[0])]),
  );
  // Per test, the terms that pass and the chunks that hold their postings.
  const wanted = tests.map((test) => {
    const dict = dictOf.get(test.field)!;
    const terms: Array<{ term: string; chunk: number }> = [];
    let chunk = 0;
    dict.terms.forEach((term, i) => {
      while (chunk + 1 < dict.chunks.length && dict.chunks[chunk + 1]! <= i) chunk++;
      if (test.accepts(term)) terms.push({ term, chunk });
    });
    return { test, terms, chunks: [...new Set(terms.map((t) => t.chunk))] };
  });
  if (wanted.some((w) => w.terms.length === 0)) return [];
  const chunkSpans: Array<{ field: Field; chunk: number; span: Span }> = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    for (const chunk of w.chunks) {
      const id = `${w.test.field}/${chunk}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const span = seg.directory.fields[w.test.field]!.chunks[chunk];
      if (!span)
        throw new SearchIndexDamagedError(
          seg.key,
          `expected chunk ${chunk} of field ${w.test.field}, found none`,
        );
      chunkSpans.push({ field: w.test.field, chunk, span });
    }
  }
  const chunkLines = await readMembers(
    store,
    seg.key,
    chunkSpans.map((c) => c.span),
    counter,
  );
  const postings = new Map<string, Map<string, unknown>>();
  chunkSpans.forEach((c, i) => {
    const lines = new Map((chunkLines[i] as Array<[string, unknown]>).map(([t, ids]) => [t, ids]));
    postings.set(`${c.field}/${c.chunk}`, lines);
  });
  let result: number[] | undefined;
  for (const w of wanted) {
    const lists: number[][] = [];
    for (const { term, chunk } of w.terms) {
      lists.push(undelta(postings.get(`${w.test.field}/${chunk}`)?.get(term), seg.key));
    }
    const rows = union(lists);
    result = result ? intersect(result, rows) : rows;
    if (result.length === 0) return result;
  }
  return result;
}

/** Reads row blocks and gives the rows of the given numbers, in that order. */
export async function readRows(
  store: ObjectStore,
  seg: OpenSegment,
  ids: readonly number[],
  counter: ReadCounter,
): Promise<IndexRow[]> {
  const blockIds = [...new Set(ids.map((id) => Math.floor(id / ROWS_PER_BLOCK)))];
  const spans = blockIds.map((b) => {
    const block = seg.directory.blocks[b];
    if (!block) throw new SearchIndexDamagedError(seg.key, `expected row block ${b}, found none`);
    return [block[0], block[1]] as Span;
  });
  // Only the lines asked for are parsed: a block holds many rows, a search shows few of them.
  const lines = await readMemberLines(store, seg.key, spans, counter, 0);
  const blocks = new Map(blockIds.map((b, i) => [b, { lines: lines[i]!, at: spans[i]![0] }]));
  return ids.map((id) => {
    const block = blocks.get(Math.floor(id / ROWS_PER_BLOCK));
    const n = id % ROWS_PER_BLOCK;
    const line = block?.lines[n];
    const row = line === undefined ? undefined : (parseLine(seg.key, line, n, block!.at) as IndexRow);
    if (!row || typeof row.m !== "string" || typeof row.msg?.messageId !== "string") {
      throw new SearchIndexDamagedError(seg.key, `expected row ${id} in its block, found none`);
    }
    return row;
  });
}

/** Rows inside the criteria's time range, among `candidates` (all rows when undefined). */
async function inRange(
  store: ObjectStore,
  seg: OpenSegment,
  c: SearchCriteria,
  candidates: number[] | undefined,
  counter: ReadCounter,
): Promise<number[]> {
  const since = c.since ?? Number.NEGATIVE_INFINITY;
  const until = c.until ?? Number.POSITIVE_INFINITY;
  const out: number[] = [];
  const boundary: number[] = [];
  const byBlock = new Map<number, number[]>();
  if (candidates) {
    for (const id of candidates) {
      const b = Math.floor(id / ROWS_PER_BLOCK);
      const list = byBlock.get(b);
      if (list) list.push(id);
      else byBlock.set(b, [id]);
    }
  }
  seg.directory.blocks.forEach(([, , first, rows, maxKey, minKey, untimed], b) => {
    const ids = candidates ? byBlock.get(b) : Array.from({ length: rows }, (_, i) => first + i);
    if (!ids?.length) return;
    if (maxKey < since || minKey >= until) return;
    if (untimed === 0 && minKey >= since && maxKey < until) out.push(...ids);
    else boundary.push(...ids);
  });
  if (boundary.length > 0) {
    const rows = await readRows(store, seg, boundary, counter);
    rows.forEach((row, i) => {
      if (inTimeRange(row.t, c)) out.push(boundary[i]!);
    });
  }
  return out.sort((a, b) => a - b);
}

/**
 * The rows of the segment that match: every term test passed (mailbox tests among them) and
 * inside the time range. Ascending, which is newest first.
 */
export async function matchingRows(
  store: ObjectStore,
  seg: OpenSegment,
  tests: readonly TermTest[],
  c: SearchCriteria,
  counter: ReadCounter,
): Promise<number[]> {
  const passing = await rowsPassing(store, seg, tests, counter);
  if (passing?.length === 0) return [];
  if (c.since !== undefined || c.until !== undefined) return inRange(store, seg, c, passing, counter);
  return passing ?? Array.from({ length: seg.directory.rows }, (_, i) => i);
}

/** One segment's matching rows, ascending (newest first). */
export interface SegmentHits {
  seg: OpenSegment;
  ids: readonly number[];
}

const blockOf = (id: number) => Math.floor(id / ROWS_PER_BLOCK);

/**
 * The newest `limit` matching rows over all segments, and every other one as new as the last of
 * them (hits of the same time are ordered by mailbox address later). Rows are read in rounds, one
 * few ranged reads per segment and round (1, 2, 4, … blocks): a segment whose next block's newest time
 * is older than the `limit`-th row found so far is not read further, so a search reads about the
 * blocks of the hits it shows, not `limit` rows of every segment.
 */
export async function newestRows(
  store: ObjectStore,
  segments: readonly SegmentHits[],
  limit: number,
  counter: ReadCounter,
): Promise<IndexRow[]> {
  const rows: IndexRow[] = [];
  if (limit <= 0) return rows;
  const cursors = segments.map((s) => ({ ...s, next: 0 }));
  const upper = (c: (typeof cursors)[number]) =>
    c.next < c.ids.length ? c.seg.directory.blocks[blockOf(c.ids[c.next]!)]![4] : Number.NEGATIVE_INFINITY;
  for (let per = 1; ; per *= 2) {
    const keys = rows.map(rowKey).sort((a, b) => b - a);
    const kth = keys.length >= limit ? keys[limit - 1]! : Number.NEGATIVE_INFINITY;
    const open = cursors.filter((c) => c.next < c.ids.length && upper(c) >= kth);
    if (open.length === 0) return rows;
    await Promise.all(
      open.map(async (c) => {
        let end = c.next;
        let blocks = 0;
        let last = -1;
        while (end < c.ids.length) {
          const b = blockOf(c.ids[end]!);
          if (b !== last) {
            if (blocks === per) break;
            blocks++;
            last = b;
          }
          end++;
        }
        const read = await readRows(store, c.seg, c.ids.slice(c.next, end), counter);
        c.next = end;
        for (const row of read) rows.push(row);
      }),
    );
  }
}
