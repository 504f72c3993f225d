/**
 * How the items of a page are cut into export requests: Graph takes at most 20 ids per
 * `exportItems` request; a request asks for about 8 MB of data at most, and an item above 4 MiB
 * goes alone, streamed into the archive (bounded memory whatever its size).
 */

/** Graph takes at most this many ids per `exportItems` request. */
export const EXPORT_BATCH_LIMIT = 20;

/** Items above this many bytes are exported alone and streamed into the archive. */
export const STREAMED_EXPORT_BYTES = 4 * 1024 * 1024;

/** Bytes of export data one request asks for at most (larger items go alone): bounds memory. */
export const EXPORT_BATCH_BYTES = 8 * 1024 * 1024;

/** Splits items into export requests: at most `EXPORT_BATCH_LIMIT` ids and about `EXPORT_BATCH_BYTES`. */
export function exportBatchesOf<T extends { id: string; size?: number }>(items: readonly T[]): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.size ?? 0;
    if (batch.length > 0 && (batch.length >= EXPORT_BATCH_LIMIT || bytes + size > EXPORT_BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * The export requests of a page's items: each item above {@link STREAMED_EXPORT_BYTES} alone
 * and streamed (when the source can stream), the rest in batches ({@link exportBatchesOf}).
 * The benchmark's work model counts requests with it too (bench/figures.ts).
 */
export function splitExports<T extends { id: string; size?: number }>(
  items: readonly T[],
  canStream: boolean,
): { streamed: T[]; batches: T[][] } {
  const streamed = canStream ? items.filter((item) => (item.size ?? 0) > STREAMED_EXPORT_BYTES) : [];
  const batched = streamed.length > 0 ? items.filter((item) => !streamed.includes(item)) : items;
  return { streamed, batches: exportBatchesOf(batched) };
}

/**
 * The fewest export requests that can carry `items` of one mailbox however they are batched:
 * each item above {@link STREAMED_EXPORT_BYTES} alone, the rest at least
 * max(⌈items / 20⌉, ⌈bytes / 8 MiB⌉) (the benchmark's lower bound, bench/figures.ts).
 */
export function fewestExportRequests(items: ReadonlyArray<{ size?: number }>): number {
  let streamed = 0;
  let count = 0;
  let bytes = 0;
  for (const item of items) {
    const size = item.size ?? 0;
    if (size > STREAMED_EXPORT_BYTES) {
      streamed++;
      continue;
    }
    count++;
    bytes += size;
  }
  return streamed + Math.max(Math.ceil(count / EXPORT_BATCH_LIMIT), Math.ceil(bytes / EXPORT_BATCH_BYTES));
}
