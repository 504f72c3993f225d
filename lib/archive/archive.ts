/**
 * The archive as the pipeline sees it: one object that binds an {@link ObjectStore} to the
 * ports of lib/backup (unit backup, coordinator, finalization). It takes the catalog lines in the
 * shape the port declares (lib/backup/ports.ts `CatalogEntry`) and writes them in the archive's
 * format (catalog.ts).
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { BlobKind, BlobOwner, CatalogEntry, CatalogPartKey } from "../backup/ports.js";
import {
  findStoredBlob,
  memoryThresholdOf,
  type StoreBlobOptions,
  type StoredBlob,
  storeBlob,
} from "./blobs.js";
import { itemContentOf, type WrittenFolders, writeCatalogPart, writeFolders } from "./catalog.js";
import { BodyEncoder, type BodyEncoding, type CompressionOptions } from "./encoding.js";
import { type ManifestSource, writeManifest, writeManifestPages, writeManifestSummary } from "./manifest.js";
import { knownKey, type PackedBody, type PackOptions, PackWriteError, PackWriter } from "./packs.js";
import {
  type ReportPages,
  readReport,
  readReportSummary,
  writeReport,
  writeReportPages,
  writeReportSummary,
} from "./reports.js";
import type { ObjectStore } from "./store.js";

export interface Archive {
  readonly store: ObjectStore;
  /**
   * Stores an item body (a message's MIME, an item's export stream) under its content address;
   * a small one of an `owner` goes into the mailbox's open pack (durable with the next catalog part).
   */
  storeBlob(kind: BlobKind, body: Readable | Buffer, owner?: BlobOwner): Promise<StoredBlob>;
  /**
   * Where a packed body of the mailbox lies once its pack is written (after a catalog part write);
   * undefined for a body of its own object. For catalog lines of other kinds of item.
   */
  locate(mailboxId: string, kind: BlobKind, sha256: string, size: number): PackedBody | undefined;
  writeCatalogPart(key: CatalogPartKey, entries: readonly CatalogEntry[]): Promise<void>;
  /** Bytes of the mailbox's packed bodies that are not durable yet (see the port's `pendingPackBytes`). */
  pendingPackBytes(mailboxId: string): number;
  /**
   * The mailbox's folder tree for this job (coordinator `recordFolders`), unless its hash is
   * `unlessTreeHash` (the tree the archive holds already).
   */
  recordFolders(
    jobId: string,
    mailboxId: string,
    folders: ReadonlyArray<{
      id: string;
      parentFolderId: string;
      path: string;
      displayName: string;
      /** Search folders are recorded as such, so that listings do not show them as empty folders. */
      isSearchFolder?: boolean;
      /** Which of the user's mailboxes holds the folder. Absent: the primary mailbox. */
      mailbox?: "primary" | "archive";
      /** The folder class. Absent: `IPF.Note`. */
      folderClass?: string;
    }>,
    opts?: { unlessTreeHash?: string },
  ): Promise<WrittenFolders>;
  /** `pagedLists`: the report's lists that may be stored in pages (reports.ts). */
  writeReport(report: { jobId: string }, paging?: { pagedLists: readonly string[] }): Promise<void>;
  writeManifest(report: ManifestSource): Promise<void>;
  /** The job's whole report as written (paged lists read back), or undefined when there is none. */
  readReport<T>(jobId: string): Promise<T | undefined>;
  /** The job's report as report.json holds it (paged lists empty), or undefined when there is none. */
  readReportSummary<T>(jobId: string): Promise<T | undefined>;
  /**
   * A report written in pieces (docs/archive-format.md "Job reports"): one piece of a paged list
   * from part `firstPart` on; returns the parts written.
   */
  writeReportPages(
    jobId: string,
    list: string,
    firstPart: number,
    entries: readonly unknown[],
  ): Promise<number>;
  /** Its report.json, last: the paged lists empty in `summary`, `pages` where they are. */
  writeReportSummary(summary: { jobId: string }, pages: Record<string, ReportPages>): Promise<void>;
  /** One piece of the manifest's mailbox list (in id order) from part `firstPart` on; returns the parts written. */
  writeManifestPages(
    jobId: string,
    firstPart: number,
    mailboxes: ManifestSource["mailboxes"],
  ): Promise<number>;
  /** Its manifest.json, after every page. */
  writeManifestSummary(
    source: Omit<ManifestSource, "mailboxes">,
    mailboxPages: { parts: number; entries: number },
  ): Promise<void>;
}

/**
 * A message's properties as the catalog keeps them: as Graph delivered them, except `isRead`,
 * which is always a boolean (a text "true"/"false" from a lenient source becomes one; anything
 * else that is not a boolean is left out rather than kept as a truthy string).
 */
export function catalogMeta<T extends Record<string, unknown>>(meta: T): T {
  const isRead = meta.isRead;
  if (isRead === undefined || typeof isRead === "boolean") return meta;
  const { isRead: _dropped, ...rest } = meta;
  if (isRead === "true" || isRead === "false") return { ...rest, isRead: isRead === "true" } as unknown as T;
  return rest as T;
}

export interface ArchiveOptions extends Omit<StoreBlobOptions, "encoder"> {
  /** Small bodies in packs (docs/archive-format.md "Packs"). Default: none (every body its own object). */
  packs?: Omit<PackOptions, "encoder">;
  /**
   * Bodies compressed where it pays, packed or not (docs/archive-format.md "Compression").
   * Default: none (every body stored as it is).
   */
  compression?: CompressionOptions;
}

/**
 * Bodies of their own whose stored form this process knows (by `kind:sha256`; null: as it is),
 * so that a catalog line names it without a request: about 150 bytes each.
 */
const STANDALONE_KEPT = 10_000;

/** Makes `key` the most recent entry of `recent`, dropping the oldest beyond `limit`. */
function keepRecent<V>(recent: Map<string, V>, key: string, value: V, limit: number): void {
  recent.delete(key);
  recent.set(key, value);
  if (recent.size > limit) recent.delete(recent.keys().next().value as string);
}

export function createArchive(store: ObjectStore, opts: ArchiveOptions = {}): Archive {
  const encoder = new BodyEncoder(opts.compression);
  const blobOptions: StoreBlobOptions = {
    ...(opts.memoryThresholdBytes !== undefined ? { memoryThresholdBytes: opts.memoryThresholdBytes } : {}),
    encoder,
  };
  const packer = new PackWriter(store, { ...(opts.packs ?? { thresholdBytes: 0 }), encoder });
  const standalone = new Map<string, BodyEncoding | null>();
  const remember = (kind: BlobKind, blob: StoredBlob): StoredBlob => {
    if (blob.pack) return blob;
    const key = knownKey(kind, blob.sha256);
    keepRecent(standalone, key, blob.encoding ?? null, STANDALONE_KEPT);
    return blob;
  };
  /** How a body of its own is stored: as this process stored it, or as the archive holds it. */
  const standaloneEncoding = async (kind: BlobKind, sha256: string, size: number) => {
    const known = standalone.get(knownKey(kind, sha256));
    if (known !== undefined) return known ?? undefined;
    return (await findStoredBlob(store, sha256, kind, size))?.encoding;
  };
  const packing = packer.thresholdBytes > 0;
  /**
   * Bodies at or above the pack threshold that this process packed because their compressed form
   * is below it (by `kind:sha256`): a catalog line must name their pack, and one whose pack could
   * not be written is refused like a small body's. About 100 bytes each.
   */
  const packedLarge = new Map<string, true>();
  /** True when a body lies (or is to lie) in a pack: small ones always, larger ones when packed. */
  const inPack = (mailboxId: string, kind: BlobKind, sha256: string, size: number) =>
    packer.packs(size) || packedLarge.has(knownKey(kind, sha256)) || packer.knows(mailboxId, kind, sha256);
  const locate = (mailboxId: string, kind: BlobKind, sha256: string, size: number) => {
    if (!packing || !inPack(mailboxId, kind, sha256, size)) return undefined;
    const location = packer.locate(mailboxId, kind, sha256);
    if (!location)
      throw new PackWriteError(
        `content ${sha256} (${kind}, ${size} bytes): expected it in a written pack of mailbox ${mailboxId}, found it lost (its pack could not be written); it is stored again`,
      );
    return location;
  };
  return {
    store,
    async storeBlob(kind, body, owner) {
      if (!packing || !owner) return remember(kind, await storeBlob(store, kind, body, blobOptions));
      const start = await readUpTo(body, packer.thresholdBytes);
      if (start.whole) return packer.add(owner.mailboxId, kind, start.whole);
      if (!encoder.enabled) return remember(kind, await storeBlob(store, kind, start.stream, blobOptions));
      // Packing is decided on the stored size where the compression is known first: a body that
      // is held in memory anyway (up to the memory threshold) is encoded, and packed when its
      // compressed form is below the threshold (docs/archive-format.md "Packs").
      const held = await readUpTo(start.stream, memoryThresholdOf(blobOptions) + 1);
      if (!held.whole) return remember(kind, await storeBlob(store, kind, held.stream, blobOptions));
      const encoded = await encoder.encode(held.whole);
      if (!encoded.encoding || !packer.packs(encoded.bytes.length))
        return remember(kind, await storeBlob(store, kind, held.whole, { ...blobOptions, encoded }));
      const sha256 = createHash("sha256").update(held.whole).digest("hex");
      // Stored as an object of its own before (an earlier version, another setting): not again.
      if (!(await packer.holds(owner.mailboxId, kind, sha256))) {
        const own = await findStoredBlob(store, sha256, kind, held.whole.length, encoded.encoding);
        if (own) return remember(kind, { sha256, size: held.whole.length, existed: true, ...own });
      }
      const key = knownKey(kind, sha256);
      keepRecent(packedLarge, key, true, STANDALONE_KEPT);
      return packer.add(owner.mailboxId, kind, held.whole, encoded);
    },
    locate,
    pendingPackBytes: (mailboxId) => (packing ? packer.pendingBytes(mailboxId) : 0),
    async writeCatalogPart(key, entries) {
      // No line may name a body that is not durable: write the packs holding its bodies first
      // (only those: other bodies keep filling the mailbox's open pack).
      let located = new Map<string, PackedBody>();
      if (packing) {
        const bodies: Array<{ kind: BlobKind; sha256: string }> = [];
        for (const e of entries) {
          if (e.kind !== "upsert") continue;
          const content = itemContentOf(e);
          const kind = content.content === "export" ? "export" : "mime";
          if (inPack(key.mailboxId, kind, e.sha256, e.size)) bodies.push({ kind, sha256: e.sha256 });
          if (content.export && inPack(key.mailboxId, "export", content.export.sha256, content.export.size))
            bodies.push({ kind: "export", sha256: content.export.sha256 });
        }
        if (bodies.length > 0) located = await packer.settleFor(key.mailboxId, bodies);
      }
      // Where each body of the part lies, as the pack writes left it, and how it is stored.
      const place = async (
        kind: BlobKind,
        sha256: string,
        size: number,
      ): Promise<{ pack?: PackedBody["location"]; encoding?: BodyEncoding }> => {
        if (!packing || !inPack(key.mailboxId, kind, sha256, size)) {
          const encoding = await standaloneEncoding(kind, sha256, size);
          return encoding ? { encoding } : {};
        }
        const packed = located.get(knownKey(kind, sha256));
        if (!packed)
          throw new PackWriteError(
            `content ${sha256} (${kind}, ${size} bytes): expected it in a written pack of mailbox ${key.mailboxId}, found it lost (its pack could not be written); it is stored again`,
          );
        return { pack: packed.location, ...(packed.encoding ? { encoding: packed.encoding } : {}) };
      };
      const lines = await Promise.all(
        entries.map(async (e) => {
          if (e.kind !== "upsert") return e;
          const content = itemContentOf(e);
          const body = await place(content.content === "export" ? "export" : "mime", e.sha256, e.size);
          const exportBody = content.export
            ? await place("export", content.export.sha256, content.export.size)
            : {};
          return {
            kind: "upsert" as const,
            messageId: e.messageId,
            folderId: e.folderId,
            sha256: e.sha256,
            size: e.size,
            ...body,
            ...(typeof e.meta.changeKey === "string" ? { changeKey: e.meta.changeKey } : {}),
            meta: catalogMeta(e.meta),
            ...content,
            ...(content.export ? { export: { ...content.export, ...exportBody } } : {}),
          };
        }),
      );
      await writeCatalogPart(store, key, lines);
    },
    recordFolders(jobId, mailboxId, folders, opts) {
      return writeFolders(
        store,
        mailboxId,
        jobId,
        folders.map((f) => ({
          folderId: f.id,
          parentId: f.parentFolderId,
          path: f.path,
          displayName: f.displayName,
          ...(f.isSearchFolder ? { searchFolder: true } : {}),
          ...(f.mailbox ? { mailbox: f.mailbox } : {}),
          ...(f.folderClass ? { class: f.folderClass } : {}),
        })),
        opts,
      );
    },
    async writeReport(report, paging) {
      await writeReport(store, report.jobId, report, { pagedLists: paging?.pagedLists ?? [] });
    },
    async writeManifest(report) {
      await writeManifest(store, report);
    },
    async readReport<T>(jobId: string) {
      return (await readReport<T>(store, jobId))?.report;
    },
    async readReportSummary<T>(jobId: string) {
      return (await readReportSummary<T>(store, jobId))?.report;
    },
    writeReportPages: (jobId, list, firstPart, entries) =>
      writeReportPages(store, jobId, list, firstPart, entries),
    async writeReportSummary(summary, pages) {
      await writeReportSummary(store, summary.jobId, summary, pages);
    },
    writeManifestPages: (jobId, firstPart, mailboxes) =>
      writeManifestPages(store, jobId, firstPart, mailboxes),
    async writeManifestSummary(source, mailboxPages) {
      await writeManifestSummary(store, source, mailboxPages);
    },
  };
}

/**
 * Reads a body up to `limit` bytes: the whole body when it is smaller, else a stream that gives
 * the bytes read so far and then the rest (nothing is read twice, memory stays bounded).
 */
async function readUpTo(
  body: Readable | Buffer,
  limit: number,
): Promise<{ whole: Buffer; stream?: undefined } | { whole?: undefined; stream: Readable }> {
  if (Buffer.isBuffer(body)) return body.length < limit ? { whole: body } : { stream: Readable.from([body]) };
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const held: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { whole: Buffer.concat(held) };
    const chunk = typeof next.value === "string" ? Buffer.from(next.value) : Buffer.from(next.value);
    held.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* held;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield typeof next.value === "string" ? Buffer.from(next.value) : (next.value as Buffer);
    }
  }
  return { stream: Readable.from(rest()) };
}
