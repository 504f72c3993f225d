/**
 * The archive as the pipeline sees it: one object that binds an {@link ObjectStore} to the
 * ports of lib/backup (unit backup, coordinator, finalization). It takes the catalog lines in the
 * shape the port declares (lib/backup/ports.ts `CatalogEntry`) and writes them in the archive's
 * format (catalog.ts).
 */
import type { Readable } from "node:stream";
import type { BlobKind, CatalogEntry, CatalogPartKey } from "../backup/ports.js";
import { type StoreBlobOptions, type StoredBlob, storeBlob } from "./blobs.js";
import { writeCatalogPart, writeFolders } from "./catalog.js";
import { type ManifestSource, writeManifest } from "./manifest.js";
import { writeReport } from "./reports.js";
import type { ObjectStore } from "./store.js";

export interface Archive {
  readonly store: ObjectStore;
  /** Stores an item body (a message's MIME, an item's export stream) under its content address. */
  storeBlob(kind: BlobKind, body: Readable | Buffer): Promise<StoredBlob>;
  writeCatalogPart(key: CatalogPartKey, entries: readonly CatalogEntry[]): Promise<void>;
  /** The mailbox's folder tree for this job (coordinator `recordFolders`). */
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
  ): Promise<void>;
  /** `pagedLists`: the report's lists that may be stored in pages (reports.ts). */
  writeReport(report: { jobId: string }, paging?: { pagedLists: readonly string[] }): Promise<void>;
  writeManifest(report: ManifestSource): Promise<void>;
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

export function createArchive(store: ObjectStore, opts: StoreBlobOptions = {}): Archive {
  return {
    store,
    storeBlob: (kind, body) => storeBlob(store, kind, body, opts),
    async writeCatalogPart(key, entries) {
      await writeCatalogPart(
        store,
        key,
        entries.map((e) =>
          e.kind === "upsert"
            ? {
                kind: "upsert",
                messageId: e.messageId,
                folderId: e.folderId,
                sha256: e.sha256,
                size: e.size,
                ...(typeof e.meta.changeKey === "string" ? { changeKey: e.meta.changeKey } : {}),
                meta: catalogMeta(e.meta),
              }
            : e,
        ),
      );
    },
    async recordFolders(jobId, mailboxId, folders) {
      await writeFolders(
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
      );
    },
    async writeReport(report, paging) {
      await writeReport(store, report.jobId, report, { pagedLists: paging?.pagedLists ?? [] });
    },
    async writeManifest(report) {
      await writeManifest(store, report);
    },
  };
}
