/**
 * The Graph request pipeline shared by HTTP requests and the inner requests of `$batch`:
 * route → mailbox → limits (429) → injected faults (5xx, 403) → mailbox checks (404) → latency →
 * expanded-archive redirect (308) → handler. Authentication happens before (HTTP layer), so an
 * inner request inherits its batch's app.
 *
 * Mailboxes are named two ways: `/users/{id|upn}/…` (the user's primary mailbox) and
 * `/admin/exchange/mailboxes/{mailboxId}/…` (the import/export API: primary, archive, auxiliary
 * archive). Both are limited per app and mailbox; a primary mailbox has one budget under both.
 */
import { SkipError } from "../../../errors.js";
import type { SimMailbox, SimUser } from "../model.js";
import type { FaultState } from "./faults.js";
import {
  graphError,
  MailErrors,
  type SimRequest,
  type SimResponse,
  serverErrorResponse,
} from "./graph-types.js";
import { type LatencyOptions, waitResponseDelay } from "./latency.js";
import type { MailboxLimiter } from "./limits.js";
import { mailboxUrl } from "./mailbox-representations.js";
import { type ItemKind, kindOfFolderClass, kindOfItemClass, type RequestsByKind } from "./request-kinds.js";
import { limitKeyOf, type RouteContext, type RouteServices } from "./routes/context.js";
import { getUser, listMemberOf, listUsers } from "./routes/directory.js";
import { getMailboxUsageDetail } from "./routes/reports.js";
import { findRoute, MAILBOX_API_ROUTES, type MailboxRoute, USER_ROUTES } from "./routes/route-table.js";

export interface PipelineDeps {
  services: RouteServices;
  limiter: MailboxLimiter;
  faults: FaultState;
  latency: LatencyOptions | undefined;
  /** Where routed requests are attributed to item kinds (the statistics' `byKind`), if anywhere. */
  requestKinds?: RequestsByKind;
}

/** The mailbox a request path names, and the key its limits and faults are kept under. */
export interface RouteTarget {
  /** `/users/{user}/…` or `/admin/exchange/mailboxes/{mailboxId}/…`. */
  kind: "user" | "mailbox";
  /** The decoded mailbox segment. */
  segment: string;
  user: SimUser | undefined;
  /** The mailbox an `/admin/exchange/mailboxes/…` path names, if it exists. */
  mailbox: SimMailbox | undefined;
  /** Limits, statistics and faults are kept per this key: the user id for a primary mailbox. */
  limitKey: string;
  /** The path after the mailbox segment. */
  rest: string;
}

const MAILBOX_PATH = /^\/admin\/exchange\/mailboxes\/([^/]+)(\/.*)?$/i;

/** The mailbox a path names, keyed by user id when the user exists. */
export function targetOfPath(deps: Pick<PipelineDeps, "services">, path: string): RouteTarget | undefined {
  const { store } = deps.services;
  const user = /^\/users\/([^/]+)(\/.*)?$/i.exec(path);
  if (user) {
    const segment = safeDecode(user[1] ?? "");
    const found = store.getUser(segment);
    return {
      kind: "user",
      segment,
      user: found,
      mailbox: undefined,
      limitKey: found?.id ?? segment.toLowerCase(),
      rest: user[2] ?? "",
    };
  }
  const mailbox = MAILBOX_PATH.exec(path);
  if (!mailbox) return undefined;
  const segment = safeDecode(mailbox[1] ?? "");
  const found = store.getMailbox(segment);
  return {
    kind: "mailbox",
    segment,
    user: found ? store.getUser(found.userId) : undefined,
    mailbox: found,
    limitKey: found ? limitKeyOf(found) : segment.toLowerCase(),
    // Links may name entities the OData way: folders('id') is folders/id.
    rest: (mailbox[2] ?? "").replace(/\/(folders|childFolders|items)\('([^']*)'\)/gi, "/$1/$2"),
  };
}

/** The route context of one request: the services plus where its links point. */
function contextOf(deps: PipelineDeps, req: SimRequest): RouteContext {
  return {
    ...deps.services,
    origin: req.origin,
    baseUrl: `${req.origin}/${req.apiVersion}`,
    apiVersion: req.apiVersion,
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function retryAfterOf(response: SimResponse): number | undefined {
  const raw = response.headers["retry-after"];
  return raw === undefined ? undefined : Number(raw);
}

/** Runs one Graph request (already authenticated) and returns its answer. */
export async function executeGraphRequest(deps: PipelineDeps, req: SimRequest): Promise<SimResponse> {
  const response = await route(deps, req);
  const preferences: string[] = [];
  if (/IdType\s*=\s*"?ImmutableId"?/i.test(req.headers.prefer ?? ""))
    preferences.push('IdType="ImmutableId"');
  if (response.headers["preference-applied"]) preferences.push(response.headers["preference-applied"]);
  if (preferences.length > 0) response.headers["preference-applied"] = preferences.join(", ");
  return response;
}

function segmentNotFound(req: SimRequest, path: string): SimResponse {
  const segment = path.split("/").filter(Boolean).pop() ?? "";
  return graphError(req, 400, "BadRequest", `Resource not found for the segment '${safeDecode(segment)}'.`);
}

async function route(deps: PipelineDeps, req: SimRequest): Promise<SimResponse> {
  const ctx = contextOf(deps, req);
  if (/^\/users\/?$/i.test(req.path)) {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    return listUsers(ctx, req);
  }
  const report = /^\/reports\/getMailboxUsageDetail\(period\s*=\s*'([^']*)'\)$/i.exec(safeDecode(req.path));
  if (report) {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    return getMailboxUsageDetail(ctx, req, report[1] ?? "");
  }
  const target = targetOfPath(deps, req.path);
  if (!target) return segmentNotFound(req, `/${req.path.split("/")[1] ?? ""}`);
  if (target.kind === "user" && (target.rest === "" || target.rest === "/")) {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    return getUser(ctx, req, target.segment);
  }
  const memberOf = /^\/(transitiveMemberOf|memberOf)\/?$/i.exec(target.rest);
  if (target.kind === "user" && memberOf) {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    const user = ctx.store.getUser(target.segment);
    return listMemberOf(ctx, req, target.segment, `/users/${user?.id ?? target.segment}/${memberOf[1]}`);
  }
  const found = findRoute(target.kind === "user" ? USER_ROUTES : MAILBOX_API_ROUTES, req.method, target.rest);
  if (found === "method") return methodNotAllowed(req);
  if (!found) return segmentNotFound(req, target.rest);
  if (target.kind === "mailbox" && !target.mailbox) {
    return graphError(req, 404, "ErrorNonExistentMailbox", `The mailbox '${target.segment}' was not found.`);
  }
  deps.requestKinds?.count(itemKindsOf(ctx, req, target, found.route, found.params));
  const admission = deps.limiter.admit(req.clientId, target.limitKey, req.sentAfterMs);
  if (!admission.ok) {
    deps.limiter.noteRetryAfter(req.clientId, target.limitKey, admission.retryAfterSeconds, 429);
    return graphError(req, 429, admission.code, admission.message, {
      "retry-after": String(admission.retryAfterSeconds),
    });
  }
  let response: SimResponse;
  try {
    response = await runMailboxRoute(deps, ctx, req, target, found.route, found.params);
  } catch (error) {
    admission.release();
    throw error;
  }
  const retryAfter = retryAfterOf(response);
  if (retryAfter !== undefined)
    deps.limiter.noteRetryAfter(req.clientId, target.limitKey, retryAfter, response.status);
  if (response.stream) {
    response.release = admission.release;
  } else {
    admission.release();
  }
  return response;
}

/**
 * The kinds of the items a routed request is made for (see request-kinds.ts): one entry per item an
 * export carries (`undefined` for an id that names none), one entry otherwise; none for overhead.
 */
function itemKindsOf(
  ctx: RouteContext,
  req: SimRequest,
  target: RouteTarget,
  route: MailboxRoute,
  params: string[],
): Array<ItemKind | undefined> {
  const mailboxKey = target.mailbox?.id ?? target.user?.id;
  switch (route.itemKind) {
    case undefined:
      return [];
    case "mail":
      return ["mail"];
    case "folder": {
      const folder = mailboxKey ? ctx.store.getFolder(mailboxKey, params[0] ?? "") : undefined;
      return [folder ? kindOfFolderClass(folder.folderClass) : undefined];
    }
    case "export": {
      const ids = (req.body as { itemIds?: unknown } | undefined)?.itemIds;
      if (!Array.isArray(ids) || !mailboxKey) return [];
      return ids.map((id) => {
        const view = typeof id === "string" ? ctx.store.mailboxItem(mailboxKey, id) : undefined;
        return view ? kindOfItemClass(view.itemClass) : undefined;
      });
    }
  }
}

/**
 * 308 to the auxiliary archive for a folder whose content an auto-expanding archive moved there:
 * the same path and query, under the auxiliary mailbox's id.
 */
function expandedFolderRedirect(
  ctx: RouteContext,
  req: SimRequest,
  target: RouteTarget,
  mailbox: SimMailbox,
  folderId: string,
) {
  const home = ctx.store.folderHome(mailbox.id, folderId);
  if (!home || home.id === mailbox.id) return undefined;
  const query = req.query.toString().replace(/%24/g, "$");
  return {
    status: 308,
    headers: {
      location: `${mailboxUrl(ctx.baseUrl, home)}${target.rest}${query ? `?${query}` : ""}`,
      "content-length": "0",
    },
  };
}

async function runMailboxRoute(
  deps: PipelineDeps,
  ctx: RouteContext,
  req: SimRequest,
  target: RouteTarget,
  route: MailboxRoute,
  params: string[],
): Promise<SimResponse> {
  const fault = deps.faults.takeServerError(req.path, target.limitKey);
  if (fault) {
    await waitResponseDelay(deps.latency);
    return serverErrorResponse(req, fault);
  }
  const user = target.user ?? ctx.store.getUser(target.segment);
  if (deps.faults.isDenied(target.limitKey) || (user && deps.faults.isDenied(user.id))) {
    return MailErrors.accessDenied(req);
  }
  if (!user) return MailErrors.userNotFound(req, target.segment);
  if (!user.mailbox) return MailErrors.mailboxNotEnabled(req);
  /** The mailbox the request targets while its user and mailbox exist, else undefined. */
  const present = () => {
    const mailbox = target.mailbox ?? ctx.store.primaryMailbox(user.id);
    return !ctx.store.getUser(user.id) || !mailbox || !ctx.store.getMailbox(mailbox.id) ? undefined : mailbox;
  };
  const answer = async (mailbox: SimMailbox): Promise<SimResponse> => {
    if (route.folderScoped) {
      const redirect = expandedFolderRedirect(ctx, req, target, mailbox, params[0] ?? "");
      if (redirect) return redirect;
    }
    try {
      return await route.handler({ ctx, req, params, user, mailbox });
    } catch (error) {
      // The store reports objects that vanished under a request (a folder or message deleted by a
      // concurrent mutation) as SkipError: Exchange answers that with "not found".
      if (error instanceof SkipError) return MailErrors.itemNotFound(req);
      throw error;
    }
  };
  if (req.method === "GET" || route.readOnly) {
    // A read is answered from the mailbox as the request found it, and the modelled latency
    // counts from the request's arrival (from now for a batch's inner request): the simulator's
    // own work on the answer (reading its body, an export's 20 items, a page of 100, the JSON)
    // is part of the service's time, not added to it (a loaded simulator could otherwise hold
    // each export 0.1–0.3 s past the latency, which no client can do anything about).
    const found = present();
    if (!found) return MailErrors.userNotFound(req, target.segment);
    const delay = waitResponseDelay(deps.latency, req.arrivedAtMs);
    const response = await answer(found).catch(async (error: unknown) => {
      await delay;
      throw error;
    });
    // Encoded now, inside the latency: what is left when the delay ends is writing bytes (a
    // batch's inner answers are embedded as objects in its own).
    if (req.arrivedAtMs !== undefined) encodeAhead(response);
    await delay;
    // The user may have been removed while the answer waited (a mailbox removed mid-job).
    if (present()) return response;
    response.stream?.destroy();
    return MailErrors.userNotFound(req, target.segment);
  }
  await waitResponseDelay(deps.latency);
  // The user may have been removed while we waited (a mailbox removed mid-job).
  const mailbox = present();
  if (!mailbox) return MailErrors.userNotFound(req, target.segment);
  return answer(mailbox);
}

/** Encodes a JSON answer's body now (see {@link SimResponse.jsonBytes}); the object stays for a batch. */
function encodeAhead(response: SimResponse): void {
  if (response.json !== undefined && response.jsonBytes === undefined)
    response.jsonBytes = Buffer.from(JSON.stringify(response.json));
}

function methodNotAllowed(req: SimRequest): SimResponse {
  return graphError(req, 405, "Request_BadRequest", `Method ${req.method} is not allowed on ${req.path}.`);
}
