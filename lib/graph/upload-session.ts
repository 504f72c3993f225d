/**
 * Large file attachments (3 MB to 150 MB) through an Outlook upload session: Graph creates the
 * session and answers a pre-authenticated `uploadUrl` on the Outlook host; the file goes there in
 * ordered byte ranges by `PUT`, and the last range adds the attachment to the message.
 *
 * The PUTs go through the gateway's Graph client, so they share the mailbox's concurrency slots,
 * request budget and `Retry-After` gate with every other request to that mailbox. The upload URL
 * is not a Graph host, so the client's authentication middleware sends no bearer token there (the
 * token in the URL is the credential; Outlook refuses a bearer token beside it).
 *
 * Memory: each PUT sends a view (`subarray`) of the attachment's buffer, so an upload holds the
 * attachment plus the one fragment in flight, never a copy of the file.
 */
import { ResponseType } from "@microsoft/microsoft-graph-client";
import { FatalError } from "../errors.js";
import { retry } from "../retry.js";
import type { GraphGateway } from "./client.js";
import { GraphRequestError, GraphRetryableError } from "./errors.js";
import { MailboxRequestOption } from "./request-policy.js";

/**
 * Smallest attachment that goes through an upload session: Graph's documented "3 MB" taken as
 * 3 000 000 bytes, so that anything smaller still fits a 4 MB request once base64-encoded.
 */
export const UPLOAD_SESSION_MIN_BYTES = 3_000_000;
/** Largest attachment Outlook takes: 150 MB. */
export const MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024;
/** Fragments other than the last are multiples of this: 320 KiB. */
export const FRAGMENT_UNIT_BYTES = 320 * 1024;
/** The largest multiple of 320 KiB below Graph's 4 MiB request limit: 3 840 KiB. */
export const MAX_FRAGMENT_BYTES = 12 * FRAGMENT_UNIT_BYTES;
/** Default fragment: 10 × 320 KiB = 3 200 KiB. */
export const DEFAULT_FRAGMENT_BYTES = 10 * FRAGMENT_UNIT_BYTES;

export interface LargeAttachment {
  name: string;
  /** MIME type, e.g. `application/pdf`. */
  contentType: string;
  content: Buffer;
  /** Shown in the body (an embedded image). Default false. */
  isInline?: boolean;
  /** `Content-ID` the body refers to (`cid:`), for inline attachments. */
  contentId?: string;
}

export interface UploadOptions {
  /**
   * Bytes per PUT. A multiple of 320 KiB from 327 680 to 3 932 160 (12 × 320 KiB, the largest
   * under the 4 MiB request limit). Default 3 276 800 (10 × 320 KiB).
   */
  fragmentBytes?: number;
  /**
   * Times an upload re-reads the session's position (GET on the upload URL) after a fragment was
   * refused as out of order, e.g. when a retried PUT had already arrived. Bounds 0–20. Default 5.
   */
  maxResumes?: number;
  /**
   * Longest time one fragment sleeps through 429s whose `Retry-After` (≥ 1 s) was too long
   * for the gateway to wait in place (Outlook's upload budget, 150 MB per 5 minutes per mailbox,
   * answers waits of minutes), ms. Bounds ≥ 0. Default 900 000 (15 minutes).
   */
  maxThrottledWaitMs?: number;
  /** Called after each accepted fragment with the bytes the service holds so far. */
  onProgress?: (uploadedBytes: number, totalBytes: number) => void;
}

export interface UploadSession {
  /** Pre-authenticated URL for the PUTs (opaque; never add a bearer token to it). */
  uploadUrl: string;
  expirationDateTime?: string;
  nextExpectedRanges?: string[];
}

export interface UploadedAttachment {
  /** The attachment's id from the final answer's `Location` (`…/Attachments('{id}')`), if given. */
  attachmentId: string | undefined;
  /** Fragments sent (PUT requests), retries by the gateway not included. */
  fragments: number;
  /** Times the upload resumed from the session's reported position. */
  resumes: number;
}

/** `POST /users/{id}/messages/{id}/attachments/createUploadSession`. */
export function createAttachmentUploadSession(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
  item: { name: string; size: number; contentType?: string; isInline?: boolean; contentId?: string },
): Promise<UploadSession> {
  return gateway.post<UploadSession>(
    `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}/attachments/createUploadSession`,
    {
      AttachmentItem: {
        attachmentType: "file",
        name: item.name,
        size: item.size,
        ...(item.contentType ? { contentType: item.contentType } : {}),
        ...(item.isInline ? { isInline: true } : {}),
        ...(item.contentId ? { contentId: item.contentId } : {}),
      },
    },
  );
}

/** The first byte the service expects: `"N"`, `"N-"` or `"N-M"` → N. */
export function nextExpectedStart(ranges: unknown): number | undefined {
  if (!Array.isArray(ranges) || typeof ranges[0] !== "string") return undefined;
  const match = /^(\d+)(?:-\d*)?$/.exec(ranges[0].trim());
  return match ? Number(match[1]) : undefined;
}

function checkFragmentBytes(value: number): number {
  if (
    !Number.isInteger(value) ||
    value < FRAGMENT_UNIT_BYTES ||
    value > MAX_FRAGMENT_BYTES ||
    value % FRAGMENT_UNIT_BYTES !== 0
  ) {
    throw new FatalError(
      `upload fragmentBytes: expected a multiple of ${FRAGMENT_UNIT_BYTES} from ${FRAGMENT_UNIT_BYTES} to ${MAX_FRAGMENT_BYTES}, found ${value}`,
    );
  }
  return value;
}

/** One request to the upload URL through the gateway's client (its slots, gate and retries). */
async function callUploadUrl(
  gateway: GraphGateway,
  uploadUrl: string,
  mailboxId: string,
  method: "PUT" | "GET" | "DELETE",
  fragment?: { start: number; bytes: Buffer; total: number },
): Promise<Response> {
  // Sending a range twice is harmless: a repeat is refused as out of order, and we resume.
  const option = new MailboxRequestOption({ mailboxId, idempotent: true });
  let request = gateway.client.api(uploadUrl).middlewareOptions([option]).responseType(ResponseType.RAW);
  try {
    if (method === "PUT" && fragment) {
      const end = fragment.start + fragment.bytes.length - 1;
      request = request.headers({
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${fragment.start}-${end}/${fragment.total}`,
      });
      return (await request.put(fragment.bytes)) as Response;
    }
    if (method === "DELETE") return (await request.delete()) as Response;
    return (await request.get()) as Response;
  } catch (error) {
    throw option.error ?? error;
  }
}

function isLongThrottle(error: unknown): error is GraphRetryableError & { retryAfterMs: number } {
  return (
    error instanceof GraphRetryableError &&
    error.status === 429 &&
    error.retryAfterMs !== undefined &&
    error.retryAfterMs >= 1000
  );
}

function isOutOfOrder(error: unknown): boolean {
  return error instanceof GraphRequestError && error.status === 416;
}

/**
 * Attaches `attachment` to an existing message through an upload session, fragment by fragment.
 * Throws the gateway's errors (RetryableError once its retries are spent, GraphRequestError for
 * a refusal); the session is then cancelled, best effort, and the message may lack the file.
 */
export async function uploadLargeAttachment(
  gateway: GraphGateway,
  userId: string,
  messageId: string,
  attachment: LargeAttachment,
  options: UploadOptions = {},
): Promise<UploadedAttachment> {
  const fragmentBytes = checkFragmentBytes(options.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES);
  const maxResumes = Math.min(20, Math.max(0, Math.floor(options.maxResumes ?? 5)));
  const total = attachment.content.length;
  if (total < UPLOAD_SESSION_MIN_BYTES || total > MAX_ATTACHMENT_BYTES) {
    throw new FatalError(
      `upload of "${attachment.name}": expected ${UPLOAD_SESSION_MIN_BYTES}–${MAX_ATTACHMENT_BYTES} bytes for an upload session, found ${total}`,
    );
  }
  // The gateway keys mailboxes by the `/users/{id}` segment, lower-cased: use the same key.
  const mailboxId = userId.toLowerCase();
  const session = await createAttachmentUploadSession(gateway, userId, messageId, {
    name: attachment.name,
    size: total,
    contentType: attachment.contentType,
    ...(attachment.isInline ? { isInline: true } : {}),
    ...(attachment.contentId ? { contentId: attachment.contentId } : {}),
  });
  let offset = nextExpectedStart(session.nextExpectedRanges) ?? 0;
  let fragments = 0;
  let resumes = 0;
  const throttledWaitMs = Math.max(0, options.maxThrottledWaitMs ?? 900_000);
  // Throttled with a wait the gateway handed back (beyond its in-place limit, e.g. the upload
  // budget's minutes): sleep it here and send again, while the wait fits `maxThrottledWaitMs`.
  const put = (bytes: Buffer, start: number) =>
    retry(() => callUploadUrl(gateway, session.uploadUrl, mailboxId, "PUT", { start, bytes, total }), {
      budgetMs: throttledWaitMs,
      decide: (error) =>
        isLongThrottle(error) ? { retry: true, delay: { waitMs: error.retryAfterMs } } : { retry: false },
      exhausted: (last) => (last instanceof Error ? last : new Error(String(last))),
    });
  try {
    for (;;) {
      const bytes = attachment.content.subarray(offset, Math.min(offset + fragmentBytes, total));
      let response: Response;
      try {
        fragments++;
        response = await put(bytes, offset);
      } catch (error) {
        if (!isOutOfOrder(error) || resumes >= maxResumes) throw error;
        resumes++;
        const status = await callUploadUrl(gateway, session.uploadUrl, mailboxId, "GET");
        const next = nextExpectedStart(((await status.json()) as UploadSession).nextExpectedRanges);
        if (next === undefined || next >= total) throw error;
        offset = next;
        continue;
      }
      if (response.status === 201) {
        options.onProgress?.(total, total);
        const location = response.headers.get("location") ?? "";
        return { attachmentId: /Attachments\('([^']+)'\)/i.exec(location)?.[1], fragments, resumes };
      }
      const answer = (await response.json().catch(() => ({}))) as UploadSession;
      const next = nextExpectedStart(answer.nextExpectedRanges) ?? offset + bytes.length;
      if (next <= offset || next >= total) {
        throw new FatalError(
          `upload of "${attachment.name}": expected the session to want bytes after ${offset} and before ${total}, found nextExpectedRanges ${JSON.stringify(answer.nextExpectedRanges)}`,
        );
      }
      offset = next;
      options.onProgress?.(offset, total);
    }
  } catch (error) {
    // Don't leave a session holding our bytes until it expires.
    await callUploadUrl(gateway, session.uploadUrl, mailboxId, "DELETE").catch(() => undefined);
    throw error;
  }
}
