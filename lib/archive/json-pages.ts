/**
 * Cutting a long list into pages of JSON of about a given size: job reports and manifests page
 * the lists that grow with the tenant (reports.ts, manifest.ts), so that no object is too large to
 * read whole and a reader of the rest never reads them.
 */

/** Cuts `entries` into runs whose JSON stays within `pageBytes` (an entry larger goes alone). */
export function cutIntoPages<T>(entries: readonly T[], pageBytes: number): T[][] {
  const pages: T[][] = [];
  let page: T[] = [];
  let bytes = 2;
  for (const entry of entries) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (page.length > 0 && bytes + size > pageBytes) {
      pages.push(page);
      page = [];
      bytes = 2;
    }
    page.push(entry);
    bytes += size;
  }
  if (page.length > 0) pages.push(page);
  return pages;
}

/** Whether the list's JSON is larger than `pageBytes`: then it is paged. */
export function needsPages(entries: readonly unknown[], pageBytes: number): boolean {
  return Buffer.byteLength(JSON.stringify(entries)) > pageBytes;
}
