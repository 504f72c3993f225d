/**
 * The folder trees of a user's mailboxes through the mailbox import/export API: which mailboxes
 * the user has (`/users/{id}/settings/exchange`: the primary mailbox and the in-place archive),
 * and every folder of every class of one of them (`…/mailboxes/{id}/folders/delta`).
 *
 * A tree is read as one initial round of folder delta with pages of 1000 folders: a tree of up
 * to 1000 folders costs one request, unchanged or not, and its item counts are fresh (an
 * incremental folder round reports renamed, added and removed folders only, never a changed item
 * count, which the planner needs). So no folder delta link is kept between jobs.
 */
import { type BatchGetAcrossOptions, batchGetAcross } from "./batch.js";
import type { GraphGateway } from "./client.js";

/** A user's mailboxes as the import/export API names them (`MBX:{guid}@{tenant}`). */
export interface ExchangeMailboxIds {
  primary: string;
  /** The in-place archive; absent for a user without one. */
  archive?: string;
}

/** Which of a user's mailboxes a folder is in. */
export type MailboxRole = "primary" | "archive";

/** One folder of a mailbox as the import/export API lists it. */
export interface MailboxFolder {
  id: string;
  parentFolderId: string;
  displayName: string;
  /** The folder class (`IPF.Note`, `IPF.Appointment`, `IPF.Contact`, `IPF.Task`, `IPF.StickyNote`, …). */
  folderClass: string;
  /** Items of every kind in the folder (for an expanded archive folder, in its auxiliary mailbox). */
  totalItemCount: number;
  childFolderCount: number;
  /** `inbox`, `calendar`, … in a primary mailbox; absent otherwise. */
  wellKnownName?: string;
}

/** A folder with its place in the tree. */
export interface MailboxFolderInfo extends MailboxFolder {
  /** Display names from the mailbox's top folders down, joined by "/". */
  path: string;
}

/** The class of mail folders; folders whose class starts with it (`IPF.Note.…`) hold mail too. */
export const MAIL_FOLDER_CLASS = "IPF.Note";

export function isMailFolderClass(folderClass: string): boolean {
  return folderClass === MAIL_FOLDER_CLASS || folderClass.startsWith(`${MAIL_FOLDER_CLASS}.`);
}

/** Folders per folder-delta page (`Prefer: odata.maxpagesize`): the most Graph takes. */
const TREE_PAGE_SIZE = 1000;

const FOLDER_FIELDS = [
  "id",
  "displayName",
  "parentFolderId",
  "childFolderCount",
  "totalItemCount",
  "wellKnownName",
  "type",
].join(",");

interface RawMailboxFolder {
  id: string;
  displayName?: string;
  parentFolderId?: string;
  childFolderCount?: number;
  totalItemCount?: number;
  wellKnownName?: string | null;
  type?: string;
  "@removed"?: unknown;
}

interface RawFolderPage {
  value?: RawMailboxFolder[];
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
}

/** The path of a mailbox in the import/export API (`/admin/exchange/mailboxes/{id}`). */
export function mailboxPath(mailboxId: string): string {
  return `/admin/exchange/mailboxes/${encodeURIComponent(mailboxId)}`;
}

interface ExchangeSettings {
  primaryMailboxId?: string;
  inPlaceArchiveMailboxId?: string | null;
}

function exchangeSettingsUrl(userId: string): string {
  return `/users/${encodeURIComponent(userId)}/settings/exchange`;
}

function toMailboxIds(userId: string, settings: ExchangeSettings): ExchangeMailboxIds {
  if (typeof settings.primaryMailboxId !== "string" || settings.primaryMailboxId === "") {
    throw new TypeError(
      `settings/exchange of user ${userId}: expected a primaryMailboxId, found ${JSON.stringify(settings.primaryMailboxId)}`,
    );
  }
  return {
    primary: settings.primaryMailboxId,
    ...(typeof settings.inPlaceArchiveMailboxId === "string" && settings.inPlaceArchiveMailboxId !== ""
      ? { archive: settings.inPlaceArchiveMailboxId }
      : {}),
  };
}

/** `GET /users/{id}/settings/exchange`: the user's primary mailbox id and in-place archive id. */
export async function exchangeMailboxIds(gateway: GraphGateway, userId: string): Promise<ExchangeMailboxIds> {
  const settings = await gateway.get<ExchangeSettings>(exchangeSettingsUrl(userId), { mailboxId: userId });
  return toMailboxIds(userId, settings);
}

/**
 * The mailbox ids of many users through `$batch` (each read counted against its own user's
 * mailbox, see {@link batchGetAcross}), in the order of `userIds`: each user's ids, or the error
 * {@link exchangeMailboxIds} would have thrown for that user. A failure of the call as a whole
 * (a batch that kept failing, a wait beyond the deadline) is thrown.
 */
export async function exchangeMailboxIdsOf(
  gateway: GraphGateway,
  userIds: readonly string[],
  options: BatchGetAcrossOptions = {},
): Promise<Array<ExchangeMailboxIds | Error>> {
  const answers = await batchGetAcross<ExchangeSettings>(
    gateway,
    userIds.map((userId) => ({ url: exchangeSettingsUrl(userId), mailboxId: userId })),
    options,
  );
  return answers.map((answer, i) => {
    if (answer.error) return answer.error;
    try {
      return toMailboxIds(userIds[i] as string, answer.body ?? {});
    } catch (error) {
      return error as Error;
    }
  });
}

export interface FolderTreeOptions {
  /**
   * The key the requests count against in the gateway's per-mailbox limits: the user id for the
   * primary mailbox (one budget whatever path names it), the `MBX:` id for an archive (a mailbox
   * of its own). Required.
   */
  trafficKey: string;
}

/**
 * Every folder of a mailbox (all classes, hidden and search folders included), parents before
 * children, with paths: one initial round of folder delta.
 */
export async function readFolderTree(
  gateway: GraphGateway,
  mailboxId: string,
  options: FolderTreeOptions,
): Promise<MailboxFolderInfo[]> {
  const folders = new Map<string, MailboxFolder>();
  let link: string | undefined = `${mailboxPath(mailboxId)}/folders/delta`;
  let query: Record<string, string> | undefined = { $select: FOLDER_FIELDS };
  while (link) {
    const page: RawFolderPage = await gateway.get<RawFolderPage>(link, {
      headers: { Prefer: `odata.maxpagesize=${TREE_PAGE_SIZE}` },
      ...(query ? { query } : {}),
      mailboxId: options.trafficKey,
    });
    query = undefined;
    for (const raw of page.value ?? []) {
      if (raw["@removed"]) folders.delete(raw.id);
      else folders.set(raw.id, toFolder(raw));
    }
    link = page["@odata.nextLink"];
  }
  return withPaths([...folders.values()]);
}

function toFolder(raw: RawMailboxFolder): MailboxFolder {
  return {
    id: raw.id,
    parentFolderId: raw.parentFolderId ?? "",
    displayName: raw.displayName ?? "",
    folderClass: raw.type || MAIL_FOLDER_CLASS,
    totalItemCount: raw.totalItemCount ?? 0,
    childFolderCount: raw.childFolderCount ?? 0,
    ...(raw.wellKnownName ? { wellKnownName: raw.wellKnownName } : {}),
  };
}

/**
 * Paths from the mailbox's top folders down (a folder whose parent is not in the tree is a top
 * folder: its parent is the mailbox root, which the API does not list), parents before
 * children, siblings by name. Pure: the discovery of a mailbox split into pieces can call it on
 * the folders it gathered.
 */
export function withPaths(folders: readonly MailboxFolder[]): MailboxFolderInfo[] {
  const byId = new Map(folders.map((f) => [f.id, f]));
  const children = new Map<string, MailboxFolder[]>();
  const tops: MailboxFolder[] = [];
  for (const f of folders) {
    if (byId.has(f.parentFolderId) && f.parentFolderId !== f.id) {
      const list = children.get(f.parentFolderId) ?? [];
      list.push(f);
      children.set(f.parentFolderId, list);
    } else tops.push(f);
  }
  const byName = (a: MailboxFolder, b: MailboxFolder) =>
    a.displayName < b.displayName ? -1 : a.displayName > b.displayName ? 1 : a.id < b.id ? -1 : 1;
  const out: MailboxFolderInfo[] = [];
  const seen = new Set<string>();
  const visit = (f: MailboxFolder, parentPath: string) => {
    if (seen.has(f.id)) return; // a cycle in a damaged answer: each folder once
    seen.add(f.id);
    const path = parentPath ? `${parentPath}/${f.displayName}` : f.displayName;
    out.push({ ...f, path });
    for (const c of [...(children.get(f.id) ?? [])].sort(byName)) visit(c, path);
  };
  for (const f of tops.sort(byName)) visit(f, "");
  // Folders only reachable through a cycle: listed as top folders rather than lost.
  for (const f of folders) if (!seen.has(f.id)) visit(f, "");
  return out;
}

/** Both folder trees of a user: the primary mailbox's and the in-place archive's (if any). */
export interface UserFolderTrees {
  mailboxIds: ExchangeMailboxIds;
  primary: MailboxFolderInfo[];
  archive: MailboxFolderInfo[];
}

/**
 * The user's mailbox ids (read unless given: discovery reads a page's in batches), then the
 * folder trees of the primary mailbox and the archive at once (each counts against its own
 * mailbox's limits): three requests for a user with an archive and trees under 1000 folders
 * each, two without.
 */
export async function readUserFolderTrees(
  gateway: GraphGateway,
  userId: string,
  knownIds?: ExchangeMailboxIds,
): Promise<UserFolderTrees> {
  const mailboxIds = knownIds ?? (await exchangeMailboxIds(gateway, userId));
  const [primary, archive] = await Promise.all([
    readFolderTree(gateway, mailboxIds.primary, { trafficKey: userId }),
    mailboxIds.archive
      ? readFolderTree(gateway, mailboxIds.archive, { trafficKey: archiveTrafficKey(mailboxIds.archive) })
      : Promise.resolve([]),
  ]);
  return { mailboxIds, primary, archive };
}

/**
 * The key an archive's requests count against in the gateway's per-mailbox limits: its own
 * (an archive is a mailbox with its own limits), lower-cased as ids are matched.
 */
export function archiveTrafficKey(archiveMailboxId: string): string {
  return archiveMailboxId.toLowerCase();
}
