/** Folder listing, lookup and creation: `/mailFolders`, `/mailFolders/{id}`, `/childFolders`. */
import { isMailFolder } from "../../model.js";
import { graphError, jsonResponse, MailErrors } from "../graph-types.js";
import { folderJson } from "../representations.js";
import { pagingOf, type RouteHandler, type RouteInput, withPosition } from "./context.js";

function listFolders(input: RouteInput, parentId: string, linkPath: string) {
  const { ctx, req, user } = input;
  const includeHidden = req.query.get("includeHiddenFolders")?.toLowerCase() === "true";
  const paging = pagingOf(req);
  if ("status" in paging) return paging;
  const { top, skip } = paging;
  // Calendars, contacts, tasks and notes are no mail folders: only the import/export API lists them.
  const folders = ctx.store
    .listChildFolders(user.id, parentId)
    .filter((f) => isMailFolder(f) && (includeHidden || !f.isHidden));
  const page = folders.slice(skip, skip + top);
  const body: Record<string, unknown> = {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/mailFolders`,
    value: page.map((f) => folderJson(ctx.store, user.id, f, req.query, includeHidden)),
  };
  if (skip + top < folders.length) {
    body["@odata.nextLink"] =
      `${ctx.baseUrl}${linkPath}?${withPosition(req.query, "$skip", String(skip + top))}`;
  }
  return jsonResponse(200, body);
}

/** `GET /users/{id}/mailFolders`: the root's children, hidden ones only with `includeHiddenFolders=true`. */
export const listRootFolders: RouteHandler = (input) =>
  listFolders(input, input.ctx.store.rootFolderId(input.user.id), `/users/${input.user.id}/mailFolders`);

/** `GET /users/{id}/mailFolders/{id}/childFolders`. */
export const listChildFolders: RouteHandler = (input) => {
  const folder = input.ctx.store.getFolder(input.user.id, input.params[0] ?? "");
  if (!folder) return MailErrors.itemNotFound(input.req);
  return listFolders(input, folder.id, `/users/${input.user.id}/mailFolders/${folder.id}/childFolders`);
};

/** `GET /users/{id}/mailFolders/{id|wellKnownName}`. */
export const getFolder: RouteHandler = ({ ctx, req, params, user }) => {
  const folder = ctx.store.getFolder(user.id, params[0] ?? "");
  if (!folder) return MailErrors.itemNotFound(req);
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/mailFolders/$entity`,
    ...folderJson(ctx.store, user.id, folder, req.query, true),
  });
};

function createFolder(input: RouteInput, parentId: string | undefined) {
  const { ctx, req, user } = input;
  if (!parentId) return MailErrors.itemNotFound(req);
  const body = req.body as { displayName?: unknown; isHidden?: unknown } | undefined;
  const displayName = body?.displayName;
  if (typeof displayName !== "string" || displayName.trim() === "") {
    return MailErrors.badRequest(
      req,
      `Expected a JSON body with a non-empty string displayName, found ${JSON.stringify(displayName)}.`,
    );
  }
  const siblings = ctx.store.listChildFolders(user.id, parentId);
  if (siblings.some((f) => f.displayName.toLowerCase() === displayName.toLowerCase())) {
    return graphError(req, 409, "ErrorFolderExists", "A folder with the specified name already exists.");
  }
  const folder = ctx.store.addFolder(user.id, parentId, {
    displayName,
    isHidden: body?.isHidden === true,
    isSearchFolder: false,
  });
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/mailFolders/$entity`,
    ...folderJson(ctx.store, user.id, folder, new URLSearchParams(), true),
  });
}

/** `POST /users/{id}/mailFolders`: a new top-level folder. */
export const createRootFolder: RouteHandler = (input) =>
  createFolder(input, input.ctx.store.rootFolderId(input.user.id));

/** `POST /users/{id}/mailFolders/{id}/childFolders`. */
export const createChildFolder: RouteHandler = (input) =>
  createFolder(input, input.ctx.store.getFolder(input.user.id, input.params[0] ?? "")?.id);
