/**
 * Requests to pre-authenticated URLs: the token is in the URL, and a bearer token sent along is
 * refused (it is meant for another audience): attachment upload sessions
 * (`/api/v2.0/Users(…)/Messages(…)/AttachmentSessions(…)`) and usage report downloads
 * (`/data/download/…`).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { lowerHeaders, readBodyWithin, writeResponse } from "./http-io.js";
import { ReportDownloads } from "./report-downloads.js";
import type { StatsRecorder } from "./stats.js";
import { MAX_FRAGMENT_BYTES, serveUploadRequest, type UploadRequestDeps } from "./upload-sessions.js";

export interface PreauthenticatedDeps {
  uploads: UploadRequestDeps;
  reports: ReportDownloads;
  stats: StatsRecorder;
}

/** True when `path` is one of the pre-authenticated endpoints. */
export function isPreauthenticatedPath(path: string): boolean {
  return /^\/api\/v2\.0\//i.test(path) || ReportDownloads.matches(path);
}

export async function handlePreauthenticatedRequest(
  deps: PreauthenticatedDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const headers = lowerHeaders(req);
  const ids = { requestId: randomUUID(), clientRequestId: headers["client-request-id"] ?? randomUUID() };
  const body = await readBodyWithin(req, MAX_FRAGMENT_BYTES);
  const response = ReportDownloads.matches(url.pathname)
    ? deps.reports.serve(req.method ?? "GET", url.pathname, headers, ids)
    : await serveUploadRequest(deps.uploads, {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers,
        body,
        ...ids,
      });
  deps.stats.countStatus(response.status);
  await writeResponse(res, response, ids, (mailbox, bytes) => deps.stats.countStreamedBytes(mailbox, bytes));
}
