/**
 * `GET /users/{id}/mailFolders/{id}/messages/delta`: pages of a folder's changes. The store owns
 * the change log and hands out a {@link DeltaCursor}; the server wraps it, together with the
 * query options of the first request, into opaque absolute `$skiptoken`/`$deltatoken` links.
 */
import type { DeltaCursor, DeltaEntry, TenantStore } from "../../model.js";
import { graphError, jsonResponse, MailErrors, type SimRequest } from "../graph-types.js";
import { messageJsonWithBodies } from "../message-bodies.js";
import type { RouteHandler } from "./context.js";

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 1000;
/** Query options of the first request that every later page keeps applying. */
const CARRIED_OPTIONS = ["$select", "$expand", "changeType"] as const;

interface DeltaToken {
  cursor: DeltaCursor;
  options: Record<string, string>;
}

function encodeToken(token: DeltaToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeToken(raw: string): DeltaToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as DeltaToken;
    if (typeof token?.cursor?.mailboxId !== "string" || typeof token.cursor.folderId !== "string")
      return undefined;
    return token;
  } catch {
    return undefined;
  }
}

/** `odata.maxpagesize=N` from the Prefer header(s), bounded; the default page is 10. */
export function preferredPageSize(req: SimRequest): number {
  const match = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(req.headers.prefer ?? "");
  if (!match) return DEFAULT_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Number(match[1])));
}

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
  const rawToken = req.query.get("$skiptoken") ?? req.query.get("$deltatoken");
  let token: DeltaToken | undefined;
  if (rawToken !== null) {
    token = decodeToken(rawToken);
    if (!token)
      return MailErrors.badRequest(
        req,
        `The delta token '${rawToken.slice(0, 40)}…' is not a token this service issued.`,
      );
  }
  if (!folder) {
    return token
      ? graphError(req, 404, "ErrorSyncFolderNotFound", "The sync folder was not found.")
      : MailErrors.itemNotFound(req);
  }
  if (token && (token.cursor.mailboxId !== user.id || token.cursor.folderId !== folder.id)) {
    return MailErrors.badRequest(
      req,
      `The delta token belongs to folder ${token.cursor.folderId} of mailbox ${token.cursor.mailboxId}, not to folder ${folder.id} of mailbox ${user.id}.`,
    );
  }
  const options: Record<string, string> = token
    ? token.options
    : Object.fromEntries(
        CARRIED_OPTIONS.flatMap((k) => (req.query.has(k) ? [[k, req.query.get(k) ?? ""]] : [])),
      );
  const deltaPath = `${ctx.baseUrl}/users/${user.id}/mailFolders/${folder.id}/messages/delta`;
  const optionQuery = new URLSearchParams(options);
  const gone = () => {
    const initial =
      optionQuery.size > 0 ? `${deltaPath}?${optionQuery.toString().replace(/%24/g, "$")}` : deltaPath;
    return graphError(
      req,
      410,
      "SyncStateNotFound",
      `The sync state generation is not found; generation=${token?.cursor.generation ?? 0}; resync is required from ${initial}.`,
      { location: initial },
    );
  };
  if (token && ctx.takeForcedGone(user.id, folder.id)) return gone();
  const pageSize = preferredPageSize(req);
  const result = ctx.store.delta(user.id, folder.id, token?.cursor ?? null, pageSize);
  if (!result.ok) {
    return result.reason === "SyncStateNotFound"
      ? gone()
      : graphError(req, 404, "ErrorSyncFolderNotFound", "The sync folder was not found.");
  }
  const changeType = options.changeType?.toLowerCase();
  const entries = result.page.entries.filter(
    (e) =>
      changeType === undefined || (changeType === "deleted" ? e.type === "removed" : e.type === "upsert"),
  );
  const value = await Promise.all(
    entries.map((e) => entryJson(ctx.store, e, optionQuery, req.headers.prefer)),
  );
  if (ctx.takeMalformedDeltaItem(user.id, folder.id)) value.push(MALFORMED_ITEM);
  const next = encodeToken({ cursor: result.page.cursor, options });
  const link = result.page.done
    ? { "@odata.deltaLink": `${deltaPath}?$deltatoken=${next}` }
    : { "@odata.nextLink": `${deltaPath}?$skiptoken=${next}` };
  return jsonResponse(
    200,
    {
      "@odata.context": `${ctx.baseUrl}/$metadata#Collection(message)`,
      value,
      ...link,
    },
    { "preference-applied": `odata.maxpagesize=${pageSize}` },
  );
};
