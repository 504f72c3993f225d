/**
 * What every delta endpoint shares (messages, mailbox items, mailbox folders): opaque
 * `$skiptoken`/`$deltatoken` links that carry the store's cursor and the first request's query
 * options, the page size from `Prefer: odata.maxpagesize`, and 410 `SyncStateNotFound` with a
 * `Location` to start over from.
 */

import { memoByObject } from "../../memo.js";
import type { DeltaCursor } from "../../model.js";
import { graphError, jsonResponse, MailErrors, type SimRequest, type SimResponse } from "../graph-types.js";

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 1000;

export interface DeltaToken {
  cursor: DeltaCursor;
  options: Record<string, string>;
}

/**
 * The JSON of a round's options, by options object: a round's options are the first request's
 * (the same object for every first request of the same query, see {@link roundOptions}) and a
 * backup's item delta carries 1.8 KB of them (its `$expand`) in every link it is given.
 */
const optionsJson = memoByObject((options: Record<string, string>) => JSON.stringify(options));

function encodeToken(token: DeltaToken): string {
  const options = optionsJson(token.options);
  // Byte for byte JSON.stringify(token): {"cursor":…,"options":…}.
  return Buffer.from(`{"cursor":${JSON.stringify(token.cursor)},"options":${options}}`).toString("base64url");
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

/**
 * The token of a follow-up request (`$skiptoken`/`$deltatoken`), `null` on a first request, or
 * a 400 answer for a token this service did not issue.
 */
export function tokenOf(req: SimRequest): DeltaToken | null | SimResponse {
  const raw = req.query.get("$skiptoken") ?? req.query.get("$deltatoken");
  if (raw === null) return null;
  return (
    decodeToken(raw) ??
    MailErrors.badRequest(req, `The delta token '${raw.slice(0, 40)}…' is not a token this service issued.`)
  );
}

/**
 * A first request's round options, by its query (requests of the same query text share one
 * parsed query, see server/index.ts) and the names carried. Frozen: they are shared.
 */
const firstOptions = new WeakMap<URLSearchParams, Map<string, Readonly<Record<string, string>>>>();

/**
 * The options of the round: the token's, or those of `names` the first request gave (shared
 * between requests of the same query: read-only).
 */
export function roundOptions(
  req: SimRequest,
  token: DeltaToken | null,
  names: readonly string[],
): Readonly<Record<string, string>> {
  if (token) return token.options;
  let byNames = firstOptions.get(req.query);
  if (byNames === undefined) {
    byNames = new Map();
    firstOptions.set(req.query, byNames);
  }
  const key = names.join("\u0000");
  let options = byNames.get(key);
  if (options === undefined) {
    options = Object.freeze(
      Object.fromEntries(names.flatMap((k) => (req.query.has(k) ? [[k, req.query.get(k) ?? ""]] : []))),
    );
    byNames.set(key, options);
  }
  return options;
}

/** The query of a round's options (as its items' JSON reads them), made once per options object. */
export const queryOfOptions: (options: Readonly<Record<string, string>>) => URLSearchParams = memoByObject(
  (options) => new URLSearchParams(options),
);

function withQuery(path: string, options: Record<string, string>): string {
  const query = new URLSearchParams(options);
  return query.size > 0 ? `${path}?${query.toString().replace(/%24/g, "$")}` : path;
}

/** 410 SyncStateNotFound, with the round's first request (its options included) in `Location`. */
export function syncStateGone(
  req: SimRequest,
  deltaPath: string,
  options: Record<string, string>,
  generation: number,
): SimResponse {
  const initial = withQuery(deltaPath, options);
  return graphError(
    req,
    410,
    "SyncStateNotFound",
    `The sync state generation is not found; generation=${generation}; resync is required from ${initial}.`,
    { location: initial },
  );
}

/** A delta page: `value`, and `@odata.nextLink` (more to come) or `@odata.deltaLink` (round done). */
export function deltaPage(
  context: string,
  deltaPath: string,
  value: unknown[],
  next: { cursor: DeltaCursor; done: boolean; options: Record<string, string> },
  pageSize: number,
): SimResponse {
  const token = encodeToken({ cursor: next.cursor, options: next.options });
  const link = next.done
    ? { "@odata.deltaLink": `${deltaPath}?$deltatoken=${token}` }
    : { "@odata.nextLink": `${deltaPath}?$skiptoken=${token}` };
  return jsonResponse(
    200,
    { "@odata.context": context, value, ...link },
    { "preference-applied": `odata.maxpagesize=${pageSize}` },
  );
}

/** 404 for a delta request whose folder is gone: `ErrorSyncFolderNotFound` for a follow-up, item-not-found for a first request. */
export function deltaFolderMissing(req: SimRequest, followUp: boolean): SimResponse {
  return followUp
    ? graphError(req, 404, "ErrorSyncFolderNotFound", "The sync folder was not found.")
    : MailErrors.itemNotFound(req);
}
