/**
 * `GET /users/{id}/mailFolders/{id}/messages/delta`: pages of a folder's changes. The store owns
 * the change log and hands out a {@link DeltaCursor}; the server wraps it, together with the
 * query options of the first request, into opaque absolute `$skiptoken`/`$deltatoken` links.
 */
import type { DeltaEntry, TenantStore } from "../../model.js";
import { MailErrors } from "../graph-types.js";
import { messageJsonWithBodies } from "../message-bodies.js";
import type { RouteHandler } from "./context.js";
import {
  deltaFolderMissing,
  deltaPage,
  preferredPageSize,
  queryOfOptions,
  roundOptions,
  syncStateGone,
  tokenOf,
} from "./delta-links.js";

/** Query options of the first request that every later page keeps applying. */
const CARRIED_OPTIONS = ["$select", "$expand", "changeType"] as const;

function entryJson(
  store: TenantStore,
  entry: DeltaEntry,
  query: URLSearchParams,
  prefer: string | undefined,
): Promise<Record<string, unknown>> | Record<string, unknown> {
  if (entry.type === "removed") return { id: entry.id, "@removed": { reason: "deleted" } };
  return messageJsonWithBodies(store, entry.message, query, prefer);
}

/** What the malformed-delta-item fault adds to a page: a message with no id to fetch it by. */
const MALFORMED_ITEM: Record<string, unknown> = {
  "@odata.type": "#microsoft.graph.message",
  subject: "Malformed delta item (injected fault)",
};

export const messagesDelta: RouteHandler = async ({ ctx, req, params, user }) => {
  const folder = ctx.store.getFolder(user.id, params[0] ?? "");
  const token = tokenOf(req);
  if (token && "status" in token) return token;
  if (!folder) return deltaFolderMissing(req, token !== null);
  if (token && (token.cursor.mailboxId !== user.id || token.cursor.folderId !== folder.id)) {
    return MailErrors.badRequest(
      req,
      `The delta token belongs to folder ${token.cursor.folderId} of mailbox ${token.cursor.mailboxId}, not to folder ${folder.id} of mailbox ${user.id}.`,
    );
  }
  const options = roundOptions(req, token, CARRIED_OPTIONS);
  const deltaPath = `${ctx.baseUrl}/users/${user.id}/mailFolders/${folder.id}/messages/delta`;
  const gone = () => syncStateGone(req, deltaPath, options, token?.cursor.generation ?? 0);
  if (token && ctx.takeForcedGone(user.id, folder.id)) return gone();
  const pageSize = preferredPageSize(req);
  const result = ctx.store.delta(user.id, folder.id, token?.cursor ?? null, pageSize);
  if (!result.ok) {
    return result.reason === "SyncStateNotFound" ? gone() : deltaFolderMissing(req, true);
  }
  const changeType = options.changeType?.toLowerCase();
  const entries = result.page.entries.filter(
    (e) =>
      changeType === undefined || (changeType === "deleted" ? e.type === "removed" : e.type === "upsert"),
  );
  const optionQuery = queryOfOptions(options);
  const value = await Promise.all(
    entries.map((e) => entryJson(ctx.store, e, optionQuery, req.headers.prefer)),
  );
  if (ctx.takeMalformedDeltaItem(user.id, folder.id)) value.push(MALFORMED_ITEM);
  return deltaPage(
    `${ctx.baseUrl}/$metadata#Collection(message)`,
    deltaPath,
    value,
    { ...result.page, options },
    pageSize,
  );
};
