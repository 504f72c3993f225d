/** What every route handler gets: the tenant, where links point to, and the request's mailbox. */
import type { SimMailbox, SimUser, TenantStore } from "../../model.js";
import { MailErrors, type SimRequest, type SimResponse } from "../graph-types.js";
import type { ImportSessions } from "../import-sessions.js";
import type { Origins } from "../origins.js";
import type { ReportDownloads } from "../report-downloads.js";
import type { UploadSessions } from "../upload-sessions.js";

/** The simulator's services that routes use, the same for every request. */
export interface RouteServices {
  store: TenantStore;
  /** The host names served, for pre-authenticated URLs on another host. */
  origins: Origins;
  /** Extra delay per streamed MIME byte, nanoseconds. */
  perMimeByteNs: number;
  /** Answers 410 to the next delta request with a token on this folder when a forced fault is queued. */
  takeForcedGone(mailboxId: string, folderId: string): boolean;
  /** True when this delta page should carry an extra item without an id (a queued fault). */
  takeMalformedDeltaItem(mailboxId: string, folderId: string): boolean;
  /** Open attachment upload sessions (`createUploadSession` opens them). */
  uploads: UploadSessions;
  /** Usage report CSVs waiting for download. */
  reports: ReportDownloads;
  /** Open import sessions (`createImportSession` opens them). */
  imports: ImportSessions;
  /** Counts exported bytes for a mailbox (by its limits key). */
  noteExportBytes(limitKey: string, bytes: number): void;
}

/** {@link RouteServices} plus where this request came from. */
export interface RouteContext extends RouteServices {
  /** `https://host[:port]` as the client reached the simulator. */
  origin: string;
  /** `{origin}/v1.0` (or `/beta`): the prefix of every absolute Graph link in the answer. */
  baseUrl: string;
  /** `v1.0` or `beta`. */
  apiVersion: string;
}

/** A route's inputs: the request, the path parameters after `/users/{user}`, and the resolved user. */
export interface RouteInput {
  ctx: RouteContext;
  req: SimRequest;
  /** Decoded path segments captured by the route pattern (user segment excluded). */
  params: string[];
  /** The user the path names; mailbox routes only run for users with a mailbox. */
  user: SimUser;
  /** The mailbox: the one `/admin/exchange/mailboxes/{id}` names, the user's primary one for `/users/{id}`. */
  mailbox: SimMailbox;
}

export type RouteHandler = (input: RouteInput) => SimResponse | Promise<SimResponse>;

/** Page size from `$top`, within bounds; `undefined` when `$top` is absent. */
export function parseTop(query: URLSearchParams): number | undefined {
  const raw = query.get("$top");
  if (raw === null) return undefined;
  const top = Number(raw);
  return Number.isInteger(top) ? top : Number.NaN;
}

const DEFAULT_PAGE = 10;
const MAX_PAGE = 1000;

export interface Paging {
  top: number;
  skip: number;
}

/** `$top` (1–1000, default 10) and `$skip` (≥ 0) of a paged collection, or a 400 answer. */
export function pagingOf(req: SimRequest): Paging | SimResponse {
  const top = parseTop(req.query) ?? DEFAULT_PAGE;
  const skip = Number(req.query.get("$skip") ?? "0");
  if (!Number.isInteger(top) || top < 1 || top > MAX_PAGE || !Number.isInteger(skip) || skip < 0) {
    return MailErrors.badRequest(
      req,
      `Expected $top in 1..${MAX_PAGE} and $skip ≥ 0, found $top=${req.query.get("$top")}, $skip=${req.query.get("$skip")}.`,
    );
  }
  return { top, skip };
}

/** A copy of `query` for a nextLink: the same options with a new position. */
export function withPosition(query: URLSearchParams, name: string, value: string): string {
  const next = new URLSearchParams();
  for (const [k, v] of query) if (k !== name && k !== "$skip" && k !== "$skiptoken") next.append(k, v);
  next.set(name, value);
  // Graph spells the dollar signs literally in its links.
  return next.toString().replace(/%24/g, "$");
}

/**
 * The key a mailbox's limits, statistics and faults are kept under: the user id for a primary
 * mailbox (shared with `/users/{id}/…` requests), the mailbox id for an archive (a mailbox of
 * its own, with its own budget).
 */
export function limitKeyOf(mailbox: SimMailbox): string {
  return mailbox.kind === "primary" ? mailbox.userId : mailbox.id.toLowerCase();
}
