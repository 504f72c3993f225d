/**
 * Answers search criteria from one segment: the rows (by number, ascending = newest first) that
 * pass every term test and the time range, and the rows themselves for the hits that are shown.
 */
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import type { SearchCriteria } from "../search.js";
import { type ReadCounter, readMembers, type Span } from "./gzip-members.js";
import { ROWS_PER_BLOCK, rowKey, type SegmentDirectory } from "./segment.js";
import { type Field, type IndexRow, inTimeRange, type TermTest } from "./terms.js";

/** A segment opened for searching. */
export interface OpenSegment {
  key: string;
  directory: SegmentDirectory;
}

/** Sorted, distinct union of sorted lists. */
function union(lists: number[][]): number[] {
  if (lists.length === 1) return lists[0]!;
  const all = lists.flat().sort((a, b) => a - b);
  return all.filter((id, i) => i === 0 || id !== all[i - 1]);
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
  const dictOf = new Map<Field, Array<[string, number, number]>>(
    fields.map((f, i) => [f, dictionaries[i] as Array<[string, number, number]>]),
  );
  // Per test, the terms that pass and the chunks that hold their postings.
  const wanted = tests.map((test) => {
    const terms = dictOf.get(test.field)!.filter(([term]) => test.accepts(term));
    return { test, terms: new Set(terms.map(([t]) => t)), chunks: [...new Set(terms.map(([, , c]) => c))] };
  });
  if (wanted.some((w) => w.terms.size === 0)) return [];
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
    for (const [term, , chunk] of dictOf.get(w.test.field)!) {
      if (!w.terms.has(term)) continue;
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
  const blocks = new Map(
    (await readMembers(store, seg.key, spans, counter)).map((lines, i) => [
      blockIds[i]!,
      lines as IndexRow[],
    ]),
  );
  return ids.map((id) => {
    const row = blocks.get(Math.floor(id / ROWS_PER_BLOCK))?.[id % ROWS_PER_BLOCK];
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

/**
 * The rows a search shows: with a limit, the first `limit` matching rows and every further one
 * as new as the last of them (hits of other segments and mailboxes of the same time are ordered
 * by address later); without, all.
 */
export async function shownRows(
  store: ObjectStore,
  seg: OpenSegment,
  ids: readonly number[],
  limit: number | undefined,
  counter: ReadCounter,
): Promise<IndexRow[]> {
  if (limit === undefined || ids.length <= limit) return readRows(store, seg, ids, counter);
  const rows = limit > 0 ? await readRows(store, seg, ids.slice(0, limit), counter) : [];
  if (rows.length === 0) return rows;
  const lastKey = rowKey(rows[rows.length - 1]!);
  for (let next = limit; next < ids.length; next += ROWS_PER_BLOCK) {
    const more = await readRows(store, seg, ids.slice(next, next + ROWS_PER_BLOCK), counter);
    const same = more.filter((r) => rowKey(r) === lastKey);
    rows.push(...same);
    if (same.length < more.length) break;
  }
  return rows;
}
