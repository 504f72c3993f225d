/**
 * Attachment upload sessions, as Outlook serves them behind Graph: `POST
 * /users/{id}/messages/{id}/attachments/createUploadSession` (a Graph route, authenticated by
 * bearer token, in `routes/upload-session.ts`) answers an opaque, pre-authenticated `uploadUrl`
 * on another host; `PUT`s of
 * byte ranges to it (with no Authorization header) fill the attachment in order, and the last
 * one adds it to the message (201 with a `Location`). `GET` reads where the session stands,
 * `DELETE` cancels it.
 *
 * Real Graph hands out `https://outlook.office.com/api/v2.0/Users('…')/Messages('…')/
 * AttachmentSessions('…')?authtoken=…`. The simulator answers the same path shape on another of
 * its host names (`outlook.office.com` when it serves that name, else `127.0.0.1` for a client of
 * `localhost`; see `Origins.preauthenticated`), so that the Graph client sends no bearer token
 * there either.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { simpleParser } from "mailparser";
import type { TenantStore } from "../model.js";
import { openMimeSource } from "../tenant/store.js";
import { attachmentId } from "./attachment-ids.js";
import type { FaultState } from "./faults.js";
import { graphError, jsonResponse, type SimResponse } from "./graph-types.js";
import type { LatencyOptions } from "./latency.js";
import type { MailboxLimiter } from "./limits.js";
import { appendAttachment } from "./mime-compose.js";
import {
  type PreauthenticatedRequest,
  refusedCredentials,
  withinMailboxLimits,
} from "./preauth-admission.js";

/** Smallest attachment an upload session takes (documented "3 MB"; smaller ones are POSTed). */
export const UPLOAD_SESSION_MIN_BYTES = 3_000_000;
/** Largest attachment Outlook accepts: 150 MB. */
export const MAX_ATTACHMENT_BYTES = 150 * 1024 * 1024;
/** Largest fragment of one PUT (Graph's 4 MB request limit). */
export const MAX_FRAGMENT_BYTES = 4 * 1024 * 1024;
/** Every fragment but the last is a multiple of this (320 KiB). */
export const FRAGMENT_UNIT_BYTES = 320 * 1024;

export interface UploadAttachmentItem {
  name: string;
  size: number;
  contentType: string;
  isInline: boolean;
  contentId?: string;
}

interface UploadSession {
  id: string;
  /** `https://host[:port]` the upload URL points to (another host than the client's Graph host). */
  origin: string;
  /** The secret in the uploadUrl (`authtoken`): the only credential of the PUTs. */
  token: string;
  /** The app that created the session: its uploads count against its limits for the mailbox. */
  clientId: string;
  userId: string;
  messageId: string;
  item: UploadAttachmentItem;
  expiresAtMs: number;
  /** Bytes received so far: the next fragment must start here. */
  received: number;
  fragments: Buffer[];
}

export interface UploadSessionOptions {
  tenantId: string;
  /** Lifetime of a session and its token, seconds. Bounds ≥ 1. Default 3600. */
  lifetimeSeconds?: number;
}

/** The open upload sessions of one simulator. */
export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>();
  private readonly lifetimeMs: number;

  constructor(private readonly options: UploadSessionOptions) {
    this.lifetimeMs = Math.max(1, options.lifetimeSeconds ?? 3600) * 1000;
  }

  /** Opens a session whose URL points to `origin` (see `Origins.preauthenticated`). */
  create(
    origin: string,
    clientId: string,
    userId: string,
    messageId: string,
    item: UploadAttachmentItem,
  ): UploadSession {
    const session: UploadSession = {
      id: Buffer.from(randomUUID()).toString("base64url"),
      origin,
      token: randomBytes(24).toString("base64url"),
      clientId,
      userId,
      messageId,
      item,
      expiresAtMs: Date.now() + this.lifetimeMs,
      received: 0,
      fragments: [],
    };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string): UploadSession | undefined {
    return this.sessions.get(id);
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** `…/Users('{user}@{tenant}')/Messages('{message}')`: the part shared by uploadUrl and Location. */
  messageUrl(session: UploadSession): string {
    return `${session.origin}/api/v2.0/Users('${session.userId}@${this.options.tenantId}')/Messages('${session.messageId}')`;
  }

  uploadUrl(session: UploadSession): string {
    return `${this.messageUrl(session)}/AttachmentSessions('${session.id}')?authtoken=${session.token}`;
  }

  /** Open sessions (for tests: a completed or cancelled session is gone). */
  get size(): number {
    return this.sessions.size;
  }
}

export function expiration(session: { expiresAtMs: number }): string {
  return new Date(session.expiresAtMs).toISOString();
}

/** What an upload request needs from the server. */
export interface UploadRequestDeps {
  uploads: UploadSessions;
  store: TenantStore;
  limiter: MailboxLimiter;
  faults: FaultState;
  latency: LatencyOptions | undefined;
}

export type UploadRequest = PreauthenticatedRequest;

const SESSION_PATH =
  /^\/api\/v2\.0\/Users\('([^']+)'\)\/Messages\('([^']+)'\)\/AttachmentSessions\('([^']+)'\)$/i;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Answers a request to an upload URL (PUT a fragment, GET the status, DELETE the session). */
export async function serveUploadRequest(deps: UploadRequestDeps, req: UploadRequest): Promise<SimResponse> {
  const match = SESSION_PATH.exec(safeDecode(req.path));
  const session = match ? deps.uploads.get(match[3] ?? "") : undefined;
  if (!match || !session || session.messageId !== match[2]) {
    return graphError(req, 404, "ErrorItemNotFound", "The upload session was not found.");
  }
  // The URL is its own credential.
  const refused = refusedCredentials(req, "upload", session);
  if (refused) {
    if (Date.now() > session.expiresAtMs) deps.uploads.delete(session.id);
    return refused;
  }
  const mailboxId = session.userId;
  return withinMailboxLimits(deps, req, session.clientId, mailboxId, async () => {
    if (!deps.store.getMessage(mailboxId, session.messageId)) {
      deps.uploads.delete(session.id);
      return graphError(req, 404, "ErrorItemNotFound", "The specified object was not found in the store.");
    }
    if (req.method === "GET") return statusAnswer(deps, session, 200);
    if (req.method === "DELETE") {
      deps.uploads.delete(session.id);
      return { status: 204, headers: {} };
    }
    if (req.method !== "PUT") {
      return graphError(req, 405, "ErrorInvalidRequest", `Expected PUT, GET or DELETE, found ${req.method}.`);
    }
    return await acceptFragment(deps, session, req);
  });
}

function statusAnswer(deps: UploadRequestDeps, session: UploadSession, status: number): SimResponse {
  return jsonResponse(status, {
    "@odata.context": `${deps.uploads.messageUrl(session).replace(/\/Users\(/, "/$metadata#Users(")}/AttachmentSessions/$entity`,
    ExpirationDateTime: expiration(session),
    // Outlook answers a single "{start}", not OneDrive's list of missing ranges.
    nextExpectedRanges: [String(session.received)],
  });
}

async function acceptFragment(
  deps: UploadRequestDeps,
  session: UploadSession,
  req: UploadRequest,
): Promise<SimResponse> {
  if (req.body === "too-large") {
    return graphError(
      req,
      413,
      "RequestEntityTooLarge",
      `Expected a fragment of at most ${MAX_FRAGMENT_BYTES} bytes, found more.`,
    );
  }
  const body = req.body;
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec((req.headers["content-range"] ?? "").trim());
  if (!range) {
    return graphError(
      req,
      400,
      "ErrorInvalidRequest",
      `Expected a Content-Range header "bytes {start}-{end}/{total}", found ${JSON.stringify(req.headers["content-range"] ?? null)}.`,
    );
  }
  const start = Number(range[1]);
  const end = Number(range[2]);
  const total = Number(range[3]);
  const size = session.item.size;
  if (total !== size || end < start || end >= size || body.length !== end - start + 1) {
    return graphError(
      req,
      400,
      "ErrorInvalidRequest",
      `Expected a range inside the attachment's ${size} bytes with a body of its length, found "bytes ${start}-${end}/${total}" with ${body.length} bytes.`,
    );
  }
  if (start !== session.received) {
    // Fragments go in order: a gap or an overlap is refused, the session keeps its bytes.
    return graphError(
      req,
      416,
      "ErrorInvalidRange",
      `Expected the next fragment to start at byte ${session.received}, found ${start}.`,
    );
  }
  const last = end + 1 === size;
  if (!last && body.length % FRAGMENT_UNIT_BYTES !== 0) {
    return graphError(
      req,
      400,
      "ErrorInvalidRequest",
      `Expected every fragment but the last to be a multiple of ${FRAGMENT_UNIT_BYTES} bytes, found ${body.length}.`,
    );
  }
  const budget = deps.limiter.admitUpload(session.userId, body.length);
  if (!budget.ok) {
    deps.limiter.noteRetryAfter(session.clientId, session.userId, budget.retryAfterSeconds, 429);
    return graphError(
      req,
      429,
      "ApplicationThrottled",
      "Application is over its upload limit for this mailbox.",
      {
        "retry-after": String(budget.retryAfterSeconds),
      },
    );
  }
  session.fragments.push(body);
  session.received += body.length;
  if (!last) return statusAnswer(deps, session, 200);
  const attachmentIndex = await attachToMessage(deps.store, session);
  deps.uploads.delete(session.id);
  return {
    status: 201,
    headers: {
      location: `${deps.uploads.messageUrl(session)}/Attachments('${attachmentId(session.messageId, attachmentIndex)}')`,
      "content-length": "0",
    },
  };
}

/** Adds the uploaded file to the message's MIME; returns its position among the attachments. */
async function attachToMessage(store: TenantStore, session: UploadSession): Promise<number> {
  const message = store.getMessage(session.userId, session.messageId);
  if (!message) throw new Error(`upload session ${session.id}: its message is gone`);
  const chunks: Buffer[] = [];
  for await (const chunk of openMimeSource(message.mime)) chunks.push(chunk as Buffer);
  const mime = Buffer.concat(chunks);
  const before = (await simpleParser(mime)).attachments.length;
  const content = Buffer.concat(session.fragments);
  session.fragments = [];
  const next = appendAttachment(mime, {
    name: session.item.name,
    contentType: session.item.contentType,
    content,
    isInline: session.item.isInline,
    ...(session.item.contentId ? { contentId: session.item.contentId } : {}),
  });
  store.replaceMessageMime(
    session.userId,
    session.messageId,
    { kind: "bytes", bytes: next },
    { hasAttachments: true },
  );
  return before;
}
