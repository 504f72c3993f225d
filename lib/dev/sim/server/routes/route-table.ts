/**
 * Which handler answers which request: the mailbox routes below `/users/{id|upn}` and below
 * `/admin/exchange/mailboxes/{mailboxId}` (the import/export API). Segment names are
 * case-insensitive, as in Graph.
 */
import type { RouteHandler } from "./context.js";
import { messagesDelta } from "./delta.js";
import { getMailboxSettings } from "./directory.js";
import {
  createChildFolder,
  createRootFolder,
  getFolder,
  listChildFolders,
  listRootFolders,
} from "./folders.js";
import {
  createMailboxChildFolder,
  createMailboxFolder,
  deleteMailboxFolder,
  getMailboxFolder,
  listMailboxChildFolders,
  listMailboxFolders,
  mailboxChildFoldersDelta,
  mailboxFoldersDelta,
  updateMailboxFolder,
} from "./mailbox-api/folders.js";
import {
  deleteMailboxItem,
  getMailboxItem,
  listMailboxItems,
  mailboxItemsDelta,
} from "./mailbox-api/items.js";
import { createImportSession, exportItems, getExchangeSettings } from "./mailbox-api/transfer.js";
import {
  addAttachment,
  createMessage,
  getAttachment,
  getAttachmentContent,
  getMessage,
  getMessageMime,
  listAttachments,
  listFolderMessages,
  patchMessage,
  permanentlyDeleteMessage,
} from "./messages.js";
import { createUploadSession } from "./upload-session.js";

export interface MailboxRoute {
  method: string;
  /** Matched against the path after the mailbox segment; captures are the route's params. */
  pattern: RegExp;
  handler: RouteHandler;
  /**
   * The first param names a folder: in a main archive, a folder whose content an auto-expanding
   * archive moved answers 308 to the same path in the auxiliary mailbox.
   */
  folderScoped?: true;
  /**
   * The item kind the request is made for, in the requests-by-kind statistics: that of the folder
   * its first param names, mail (a message's endpoints), or those of the items an export carries.
   * Without it the request is overhead.
   */
  itemKind?: "folder" | "mail" | "export";
  /** Changes nothing though not a GET (`exportItems`): answered like a read (see pipeline.ts). */
  readOnly?: true;
}

const SEG = "([^/]+)";
/** Mailbox routes, below `/users/{id|upn}`. Segment names are case-insensitive as in Graph. */
export const USER_ROUTES: MailboxRoute[] = [
  { method: "GET", pattern: /^\/mailboxSettings$/i, handler: getMailboxSettings },
  { method: "GET", pattern: /^\/settings\/exchange$/i, handler: getExchangeSettings },
  { method: "GET", pattern: /^\/mailFolders$/i, handler: listRootFolders },
  { method: "POST", pattern: /^\/mailFolders$/i, handler: createRootFolder },
  { method: "GET", pattern: new RegExp(`^/mailFolders/${SEG}$`, "i"), handler: getFolder },
  {
    method: "GET",
    pattern: new RegExp(`^/mailFolders/${SEG}/childFolders$`, "i"),
    handler: listChildFolders,
  },
  {
    method: "POST",
    pattern: new RegExp(`^/mailFolders/${SEG}/childFolders$`, "i"),
    handler: createChildFolder,
  },
  {
    method: "GET",
    pattern: new RegExp(`^/mailFolders/${SEG}/messages/delta(?:\\(\\))?$`, "i"),
    handler: messagesDelta,
    itemKind: "folder",
  },
  {
    method: "GET",
    pattern: new RegExp(`^/mailFolders/${SEG}/messages$`, "i"),
    handler: listFolderMessages,
    itemKind: "folder",
  },
  { method: "POST", pattern: new RegExp(`^/mailFolders/${SEG}/messages$`, "i"), handler: createMessage },
  { method: "GET", pattern: new RegExp(`^/messages/${SEG}$`, "i"), handler: getMessage, itemKind: "mail" },
  { method: "PATCH", pattern: new RegExp(`^/messages/${SEG}$`, "i"), handler: patchMessage },
  {
    method: "GET",
    pattern: new RegExp(`^/messages/${SEG}/\\$value$`, "i"),
    handler: getMessageMime,
    itemKind: "mail",
  },
  {
    method: "GET",
    pattern: new RegExp(`^/messages/${SEG}/attachments$`, "i"),
    handler: listAttachments,
    itemKind: "mail",
  },
  { method: "POST", pattern: new RegExp(`^/messages/${SEG}/attachments$`, "i"), handler: addAttachment },
  {
    method: "POST",
    pattern: new RegExp(`^/messages/${SEG}/attachments/createUploadSession$`, "i"),
    handler: createUploadSession,
  },
  {
    method: "POST",
    pattern: new RegExp(`^/messages/${SEG}/permanentDelete$`, "i"),
    handler: permanentlyDeleteMessage,
  },
  {
    method: "GET",
    pattern: new RegExp(`^/messages/${SEG}/attachments/${SEG}$`, "i"),
    handler: getAttachment,
    itemKind: "mail",
  },
  {
    method: "GET",
    pattern: new RegExp(`^/messages/${SEG}/attachments/${SEG}/\\$value$`, "i"),
    handler: getAttachmentContent,
    itemKind: "mail",
  },
];

const F = `^/folders/${SEG}`;
/** Import/export API routes, below `/admin/exchange/mailboxes/{mailboxId}`. */
export const MAILBOX_API_ROUTES: MailboxRoute[] = [
  { method: "GET", pattern: /^\/folders$/i, handler: listMailboxFolders },
  { method: "POST", pattern: /^\/folders$/i, handler: createMailboxFolder },
  { method: "GET", pattern: /^\/folders\/delta(?:\(\))?$/i, handler: mailboxFoldersDelta },
  { method: "POST", pattern: /^\/exportItems$/i, handler: exportItems, itemKind: "export", readOnly: true },
  { method: "POST", pattern: /^\/createImportSession$/i, handler: createImportSession },
  { method: "GET", pattern: new RegExp(`${F}$`, "i"), handler: getMailboxFolder, folderScoped: true },
  { method: "PATCH", pattern: new RegExp(`${F}$`, "i"), handler: updateMailboxFolder, folderScoped: true },
  { method: "DELETE", pattern: new RegExp(`${F}$`, "i"), handler: deleteMailboxFolder, folderScoped: true },
  {
    method: "GET",
    pattern: new RegExp(`${F}/childFolders$`, "i"),
    handler: listMailboxChildFolders,
    folderScoped: true,
  },
  {
    method: "POST",
    pattern: new RegExp(`${F}/childFolders$`, "i"),
    handler: createMailboxChildFolder,
    folderScoped: true,
  },
  {
    method: "GET",
    pattern: new RegExp(`${F}/childFolders/delta(?:\\(\\))?$`, "i"),
    handler: mailboxChildFoldersDelta,
    folderScoped: true,
  },
  {
    method: "GET",
    pattern: new RegExp(`${F}/items$`, "i"),
    handler: listMailboxItems,
    folderScoped: true,
    itemKind: "folder",
  },
  {
    method: "GET",
    pattern: new RegExp(`${F}/items/delta(?:\\(\\))?$`, "i"),
    handler: mailboxItemsDelta,
    folderScoped: true,
    itemKind: "folder",
  },
  {
    method: "GET",
    pattern: new RegExp(`${F}/items/${SEG}$`, "i"),
    handler: getMailboxItem,
    folderScoped: true,
    itemKind: "folder",
  },
  {
    method: "DELETE",
    pattern: new RegExp(`${F}/items/${SEG}$`, "i"),
    handler: deleteMailboxItem,
    folderScoped: true,
  },
];

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The route for `method` and `rest`, with its decoded params; "method" when only the method is wrong. */
export function findRoute(
  routes: MailboxRoute[],
  method: string,
  rest: string,
): { route: MailboxRoute; params: string[] } | "method" | undefined {
  let pathMatched = false;
  for (const r of routes) {
    const match = r.pattern.exec(rest);
    if (!match) continue;
    pathMatched = true;
    if (r.method === method) return { route: r, params: match.slice(1).map(safeDecode) };
  }
  return pathMatched ? "method" : undefined;
}
