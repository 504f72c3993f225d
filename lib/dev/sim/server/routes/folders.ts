/** Folder listing, lookup and creation: `/mailFolders`, `/mailFolders/{id}`, `/childFolders`. */
import { isMailFolder } from "../../model.js";
import { graphError, jsonResponse, MailErrors } from "../graph-types.js";
import { folderJson } from "../representations.js";
import { parseTop, type RouteHandler, type RouteInput, withPosition } from "./context.js";

const FOLDERS_DEFAULT_PAGE = 10;
const FOLDERS_MAX_PAGE = 1000;

function listFolders(input: RouteInput, parentId: string, linkPath: string) {
  const { ctx, req, user } = input;
  const includeHidden = req.query.get("includeHiddenFolders")?.toLowerCase() === "true";
  const top = parseTop(req.query) ?? FOLDERS_DEFAULT_PAGE;
  const skip = Number(req.query.get("$skip") ?? "0");
  if (!Number.isInteger(top) || top < 1 || top > FOLDERS_MAX_PAGE || !Number.isInteger(skip) || skip < 0) {
    return MailErrors.badRequest(
      req,
      `Expected $top in 1..${FOLDERS_MAX_PAGE} and $skip ≥ 0, found $top=${req.query.get("$top")}, $skip=${req.query.get("$skip")}.`,
    );
  }
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
