/**
 * Requests to pre-authenticated URLs: the token is in the URL, and a bearer token sent along is
 * refused (it is meant for another audience): attachment upload sessions
 * (`/api/v2.0/Users(…)/Messages(…)/AttachmentSessions(…)`), item import sessions
 * (`/api/gv1.0/Mailboxes(…)/importItem`) and usage report downloads (`/data/download/…`).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { lowerHeaders, readBodyWithin, sentAfterOf, writeResponse } from "./http-io.js";
import {
  type ImportRequestDeps,
  ImportSessions,
  MAX_IMPORT_BODY_BYTES,
  serveImportRequest,
} from "./import-sessions.js";
import { ReportDownloads } from "./report-downloads.js";
import type { StatsRecorder } from "./stats.js";
import { MAX_FRAGMENT_BYTES, serveUploadRequest, type UploadRequestDeps } from "./upload-sessions.js";

export interface PreauthenticatedDeps {
  uploads: UploadRequestDeps;
  imports: ImportRequestDeps;
  reports: ReportDownloads;
  stats: StatsRecorder;
}

/** True when `path` is one of the pre-authenticated endpoints. */
export function isPreauthenticatedPath(path: string): boolean {
  return /^\/api\/v2\.0\//i.test(path) || ImportSessions.matches(path) || ReportDownloads.matches(path);
}

export async function handlePreauthenticatedRequest(
  deps: PreauthenticatedDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const headers = lowerHeaders(req);
  const ids = { requestId: randomUUID(), clientRequestId: headers["client-request-id"] ?? randomUUID() };
  const sentAfterMs = sentAfterOf(req, res);
  const isImport = ImportSessions.matches(url.pathname);
  const body = await readBodyWithin(req, isImport ? MAX_IMPORT_BODY_BYTES : MAX_FRAGMENT_BYTES);
  const request = {
    method: req.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    headers,
    body,
    sentAfterMs,
    ...ids,
  };
  const response = ReportDownloads.matches(url.pathname)
    ? deps.reports.serve(request.method, url.pathname, headers, ids)
    : isImport
      ? await serveImportRequest(deps.imports, request)
      : await serveUploadRequest(deps.uploads, request);
  deps.stats.countStatus(response.status);
  await writeResponse(res, response, ids, (mailbox, bytes) => deps.stats.countStreamedBytes(mailbox, bytes));
}
