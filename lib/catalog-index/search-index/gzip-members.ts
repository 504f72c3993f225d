/**
 * A search index segment is a sequence of gzip members, each a run of JSON lines: `zcat` prints
 * the whole object as JSON Lines, and a reader who knows a member's offset and length (from the
 * segment's directory) inflates it alone from one ranged read.
 */
import { gunzipSync, gzipSync } from "node:zlib";
import { ObjectNotFoundError } from "../../archive/errors.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";

/** Where a member lies in its object: `[offset, length]` in bytes. */
export type Span = [offset: number, length: number];

/** Builds an object member by member, keeping each one's span. */
export class MemberWriter {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  /** Appends the values as one gzip member of JSON lines; returns its span. */
  add(values: readonly unknown[]): Span {
    const text = values.map((v) => `${JSON.stringify(v)}\n`).join("");
    const member = gzipSync(Buffer.from(text, "utf8"), { level: 6 });
    const span: Span = [this.size, member.length];
    this.chunks.push(member);
    this.size += member.length;
    return span;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Counters a search can report: how much of the index it read. */
export interface ReadCounter {
  /** Ranged reads made. */
  reads: number;
  /** Bytes they returned. */
  bytes: number;
}

/** Reads `[offset, offset + length)` of an object whole (one ranged GET). */
export async function readSpan(
  store: ObjectStore,
  key: string,
  span: Span,
  counter?: ReadCounter,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const body = await store.getRange(key, span[0], span[1]).catch((error: unknown) => {
    // A segment the lifecycle rule expired (an index left unbuilt longer than its segments live).
    if (error instanceof ObjectNotFoundError) {
      throw new SearchIndexDamagedError(
        key,
        `expected ${span[1]} bytes at offset ${span[0]}, found no such object or range (expired, removed or truncated)`,
      );
    }
    throw error;
  });
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (counter) {
    counter.reads++;
    counter.bytes += bytes.length;
  }
  if (bytes.length !== span[1]) {
    throw new SearchIndexDamagedError(
      key,
      `expected ${span[1]} bytes at offset ${span[0]}, found ${bytes.length} (truncated)`,
    );
  }
  return bytes;
}

/** The text lines of one gzip member given as bytes (`at` says where it was, for messages). */
export function memberLines(key: string, bytes: Buffer, at: number): string[] {
  let text: string;
  try {
    text = gunzipSync(bytes).toString("utf8");
  } catch (error) {
    throw new SearchIndexDamagedError(
      key,
      `expected a gzip member at offset ${at}, found ${(error as Error).message}`,
    );
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** One line of a member as JSON (`n`: its number in the member, from 0). */
export function parseLine(key: string, line: string, n: number, at: number): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch (error) {
    throw new SearchIndexDamagedError(
      key,
      `expected JSON on line ${n + 1} of the member at offset ${at}, found ${(error as Error).message}`,
    );
  }
}

/** The JSON lines of one gzip member given as bytes. */
export function parseMember(key: string, bytes: Buffer, at: number): unknown[] {
  return memberLines(key, bytes, at).map((line, n) => parseLine(key, line, n, at));
}

/**
 * Reads several members of one object with as few ranged reads as possible: spans that touch
 * (or lie within `gap` bytes of each other) are read together. Returns each span's lines, in the
 * order given.
 */
export async function readMembers(
  store: ObjectStore,
  key: string,
  spans: readonly Span[],
  counter?: ReadCounter,
  gap = 64 * 1024,
): Promise<unknown[][]> {
  const raw = await readMemberLines(store, key, spans, counter, gap);
  return raw.map((lines, i) => lines.map((line, n) => parseLine(key, line, n, spans[i]![0])));
}

/** As {@link readMembers}, the lines left as text (a reader parses only those it needs). */
export async function readMemberLines(
  store: ObjectStore,
  key: string,
  spans: readonly Span[],
  counter?: ReadCounter,
  gap = 64 * 1024,
): Promise<string[][]> {
  const order = spans.map((s, i) => ({ s, i })).sort((a, b) => a.s[0] - b.s[0]);
  const out: string[][] = new Array(spans.length);
  let k = 0;
  const reads: Promise<void>[] = [];
  while (k < order.length) {
    const first = order[k]!.s[0];
    let end = first + order[k]!.s[1];
    let j = k + 1;
    while (j < order.length && order[j]!.s[0] <= end + gap) {
      end = Math.max(end, order[j]!.s[0] + order[j]!.s[1]);
      j++;
    }
    const group = order.slice(k, j);
    reads.push(
      readSpan(store, key, [first, end - first], counter).then((bytes) => {
        for (const { s, i } of group) {
          out[i] = memberLines(key, bytes.subarray(s[0] - first, s[0] - first + s[1]), s[0]);
        }
      }),
    );
    k = j;
  }
  await Promise.all(reads);
  return out;
}
