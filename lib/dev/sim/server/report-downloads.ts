/**
 * Usage reports as Graph hands them out: the report request answers 302 with a pre-authenticated
 * download URL (`https://reports.office.com/data/download/…`), valid for a few minutes, that
 * serves the CSV with no `Authorization` header.
 */
import { randomBytes } from "node:crypto";
import { graphError, type SimResponse } from "./graph-types.js";

/** How long a download URL stays valid: "a few minutes". */
const DOWNLOAD_LIFETIME_MS = 5 * 60_000;
const DOWNLOAD_PATH = /^\/data\/download\/([\w-]+)$/;

export class ReportDownloads {
  private readonly pending = new Map<string, { csv: Buffer; expiresAtMs: number }>();

  /** Keeps `csv` for download; returns its URL on `origin`. */
  create(origin: string, csv: Buffer): string {
    const now = Date.now();
    for (const [token, entry] of this.pending) if (entry.expiresAtMs <= now) this.pending.delete(token);
    const token = randomBytes(24).toString("base64url");
    this.pending.set(token, { csv, expiresAtMs: now + DOWNLOAD_LIFETIME_MS });
    return `${origin}/data/download/${token}`;
  }

  static matches(path: string): boolean {
    return DOWNLOAD_PATH.test(path);
  }

  /** Answers `GET /data/download/{token}`: the CSV while the URL is valid. */
  serve(
    method: string,
    path: string,
    headers: Record<string, string | undefined>,
    ids: { requestId: string; clientRequestId: string },
  ): SimResponse {
    const token = DOWNLOAD_PATH.exec(path)?.[1] ?? "";
    const entry = this.pending.get(token);
    if (method !== "GET") return graphError(ids, 405, "MethodNotAllowed", `Expected GET, found ${method}.`);
    if (headers.authorization !== undefined) {
      return graphError(
        ids,
        401,
        "InvalidAudienceForResource",
        "Expected no Authorization header on a pre-authenticated download URL, found one.",
      );
    }
    if (!entry || entry.expiresAtMs <= Date.now()) {
      this.pending.delete(token);
      return graphError(ids, 404, "NotFound", "The report download URL is unknown or has expired.");
    }
    return {
      status: 200,
      headers: {
        "content-type": "application/octet-stream",
        "content-disposition": 'attachment; filename="MailboxUsageDetail.csv"',
      },
      bytes: entry.csv,
    };
  }
}
