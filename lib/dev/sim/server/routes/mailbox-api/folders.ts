/**
 * Mailbox folders of the import/export API (`/admin/exchange/mailboxes/{id}/folders…`): list
 * (the root's children), child folders, get, create, rename, delete, and folder delta (of the
 * whole mailbox or of one folder's children). Folders of every class; `type` is the class.
 */
import type { SimFolder } from "../../../model.js";
import { graphError, jsonResponse, MailErrors, type SimResponse } from "../../graph-types.js";
import { mailboxFolderJson, mailboxUrl } from "../../mailbox-representations.js";
import type { RouteHandler, RouteInput } from "../context.js";
import {
  deltaFolderMissing,
  deltaPage,
  preferredPageSize,
  queryOfOptions,
  roundOptions,
  syncStateGone,
  tokenOf,
} from "../delta-links.js";
import { folderFilter, pageOf, pagingOf } from "./query.js";

function folderOf({ ctx, params, mailbox }: RouteInput): SimFolder | undefined {
  return ctx.store.getFolder(mailbox.id, params[0] ?? "");
}

/** A page of `parentId`'s children; `contextPath` names the collection as `@odata.context` does, `linkPath` as links do. */
function listFolders(
  input: RouteInput,
  parentId: string,
  contextPath: string,
  linkPath: string,
): SimResponse {
  const { ctx, req, mailbox } = input;
  const paging = pagingOf(req);
  if ("status" in paging) return paging;
  const filter = folderFilter(req);
  if ("status" in filter) return filter;
  const folders = ctx.store.listChildFolders(mailbox.id, parentId).filter(filter);
  const base = mailboxUrl(ctx.baseUrl, mailbox);
  return jsonResponse(
    200,
    pageOf(
      req,
      folders,
      paging,
      `${ctx.baseUrl}/$metadata#admin/exchange/mailboxes/${mailbox.id}${contextPath}`,
      `${base}${linkPath}`,
      (f) => mailboxFolderJson(ctx.store, ctx.baseUrl, mailbox, f, req.query),
    ),
  );
}

/** `GET …/folders`: the folders directly under the mailbox's root. */
export const listMailboxFolders: RouteHandler = (input) =>
  listFolders(input, input.ctx.store.rootFolderId(input.mailbox.id), "/folders", "/folders");

/** `GET …/folders/{id}/childFolders`. */
export const listMailboxChildFolders: RouteHandler = (input) => {
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(input.req);
  return listFolders(
    input,
    folder.id,
    `/folders('${folder.id}')/childFolders`,
    `/folders/${folder.id}/childFolders`,
  );
};

/** `GET …/folders/{id}`. */
export const getMailboxFolder: RouteHandler = (input) => {
  const { ctx, req, mailbox } = input;
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(req);
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#admin/exchange/mailboxes('${mailbox.id}')/folders/$entity`,
    ...mailboxFolderJson(ctx.store, ctx.baseUrl, mailbox, folder, req.query),
  });
};

function createFolder(input: RouteInput, parentId: string | undefined): SimResponse {
  const { ctx, req, mailbox } = input;
  if (!parentId) return MailErrors.itemNotFound(req);
  const body = req.body as { displayName?: unknown; type?: unknown } | undefined;
  const displayName = body?.displayName;
  const type = body?.type;
  if (
    typeof displayName !== "string" ||
    displayName.trim() === "" ||
    typeof type !== "string" ||
    !/^IPF(\.\w+)*$/.test(type)
  ) {
    return MailErrors.badRequest(
      req,
      `Expected a JSON body with displayName (a non-empty string) and type (a folder class such as "IPF.Note"), found ${JSON.stringify(req.body)?.slice(0, 120)}.`,
    );
  }
  const siblings = ctx.store.listChildFolders(mailbox.id, parentId);
  if (siblings.some((f) => f.displayName.toLowerCase() === displayName.toLowerCase())) {
    return graphError(req, 409, "ErrorFolderExists", "A folder with the specified name already exists.");
  }
  const folder = ctx.store.addFolder(mailbox.id, parentId, {
    displayName,
    isHidden: false,
    isSearchFolder: false,
    folderClass: type,
  });
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#admin/exchange/mailboxes('${mailbox.id}')/folders/$entity`,
    ...mailboxFolderJson(ctx.store, ctx.baseUrl, mailbox, folder, new URLSearchParams()),
  });
}

/** `POST …/folders` with `{displayName, type}`: a new folder under the root. */
export const createMailboxFolder: RouteHandler = (input) =>
  createFolder(input, input.ctx.store.rootFolderId(input.mailbox.id));

/** `POST …/folders/{id}/childFolders`. */
export const createMailboxChildFolder: RouteHandler = (input) => createFolder(input, folderOf(input)?.id);

/** `PATCH …/folders/{id}` with `{displayName}`. */
export const updateMailboxFolder: RouteHandler = (input) => {
  const { ctx, req, mailbox } = input;
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(req);
  const displayName = (req.body as { displayName?: unknown } | undefined)?.displayName;
  if (typeof displayName !== "string" || displayName.trim() === "") {
    return MailErrors.badRequest(
      req,
      `Expected a JSON body with a non-empty displayName, found ${JSON.stringify(req.body)}.`,
    );
  }
  ctx.store.renameFolder(mailbox.id, folder.id, displayName);
  return getMailboxFolder(input);
};

/** `DELETE …/folders/{id}`: the folder with its subfolders and items. */
export const deleteMailboxFolder: RouteHandler = (input) => {
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(input.req);
  if (folder.wellKnownName) {
    return graphError(
      input.req,
      403,
      "ErrorDeleteDistinguishedFolder",
      "Distinguished folders cannot be deleted.",
    );
  }
  input.ctx.store.deleteFolder(input.mailbox.id, folder.id);
  return { status: 204, headers: {} };
};

function folderDelta(input: RouteInput, scope: SimFolder | null): SimResponse {
  const { ctx, req, mailbox } = input;
  const token = tokenOf(req);
  if (token && "status" in token) return token;
  const scopeId = scope?.id ?? "";
  if (
    token &&
    (token.cursor.mailboxId.toLowerCase() !== mailbox.id.toLowerCase() || token.cursor.folderId !== scopeId)
  ) {
    return MailErrors.badRequest(req, "The delta token belongs to another folder collection.");
  }
  const options = roundOptions(req, token, ["$select"]);
  const path = scope ? `/folders/${scope.id}/childFolders/delta` : "/folders/delta";
  const deltaPath = `${mailboxUrl(ctx.baseUrl, mailbox)}${path}`;
  const pageSize = preferredPageSize(req);
  const result = ctx.store.folderDelta(mailbox.id, scope?.id ?? null, token?.cursor ?? null, pageSize);
  if (!result.ok) {
    return result.reason === "SyncStateNotFound"
      ? syncStateGone(req, deltaPath, options, token?.cursor.generation ?? 0)
      : deltaFolderMissing(req, true);
  }
  const query = queryOfOptions(options);
  const value = result.page.entries.map((e) =>
    e.type === "removed"
      ? { "@odata.type": "#microsoft.graph.mailboxFolder", id: e.id, "@removed": { reason: "deleted" } }
      : mailboxFolderJson(ctx.store, ctx.baseUrl, mailbox, e.value, query),
  );
  return deltaPage(
    `${ctx.baseUrl}/$metadata#Collection(mailboxFolder)`,
    deltaPath,
    value,
    { ...result.page, options },
    pageSize,
  );
}

/** `GET …/folders/delta`: changes of the whole folder hierarchy. */
export const mailboxFoldersDelta: RouteHandler = (input) => folderDelta(input, null);

/** `GET …/folders/{id}/childFolders/delta`: changes of one folder's children. */
export const mailboxChildFoldersDelta: RouteHandler = (input) => {
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(input.req);
  return folderDelta(input, folder);
};
