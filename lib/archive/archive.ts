/**
 * The archive as the pipeline sees it: one object that binds an {@link ObjectStore} to the
 * ports of lib/backup (unit backup, coordinator, finalization). Structural types only, so the
 * archive does not depend on the pipeline's modules.
 */
import type { Readable } from "node:stream";
import { type StoredMime, type StoreMimeOptions, storeMime } from "./blobs.js";
import { writeCatalogPart, writeFolders } from "./catalog.js";
import { type ManifestSource, writeManifest } from "./manifest.js";
import { writeReport } from "./reports.js";
import type { ObjectStore } from "./store.js";

/** A catalog line as the unit backup produces it (lib/backup/ports.ts `CatalogEntry`). */
export type PipelineCatalogEntry =
  | { kind: "folder-reset"; folderId: string }
  | {
      kind: "upsert";
      messageId: string;
      folderId: string;
      sha256: string;
      size: number;
      meta: { id: string; changeKey?: string; [property: string]: unknown };
    }
  | { kind: "removed"; messageId: string; folderId: string };

export interface Archive {
  readonly store: ObjectStore;
  storeMime(stream: Readable): Promise<StoredMime>;
  writeCatalogPart(
    key: { jobId: string; mailboxId: string; folderId: string; unit: number; page: number },
    entries: readonly PipelineCatalogEntry[],
  ): Promise<void>;
  /** The mailbox's folder tree for this job (coordinator `recordFolders`). */
  recordFolders(
    jobId: string,
    mailboxId: string,
    folders: ReadonlyArray<{ id: string; parentFolderId: string; path: string; displayName: string }>,
  ): Promise<void>;
  writeReport(report: { jobId: string }): Promise<void>;
  writeManifest(report: ManifestSource): Promise<void>;
}

export function createArchive(store: ObjectStore, opts: StoreMimeOptions = {}): Archive {
  return {
    store,
    storeMime: (stream) => storeMime(store, stream, opts),
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
                meta: e.meta,
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
        })),
      );
    },
    async writeReport(report) {
      await writeReport(store, report.jobId, report);
    },
    async writeManifest(report) {
      await writeManifest(store, report);
    },
  };
}
