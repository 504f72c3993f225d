/**
 * Puts archived items kept as export streams (every kind: events, contacts, lists, tasks, notes,
 * archive items, mail in content mode fidelity) back through the mailbox import/export API: the
 * target user's mailboxes get the folders by path (under a top folder, default `Restored <date>`,
 * with each folder's class) and each item is imported exactly as it was exported, every property
 * kept. A primary mailbox's folders go to the target's primary mailbox; an archive's to the
 * target's archive mailbox, or, when the target has none (or `archiveInto` says so), to its
 * primary mailbox under `In-Place Archive/`.
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
import { GraphRequestError } from "../graph/errors.js";
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
  /**
   * Where an archive mailbox's folders go: `archive` (default), the target's archive mailbox
   * when it has one, else its primary under `In-Place Archive/`; `primary`: always the latter.
   */
  archiveInto?: "archive" | "primary";
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

/** Shown before the paths of folders in the target's archive mailbox (plan lines, created folders). */
export const ARCHIVE_TARGET_PREFIX = "[archive] ";

/** One mailbox of the target user: its id and its folders by path. */
interface TargetMailbox {
  mailboxId: string;
  /** Prefix of paths shown to the user ("" for the primary mailbox). */
  shownAs: string;
  folderIds: Map<string, string | undefined>;
  existedBefore: Set<string>;
}

/** The mailbox a 409 of an import says the session must be of ("… expected in mailbox MBX:….") */
function sessionMailbox(error: GraphRequestError): string | undefined {
  return /expected in mailbox (MBX:[^\s]+?)\.?$/.exec(error.detail ?? "")?.[1];
}

/** Where a folder goes: the target mailbox and its path there (an archive's under `In-Place Archive/` in a primary). */
function placeFolder(
  folder: ImportFolder,
  targets: { primary: TargetMailbox; archive?: TargetMailbox },
  intoFolder: string | null,
): { target: TargetMailbox; path: string } {
  const toArchive = folder.mailbox === "archive" && targets.archive !== undefined;
  const path = folder.mailbox === "archive" && !toArchive ? `In-Place Archive/${folder.path}` : folder.path;
  return {
    target: toArchive ? targets.archive! : targets.primary,
    path: intoFolder === null ? path : `${intoFolder}/${path}`,
  };
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
  const ids = await exchangeMailboxIds(gateway, options.targetUser);
  // A primary mailbox's requests count against the user (one budget whatever path names it); any
  // other mailbox's against itself.
  const trafficKeyOf = (mailboxId: string) => (mailboxId === ids.primary ? options.targetUser : mailboxId);
  const mailbox = (mailboxId: string, shownAs: string): TargetMailbox => ({
    mailboxId,
    shownAs,
    folderIds: new Map(),
    existedBefore: new Set(),
  });
  const targets = {
    primary: mailbox(ids.primary, ""),
    ...(ids.archive !== undefined && (options.archiveInto ?? "archive") === "archive"
      ? { archive: mailbox(ids.archive, ARCHIVE_TARGET_PREFIX) }
      : {}),
  };
  const foldersCreated: string[] = [];
  /** The target folder of a path, created (with its class) along the way; undefined in a dry run when missing. */
  const resolve = async (
    target: TargetMailbox,
    path: string,
    leafClass: string,
  ): Promise<string | undefined> => {
    if (target.folderIds.has(path)) return target.folderIds.get(path);
    const cut = path.lastIndexOf("/");
    const parentPath = cut < 0 ? undefined : path.slice(0, cut);
    const name = cut < 0 ? path : path.slice(cut + 1);
    const parentId =
      parentPath === undefined ? null : await resolve(target, parentPath, classOfTarget(parentPath));
    let id: string | undefined;
    if (parentId === undefined) {
      // Dry run: the parent does not exist yet, so neither does this folder.
      foldersCreated.push(target.shownAs + path);
    } else if (dryRun) {
      id = (
        await findMailboxFolder(gateway, target.mailboxId, parentId, name, trafficKeyOf(target.mailboxId))
      )?.id;
      if (id === undefined) foldersCreated.push(target.shownAs + path);
      else target.existedBefore.add(path);
    } else {
      const ensured = await ensureMailboxFolder(
        gateway,
        target.mailboxId,
        parentId,
        name,
        leafClass,
        trafficKeyOf(target.mailboxId),
      );
      id = ensured.folder.id;
      if (ensured.created) foldersCreated.push(target.shownAs + path);
      else target.existedBefore.add(path);
    }
    target.folderIds.set(path, id);
    return id;
  };
  // A target path's class: the source folder's (the top folder and `In-Place Archive` hold mail).
  const classOfTarget = (path: string): string => {
    const source = stripTop(path, options.intoFolder);
    return source === undefined ? "IPF.Note" : (classOfPath.get(source) ?? "IPF.Note");
  };

  const sessions = new Map<string, ImportSession>();
  const sessionFor = async (mailboxId: string): Promise<ImportSession> => {
    let session = sessions.get(mailboxId);
    if (!session || session.expiresAt - Date.now() < 60_000) {
      session = await createImportSession(gateway, mailboxId, trafficKeyOf(mailboxId));
      sessions.set(mailboxId, session);
    }
    return session;
  };

  /**
   * Imports into a folder of the target mailbox. A folder of an auto-expanded archive keeps its
   * items in an auxiliary mailbox, whose own session the import needs: Exchange says so with a 409
   * naming the mailbox, and the folder's items go there through a session of that mailbox.
   */
  const itemsMailboxOf = new Map<string, string>();
  const importInto = async (target: TargetMailbox, folderId: string, data: Buffer) => {
    const home = itemsMailboxOf.get(folderId) ?? target.mailboxId;
    try {
      return await importItem(gateway, await sessionFor(home), folderId, data, trafficKeyOf(home));
    } catch (error) {
      const expected =
        error instanceof GraphRequestError && error.status === 409 ? sessionMailbox(error) : undefined;
      if (expected === undefined || expected === home) throw error;
      itemsMailboxOf.set(folderId, expected);
      return await importItem(gateway, await sessionFor(expected), folderId, data, trafficKeyOf(expected));
    }
  };

  const items: RestorePlanItem[] = [];
  const createdIds: Record<string, string> = {};
  const total = folders.reduce((n, f) => n + f.messages.filter((m) => !hasMime(m)).length, 0);
  let done = 0;
  for (const folder of folders) {
    const pending = folder.messages.filter((m) => !hasMime(m));
    if (pending.length === 0) continue;
    const { target, path } = placeFolder(folder, targets, options.intoFolder);
    const folderId = await resolve(target, path, folder.class ?? "IPF.Note");
    const present =
      folderId !== undefined && target.existedBefore.has(path)
        ? await exportedHashes(gateway, target.mailboxId, folderId, trafficKeyOf(target.mailboxId))
        : new Set<string>();
    for (const m of pending) {
      const skip = present.has(m.sha256);
      items.push({
        messageId: m.messageId,
        targetPath: target.shownAs + path,
        action: skip ? "skip-existing" : "create",
      });
      if (!skip && !dryRun && folderId !== undefined) {
        const data = await readAll(store, m);
        const created = await importInto(target, folderId, data);
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
