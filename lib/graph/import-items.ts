/**
 * Writes of the mailbox import/export API a restore needs: folders of a class
 * (`POST …/folders`, `…/childFolders`), the items of a folder (to tell what is there already),
 * and import sessions (`createImportSession`, then one POST per item to its pre-authenticated
 * `importUrl`, which recreates the exported item exactly). Creating is not idempotent: POSTs are
 * retried only after answers saying the service did not process them (429, 503).
 */
import type { GraphGateway } from "./client.js";
import { GraphRequestError } from "./errors.js";
import { mailboxPath } from "./mailbox-folders.js";

export interface ImportSession {
  importUrl: string;
  /** When the session's URL stops working (ms since the epoch). */
  expiresAt: number;
}

/** `POST …/mailboxes/{id}/createImportSession`: a pre-authenticated URL to import items with. */
export async function createImportSession(
  gateway: GraphGateway,
  mailboxId: string,
  trafficKey: string,
): Promise<ImportSession> {
  const answer = await gateway.post<{ importUrl?: string; expirationDateTime?: string }>(
    `${mailboxPath(mailboxId)}/createImportSession`,
    {},
    { mailboxId: trafficKey },
  );
  if (typeof answer.importUrl !== "string" || !/^https:\/\//.test(answer.importUrl)) {
    throw new TypeError(
      `createImportSession: expected an https importUrl, found ${JSON.stringify(answer.importUrl)}`,
    );
  }
  const expiresAt = Date.parse(answer.expirationDateTime ?? "");
  return {
    importUrl: answer.importUrl,
    expiresAt: Number.isNaN(expiresAt) ? Date.now() + 30 * 60_000 : expiresAt,
  };
}

/** Imports one item (its export stream) as a new item of the folder; its new id. */
export async function importItem(
  gateway: GraphGateway,
  session: ImportSession,
  folderId: string,
  data: Buffer,
  trafficKey: string,
): Promise<{ itemId: string; changeKey?: string }> {
  // The URL is not a Graph host: the client sends no bearer token there (the URL is the credential).
  const answer = await gateway.post<{ itemId?: string; changeKey?: string }>(
    session.importUrl,
    { FolderId: folderId, Mode: "create", Data: data.toString("base64") },
    { mailboxId: trafficKey },
  );
  if (typeof answer.itemId !== "string") {
    throw new TypeError(
      `importItem: expected the new item's id, found ${JSON.stringify(answer).slice(0, 200)}`,
    );
  }
  return { itemId: answer.itemId, ...(answer.changeKey ? { changeKey: answer.changeKey } : {}) };
}

export interface MailboxFolderRef {
  id: string;
  displayName: string;
}

/**
 * The folder named `displayName` under `parentId` (`null`: the mailbox's top), created with the
 * folder class `folderClass` when missing; `created` says which.
 */
export async function ensureMailboxFolder(
  gateway: GraphGateway,
  mailboxId: string,
  parentId: string | null,
  displayName: string,
  folderClass: string,
  trafficKey: string,
): Promise<{ folder: MailboxFolderRef; created: boolean }> {
  const base = childFoldersPath(mailboxId, parentId);
  const found = await findChild(gateway, base, displayName, trafficKey);
  if (found) return { folder: found, created: false };
  try {
    const folder = await gateway.post<MailboxFolderRef>(
      base,
      { displayName, type: folderClass },
      { mailboxId: trafficKey },
    );
    return { folder, created: true };
  } catch (error) {
    // Created meanwhile (a concurrent or earlier, unanswered request): use it.
    if (error instanceof GraphRequestError && error.status === 409) {
      const again = await findChild(gateway, base, displayName, trafficKey);
      if (again) return { folder: again, created: false };
    }
    throw error;
  }
}

/** The folders under `parentId` (`null`: the mailbox's top). */
function childFoldersPath(mailboxId: string, parentId: string | null): string {
  return parentId === null
    ? `${mailboxPath(mailboxId)}/folders`
    : `${mailboxPath(mailboxId)}/folders/${encodeURIComponent(parentId)}/childFolders`;
}

/** The folder named `displayName` under `parentId` (`null`: the mailbox's top), if any; creates nothing. */
export function findMailboxFolder(
  gateway: GraphGateway,
  mailboxId: string,
  parentId: string | null,
  displayName: string,
  trafficKey: string,
): Promise<MailboxFolderRef | undefined> {
  return findChild(gateway, childFoldersPath(mailboxId, parentId), displayName, trafficKey);
}

async function findChild(
  gateway: GraphGateway,
  base: string,
  displayName: string,
  trafficKey: string,
): Promise<MailboxFolderRef | undefined> {
  const page = await gateway.get<{ value?: MailboxFolderRef[] }>(base, {
    query: { $filter: `displayName eq '${displayName.replace(/'/g, "''")}'`, $select: "id,displayName" },
    mailboxId: trafficKey,
  });
  return page.value?.find((f) => f.displayName === displayName);
}

/** Ids of every item in a folder (`GET …/folders/{id}/items`, pages of 1000). */
export async function listFolderItemIds(
  gateway: GraphGateway,
  mailboxId: string,
  folderId: string,
  trafficKey: string,
): Promise<string[]> {
  const ids: string[] = [];
  let link: string | undefined = `${mailboxPath(mailboxId)}/folders/${encodeURIComponent(folderId)}/items`;
  let query: Record<string, string> | undefined = { $select: "id", $top: "1000" };
  while (link) {
    const page: { value?: Array<{ id: string }>; "@odata.nextLink"?: string } = await gateway.get(link, {
      ...(query ? { query } : {}),
      mailboxId: trafficKey,
    });
    query = undefined;
    for (const item of page.value ?? []) ids.push(item.id);
    link = page["@odata.nextLink"];
  }
  return ids;
}
