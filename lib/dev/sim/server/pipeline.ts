/**
 * The Graph request pipeline shared by HTTP requests and the inner requests of `$batch`:
 * route → mailbox → limits (429) → injected faults (5xx, 403) → mailbox checks (404) → latency →
 * handler. Authentication happens before (HTTP layer), so an inner request inherits its batch's app.
 */
import { SkipError } from "../../../errors.js";
import type { SimUser } from "../model.js";
import type { FaultState } from "./faults.js";
import { graphError, MailErrors, type SimRequest, type SimResponse } from "./graph-types.js";
import { type LatencyOptions, waitResponseDelay } from "./latency.js";
import type { MailboxLimiter } from "./limits.js";
import type { RouteContext, RouteHandler, RouteServices } from "./routes/context.js";
import { messagesDelta } from "./routes/delta.js";
import { getMailboxSettings, getUser, listMemberOf, listUsers } from "./routes/directory.js";
import {
  createChildFolder,
  createRootFolder,
  getFolder,
  listChildFolders,
  listRootFolders,
} from "./routes/folders.js";
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
} from "./routes/messages.js";
import { getMailboxUsageDetail } from "./routes/reports.js";
import { createUploadSession } from "./routes/upload-session.js";

interface MailboxRoute {
  method: string;
  /** Matched against the path after `/users/{user}`; captures are the route's params. */
  pattern: RegExp;
  handler: RouteHandler;
}

const SEG = "([^/]+)";
/** Mailbox routes, below `/users/{id|upn}`. Segment names are case-insensitive as in Graph. */
const MAILBOX_ROUTES: MailboxRoute[] = [
  { method: "GET", pattern: /^\/mailboxSettings$/i, handler: getMailboxSettings },
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
  },
  { method: "GET", pattern: new RegExp(`^/mailFolders/${SEG}/messages$`, "i"), handler: listFolderMessages },
  { method: "POST", pattern: new RegExp(`^/mailFolders/${SEG}/messages$`, "i"), handler: createMessage },
  { method: "GET", pattern: new RegExp(`^/messages/${SEG}$`, "i"), handler: getMessage },
  { method: "PATCH", pattern: new RegExp(`^/messages/${SEG}$`, "i"), handler: patchMessage },
  { method: "GET", pattern: new RegExp(`^/messages/${SEG}/\\$value$`, "i"), handler: getMessageMime },
  { method: "GET", pattern: new RegExp(`^/messages/${SEG}/attachments$`, "i"), handler: listAttachments },
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
  },
  {
    method: "GET",
    pattern: new RegExp(`^/messages/${SEG}/attachments/${SEG}/\\$value$`, "i"),
    handler: getAttachmentContent,
  },
];

export interface PipelineDeps {
  services: RouteServices;
  limiter: MailboxLimiter;
  faults: FaultState;
  latency: LatencyOptions | undefined;
}

/** The mailbox a request path names, and the key its limits and faults are kept under. */
export interface RouteTarget {
  /** The decoded `{user}` segment of `/users/{user}/…`. */
  segment: string;
  user: SimUser | undefined;
  /** Limits, statistics and faults are kept per this key: the user id when the user exists. */
  limitKey: string;
  /** The path after the mailbox segment. */
  rest: string;
}

/** The mailbox a path names (`/users/{user}/…`), keyed by user id when the user exists. */
export function targetOfPath(deps: Pick<PipelineDeps, "services">, path: string): RouteTarget | undefined {
  const match = /^\/users\/([^/]+)(\/.*)?$/i.exec(path);
  if (!match) return undefined;
  const segment = safeDecode(match[1] ?? "");
  const user = deps.services.store.getUser(segment);
  return { segment, user, limitKey: user?.id ?? segment.toLowerCase(), rest: match[2] ?? "" };
}

/** The route context of one request: the services plus where its links point. */
function contextOf(deps: PipelineDeps, req: SimRequest): RouteContext {
  return { ...deps.services, origin: req.origin, baseUrl: `${req.origin}/${req.apiVersion}` };
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
  if (!target) {
    const segment = req.path.split("/")[1] ?? "";
    return graphError(req, 400, "BadRequest", `Resource not found for the segment '${safeDecode(segment)}'.`);
  }
  if (target.rest === "" || target.rest === "/") {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    return getUser(ctx, req, target.segment);
  }
  const memberOf = /^\/(transitiveMemberOf|memberOf)\/?$/i.exec(target.rest);
  if (memberOf) {
    if (req.method !== "GET") return methodNotAllowed(req);
    await waitResponseDelay(deps.latency);
    const user = ctx.store.getUser(target.segment);
    return listMemberOf(ctx, req, target.segment, `/users/${user?.id ?? target.segment}/${memberOf[1]}`);
  }
  const found = findMailboxRoute(req.method, target.rest);
  if (found === "method") return methodNotAllowed(req);
  if (!found) {
    const segment = target.rest.split("/").filter(Boolean).pop() ?? "";
    return graphError(req, 400, "BadRequest", `Resource not found for the segment '${safeDecode(segment)}'.`);
  }
  const admission = deps.limiter.admit(req.clientId, target.limitKey);
  if (!admission.ok) {
    deps.limiter.noteRetryAfter(req.clientId, target.limitKey, admission.retryAfterSeconds, 429);
    return graphError(req, 429, admission.code, admission.message, {
      "retry-after": String(admission.retryAfterSeconds),
    });
  }
  let response: SimResponse;
  try {
    response = await runMailboxRoute(deps, ctx, req, target, found.handler, found.params);
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

async function runMailboxRoute(
  deps: PipelineDeps,
  ctx: RouteContext,
  req: SimRequest,
  target: RouteTarget,
  handler: RouteHandler,
  params: string[],
): Promise<SimResponse> {
  const fault = deps.faults.takeServerError(req.path, target.limitKey);
  if (fault) {
    await waitResponseDelay(deps.latency);
    const headers: Record<string, string> =
      fault.retryAfterSeconds !== undefined ? { "retry-after": String(fault.retryAfterSeconds) } : {};
    return fault.status === 503
      ? graphError(
          req,
          503,
          "ServiceUnavailable",
          "The service is temporarily unavailable. Please retry later.",
          headers,
        )
      : graphError(
          req,
          504,
          "GatewayTimeout",
          "The gateway did not receive a timely response from the upstream server.",
          headers,
        );
  }
  if (deps.faults.isDenied(target.limitKey)) return MailErrors.accessDenied(req);
  const user = target.user ?? ctx.store.getUser(target.segment);
  if (!user) return MailErrors.userNotFound(req, target.segment);
  if (!user.mailbox) return MailErrors.mailboxNotEnabled(req);
  await waitResponseDelay(deps.latency);
  // The user may have been removed while we waited (a mailbox removed mid-job).
  if (!ctx.store.getUser(user.id)) return MailErrors.userNotFound(req, target.segment);
  try {
    return await handler({ ctx, req, params, user });
  } catch (error) {
    // The store reports objects that vanished under a request (a folder or message deleted by a
    // concurrent mutation) as SkipError: Exchange answers that with "not found".
    if (error instanceof SkipError) return MailErrors.itemNotFound(req);
    throw error;
  }
}

function findMailboxRoute(
  method: string,
  rest: string,
): { handler: RouteHandler; params: string[] } | "method" | undefined {
  let pathMatched = false;
  for (const r of MAILBOX_ROUTES) {
    const match = r.pattern.exec(rest);
    if (!match) continue;
    pathMatched = true;
    if (r.method === method) return { handler: r.handler, params: match.slice(1).map(safeDecode) };
  }
  return pathMatched ? "method" : undefined;
}

function methodNotAllowed(req: SimRequest): SimResponse {
  return graphError(req, 405, "Request_BadRequest", `Method ${req.method} is not allowed on ${req.path}.`);
}
