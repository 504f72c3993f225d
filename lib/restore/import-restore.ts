/**
 * Puts archived items kept as export streams (every kind: events, contacts, lists, tasks, notes,
 * archive items, mail in content mode fidelity) back through the mailbox import/export API: the
 * target user's primary mailbox gets the folders by path (under a top folder, default
 * `Restored <date>`, with each folder's class; an archive's folders under `In-Place Archive/`),
 * and each item is imported exactly as it was exported, every property kept.
 *
 * Idempotent: an item whose export stream a target folder already holds (an import gives back
 * the same stream when exported) is skipped, so running the same restore twice adds nothing.
 * Only folders that existed before the run are checked (exported once each, 20 items a request).
 */

import { createHash } from "node:crypto";
import { type BlobRef, readBlob } from "../archive/blobs.js";
import { hasMime } from "../archive/catalog.js";
import type { ObjectStore } from "../archive/store.js";
import type { SelectedFolder } from "../export/selection.js";
import type { GraphGateway } from "../graph/client.js";
import { EXPORT_BATCH_LIMIT, exportItems } from "../graph/export-items.js";
import {
  createImportSession,
  ensureMailboxFolder,
  findMailboxFolder,
  type ImportSession,
  importItem,
  listFolderItemIds,
} from "../graph/import-items.js";
import { exchangeMailboxIds } from "../graph/mailbox-folders.js";
import type { RestorePlanItem } from "./restore-run.js";

export interface ImportRestoreOptions {
  /** Target user (address or id) of the configured tenant: its primary mailbox gets the items. */
  targetUser: string;
  /** Top folder to restore under; `null`: into the original folder paths. */
  intoFolder: string | null;
  /** Only plan: create nothing. Default false. */
  dryRun?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ImportRestoreResult {
  created: number;
  skipped: number;
  foldersCreated: string[];
  items: RestorePlanItem[];
  /** New item id per archived item id (items created in this run). */
  createdIds: Record<string, string>;
}

/** The folders of a selection whose items are kept as export streams, with their class and mailbox. */
export interface ImportFolder extends SelectedFolder {
  class?: string;
  mailbox?: "primary" | "archive";
}

/** Where a folder goes in the target: its path, an archive's under `In-Place Archive/`. */
function targetPath(folder: ImportFolder, intoFolder: string | null): string {
  const path = folder.mailbox === "archive" ? `In-Place Archive/${folder.path}` : folder.path;
  return intoFolder === null ? path : `${intoFolder}/${path}`;
}

export async function restoreByImport(
  store: ObjectStore,
  gateway: GraphGateway,
  folders: readonly ImportFolder[],
  /** Folder classes by path in the source mailbox (parents of selected folders included). */
  classOfPath: ReadonlyMap<string, string>,
  options: ImportRestoreOptions,
): Promise<ImportRestoreResult> {
  const dryRun = options.dryRun ?? false;
  const target = await exchangeMailboxIds(gateway, options.targetUser);
  const trafficKey = options.targetUser;
  const foldersCreated: string[] = [];
  const folderIds = new Map<string, string | undefined>();
  const existedBefore = new Set<string>();
  /** The target folder of a path, created (with its class) along the way; undefined in a dry run when missing. */
  const resolve = async (path: string, leafClass: string): Promise<string | undefined> => {
    if (folderIds.has(path)) return folderIds.get(path);
    const cut = path.lastIndexOf("/");
    const parentPath = cut < 0 ? undefined : path.slice(0, cut);
    const name = cut < 0 ? path : path.slice(cut + 1);
    const parentId = parentPath === undefined ? null : await resolve(parentPath, classOfTarget(parentPath));
    let id: string | undefined;
    if (parentId === undefined) {
      // Dry run: the parent does not exist yet, so neither does this folder.
      foldersCreated.push(path);
    } else if (dryRun) {
      id = (await findMailboxFolder(gateway, target.primary, parentId, name, trafficKey))?.id;
      if (id === undefined) foldersCreated.push(path);
      else existedBefore.add(path);
    } else {
      const ensured = await ensureMailboxFolder(
        gateway,
        target.primary,
        parentId,
        name,
        leafClass,
        trafficKey,
      );
      id = ensured.folder.id;
      if (ensured.created) foldersCreated.push(path);
      else existedBefore.add(path);
    }
    folderIds.set(path, id);
    return id;
  };
  // A target path's class: the source folder's (the top folder and `In-Place Archive` hold mail).
  const classOfTarget = (path: string): string => {
    const source = stripTop(path, options.intoFolder);
    return source === undefined ? "IPF.Note" : (classOfPath.get(source) ?? "IPF.Note");
  };

  let session: ImportSession | undefined;
  const sessionNow = async () => {
    if (!session || session.expiresAt - Date.now() < 60_000) {
      session = await createImportSession(gateway, target.primary, trafficKey);
    }
    return session;
  };

  const items: RestorePlanItem[] = [];
  const createdIds: Record<string, string> = {};
  const total = folders.reduce((n, f) => n + f.messages.filter((m) => !hasMime(m)).length, 0);
  let done = 0;
  for (const folder of folders) {
    const pending = folder.messages.filter((m) => !hasMime(m));
    if (pending.length === 0) continue;
    const path = targetPath(folder, options.intoFolder);
    const folderId = await resolve(path, folder.class ?? "IPF.Note");
    const present =
      folderId !== undefined && existedBefore.has(path)
        ? await exportedHashes(gateway, target.primary, folderId, trafficKey)
        : new Set<string>();
    for (const m of pending) {
      const skip = present.has(m.sha256);
      items.push({ messageId: m.messageId, targetPath: path, action: skip ? "skip-existing" : "create" });
      if (!skip && !dryRun && folderId !== undefined) {
        const data = await readAll(store, m);
        const created = await importItem(gateway, await sessionNow(), folderId, data, trafficKey);
        createdIds[m.messageId] = created.itemId;
        present.add(m.sha256);
      }
      options.onProgress?.(++done, total);
    }
  }
  return {
    created: items.filter((i) => i.action === "create").length,
    skipped: items.filter((i) => i.action === "skip-existing").length,
    foldersCreated,
    items,
    createdIds,
  };
}

/** A target path without its top folder: the source path it stands for (undefined: the top itself). */
function stripTop(path: string, intoFolder: string | null): string | undefined {
  let rest: string | undefined = path;
  if (intoFolder !== null) rest = path === intoFolder ? undefined : path.slice(intoFolder.length + 1);
  if (rest === "In-Place Archive") return undefined;
  if (rest?.startsWith("In-Place Archive/")) rest = rest.slice("In-Place Archive/".length);
  return rest;
}

/** SHA-256 of the export stream of every item of a target folder. */
async function exportedHashes(
  gateway: GraphGateway,
  mailboxId: string,
  folderId: string,
  trafficKey: string,
): Promise<Set<string>> {
  const ids = await listFolderItemIds(gateway, mailboxId, folderId, trafficKey);
  const hashes = new Set<string>();
  for (let i = 0; i < ids.length; i += EXPORT_BATCH_LIMIT) {
    for (const answer of await exportItems(gateway, mailboxId, ids.slice(i, i + EXPORT_BATCH_LIMIT), {
      trafficKey,
    })) {
      if ("data" in answer) hashes.add(createHash("sha256").update(answer.data).digest("hex"));
    }
  }
  return hashes;
}

/** An item's export stream, from its own object or its pack, once its hash matched. */
async function readAll(store: ObjectStore, blob: BlobRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await readBlob(store, blob, { kind: "export", verify: true }))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
