/**
 * Message endpoints: read one message, its MIME (`$value`, streamed), its attachments, list a
 * folder's messages, and the restore writes (create in a folder, PATCH properties).
 */
import { createHash, randomUUID } from "node:crypto";
import { type Attachment, simpleParser } from "mailparser";
import type { EmailAddress, FlagStatus, Importance, MessageProps, SimMessage } from "../../model.js";
import { attachmentId } from "../attachment-ids.js";
import { jsonResponse, MailErrors, type SimRequest, type SimResponse } from "../graph-types.js";
import { messageJsonWithBodies } from "../message-bodies.js";
import { appendAttachment, composeMime, readMimeProps } from "../mime-compose.js";
import { MessageFlags, messageJson, normaliseExtendedId } from "../representations.js";
import { pagingOf, type RouteHandler, type RouteInput, withPosition } from "./context.js";

function findMessage({ ctx, params, user }: RouteInput): SimMessage | undefined {
  return ctx.store.getMessage(user.id, params[0] ?? "");
}

/** `GET /users/{id}/messages/{id}` with `$select` / `$expand`. */
export const getMessage: RouteHandler = async (input) => {
  const message = findMessage(input);
  if (!message) return MailErrors.itemNotFound(input.req);
  const { ctx, req } = input;
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${input.user.id}')/messages/$entity`,
    ...(await messageJsonWithBodies(ctx.store, message, req.query, req.headers.prefer)),
  });
};

/** `GET /users/{id}/mailFolders/{id}/messages`: paged by `$top` (default 10) and `$skip`. */
export const listFolderMessages: RouteHandler = async ({ ctx, req, params, user }) => {
  const folder = ctx.store.getFolder(user.id, params[0] ?? "");
  if (!folder) return MailErrors.itemNotFound(req);
  const paging = pagingOf(req);
  if ("status" in paging) return paging;
  const { top, skip } = paging;
  const messages = [...ctx.store.listMessages(user.id, folder.id)].sort((a, b) =>
    a.receivedDateTime < b.receivedDateTime ? 1 : a.receivedDateTime > b.receivedDateTime ? -1 : 0,
  );
  const body: Record<string, unknown> = {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/mailFolders('${folder.id}')/messages`,
    value: await Promise.all(
      messages
        .slice(skip, skip + top)
        .map((m) => messageJsonWithBodies(ctx.store, m, req.query, req.headers.prefer)),
    ),
  };
  if (skip + top < messages.length) {
    body["@odata.nextLink"] =
      `${ctx.baseUrl}/users/${user.id}/mailFolders/${folder.id}/messages?${withPosition(req.query, "$skip", String(skip + top))}`;
  }
  return jsonResponse(200, body);
};

/** `GET /users/{id}/messages/{id}/$value`: the MIME, streamed from the store (never buffered). */
export const getMessageMime: RouteHandler = (input) => {
  const message = findMessage(input);
  if (!message) return MailErrors.itemNotFound(input.req);
  return {
    status: 200,
    headers: { "content-type": "text/plain", "content-length": String(message.size) },
    stream: input.ctx.store.openMime(message),
    streamNsPerByte: input.ctx.perMimeByteNs,
    mailboxId: input.user.id,
  };
};

interface ParsedAttachment {
  id: string;
  attachment: Attachment;
  isItem: boolean;
}

/** Parses the MIME for its attachments. Buffers the message: only this endpoint needs the parts. */
async function parseAttachments(input: RouteInput, message: SimMessage): Promise<ParsedAttachment[]> {
  const parsed = await simpleParser(input.ctx.store.openMime(message));
  return parsed.attachments.map((attachment, index) => ({
    id: attachmentId(message.id, index),
    attachment,
    isItem: attachment.contentType.toLowerCase() === "message/rfc822",
  }));
}

function attachmentJson(
  message: SimMessage,
  a: ParsedAttachment,
  withContent: boolean,
): Record<string, unknown> {
  return {
    "@odata.type": a.isItem ? "#microsoft.graph.itemAttachment" : "#microsoft.graph.fileAttachment",
    "@odata.mediaContentType": a.attachment.contentType,
    id: a.id,
    lastModifiedDateTime: message.lastModifiedDateTime,
    name: a.attachment.filename ?? (a.isItem ? "Attached message" : "attachment"),
    contentType: a.attachment.contentType,
    size: a.attachment.size,
    isInline: a.attachment.contentDisposition === "inline",
    ...(a.isItem
      ? {}
      : {
          contentId: a.attachment.contentId ?? null,
          contentLocation: null,
          ...(withContent ? { contentBytes: a.attachment.content.toString("base64") } : {}),
        }),
  };
}

/**
 * `GET /users/{id}/messages/{id}/attachments`. With `$select`, only the named properties (plus
 * `@odata.type` and `id`), so that a client can list big attachments without their content.
 */
export const listAttachments: RouteHandler = async (input) => {
  const message = findMessage(input);
  if (!message) return MailErrors.itemNotFound(input.req);
  const attachments = await parseAttachments(input, message);
  const select = input.req.query.get("$select");
  const wanted = select ? new Set(select.split(",").map((f) => f.trim().toLowerCase())) : undefined;
  const project = (json: Record<string, unknown>) =>
    wanted
      ? Object.fromEntries(
          Object.entries(json).filter(
            ([k]) => k === "@odata.type" || k === "id" || wanted.has(k.toLowerCase()),
          ),
        )
      : json;
  return jsonResponse(200, {
    "@odata.context": `${input.ctx.baseUrl}/$metadata#users('${input.user.id}')/messages('${message.id}')/attachments`,
    value: attachments.map((a) =>
      project(attachmentJson(message, a, wanted === undefined || wanted.has("contentbytes"))),
    ),
  });
};

async function findAttachment(
  input: RouteInput,
): Promise<SimResponse | { message: SimMessage; found: ParsedAttachment }> {
  const message = findMessage(input);
  if (!message) return MailErrors.itemNotFound(input.req);
  const found = (await parseAttachments(input, message)).find((a) => a.id === input.params[1]);
  if (!found) return MailErrors.itemNotFound(input.req);
  return { message, found };
}

/** `GET /users/{id}/messages/{id}/attachments/{id}`. */
export const getAttachment: RouteHandler = async (input) => {
  const result = await findAttachment(input);
  if ("status" in result) return result;
  return jsonResponse(200, {
    "@odata.context": `${input.ctx.baseUrl}/$metadata#users('${input.user.id}')/messages('${result.message.id}')/attachments/$entity`,
    ...attachmentJson(result.message, result.found, true),
  });
};

/** `GET /users/{id}/messages/{id}/attachments/{id}/$value`: the raw content. */
export const getAttachmentContent: RouteHandler = async (input) => {
  const result = await findAttachment(input);
  if ("status" in result) return result;
  const { attachment } = result.found;
  return {
    status: 200,
    headers: { "content-type": attachment.contentType, "content-length": String(attachment.content.length) },
    bytes: attachment.content,
  };
};

// --- restore writes ---

interface ExtendedPropertyInput {
  id?: unknown;
  value?: unknown;
}

interface MessageInput {
  subject?: unknown;
  body?: { contentType?: unknown; content?: unknown };
  from?: { emailAddress?: { name?: unknown; address?: unknown } };
  toRecipients?: unknown;
  ccRecipients?: unknown;
  bccRecipients?: unknown;
  isRead?: unknown;
  importance?: unknown;
  flag?: { flagStatus?: unknown };
  categories?: unknown;
  internetMessageId?: unknown;
  conversationId?: unknown;
  receivedDateTime?: unknown;
  sentDateTime?: unknown;
  attachments?: unknown;
  singleValueExtendedProperties?: unknown;
}

const IMPORTANCE: readonly Importance[] = ["low", "normal", "high"];
const FLAG_STATUS: readonly FlagStatus[] = ["notFlagged", "flagged", "complete"];

function recipients(value: unknown): EmailAddress[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((r) => {
    const e = (r as { emailAddress?: { name?: unknown; address?: unknown } })?.emailAddress;
    return typeof e?.address === "string"
      ? [{ name: typeof e.name === "string" ? e.name : "", address: e.address }]
      : [];
  });
}

function extendedProperties(value: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(value)) return out;
  for (const p of value as ExtendedPropertyInput[]) {
    const norm = typeof p?.id === "string" ? normaliseExtendedId(p.id) : undefined;
    if (norm && typeof p.value === "string") out.set(norm.key, p.value);
  }
  return out;
}

/** Validates the restore-relevant props; returns an error text or the patch. */
function readProps(input: MessageInput): string | Partial<MessageProps> {
  const patch: Partial<MessageProps> = {};
  if (input.isRead !== undefined) {
    if (typeof input.isRead !== "boolean")
      return `isRead must be a boolean, found ${JSON.stringify(input.isRead)}`;
    patch.isRead = input.isRead;
  }
  if (input.importance !== undefined) {
    if (!IMPORTANCE.includes(input.importance as Importance))
      return `importance must be one of ${IMPORTANCE.join(", ")}, found ${JSON.stringify(input.importance)}`;
    patch.importance = input.importance as Importance;
  }
  if (input.flag !== undefined) {
    if (!FLAG_STATUS.includes(input.flag?.flagStatus as FlagStatus))
      return `flag.flagStatus must be one of ${FLAG_STATUS.join(", ")}, found ${JSON.stringify(input.flag?.flagStatus)}`;
    patch.flag = { flagStatus: input.flag.flagStatus as FlagStatus };
  }
  if (input.categories !== undefined) {
    if (!Array.isArray(input.categories) || input.categories.some((c) => typeof c !== "string"))
      return `categories must be an array of strings, found ${JSON.stringify(input.categories)}`;
    patch.categories = [...(input.categories as string[])];
  }
  return patch;
}

function fileAttachments(value: unknown) {
  if (!Array.isArray(value)) return [];
  return value.flatMap((a) => {
    const att = a as {
      name?: unknown;
      contentType?: unknown;
      contentBytes?: unknown;
      isInline?: unknown;
      contentId?: unknown;
    };
    return typeof att.contentBytes === "string"
      ? [
          {
            name: typeof att.name === "string" ? att.name : "attachment",
            contentType: typeof att.contentType === "string" ? att.contentType : "application/octet-stream",
            content: Buffer.from(att.contentBytes, "base64"),
            isInline: att.isInline === true,
            ...(typeof att.contentId === "string" && att.contentId !== ""
              ? { contentId: att.contentId }
              : {}),
          },
        ]
      : [];
  });
}

function conversationIdFor(subject: string): string {
  return createHash("sha256")
    .update(subject.replace(/^(re|fw|fwd):\s*/i, ""))
    .digest("base64url")
    .slice(0, 32);
}

/**
 * `POST /users/{id}/mailFolders/{id}/messages`. A JSON message becomes a draft unless it carries
 * `Integer 0x0E07` (message flags) without the unsent bit; `SystemTime 0x0E06` / `0x0039` set the
 * received / sent dates. A `text/plain` body is a base64 MIME message and always becomes a draft.
 */
export const createMessage: RouteHandler = async ({ ctx, req, params, user }) => {
  const folder = ctx.store.getFolder(user.id, params[0] ?? "");
  if (!folder) return MailErrors.itemNotFound(req);
  const now = new Date().toISOString();
  if (typeof req.body === "string") return createFromMime(ctx, req, user.id, folder.id, req.body, now);
  if (typeof req.body !== "object" || req.body === null) {
    return MailErrors.badRequest(
      req,
      "Expected a JSON message or a base64 MIME text/plain body, found an empty body.",
    );
  }
  const input = req.body as MessageInput;
  const props = readProps(input);
  if (typeof props === "string") return MailErrors.badRequest(req, props);
  const extended = extendedProperties(input.singleValueExtendedProperties);
  const flagsText = extended.get("integer 0xe07");
  const flags = flagsText === undefined ? undefined : Number(flagsText);
  if (flags !== undefined && !Number.isInteger(flags)) {
    return MailErrors.badRequest(
      req,
      `Integer 0x0E07 must hold an integer, found ${JSON.stringify(flagsText)}.`,
    );
  }
  const received =
    extended.get("systemtime 0xe06") ??
    (typeof input.receivedDateTime === "string" ? input.receivedDateTime : now);
  const sent =
    extended.get("systemtime 0x39") ??
    (typeof input.sentDateTime === "string" ? input.sentDateTime : received);
  const subject = typeof input.subject === "string" ? input.subject : "";
  const bodyText = typeof input.body?.content === "string" ? input.body.content : "";
  const fromAddress = input.from?.emailAddress;
  const from =
    typeof fromAddress?.address === "string"
      ? { name: typeof fromAddress.name === "string" ? fromAddress.name : "", address: fromAddress.address }
      : undefined;
  const internetMessageId =
    typeof input.internetMessageId === "string"
      ? input.internetMessageId
      : `<${randomUUID()}@mailstream.sim>`;
  const attachments = fileAttachments(input.attachments);
  const to = recipients(input.toRecipients);
  const cc = recipients(input.ccRecipients);
  const bcc = recipients(input.bccRecipients);
  const mime = composeMime({
    subject,
    from,
    to,
    cc,
    bcc,
    date: sent,
    internetMessageId,
    bodyContentType: input.body?.contentType === "html" ? "html" : "text",
    body: bodyText,
    attachments,
  });
  const message = ctx.store.addMessage(user.id, folder.id, {
    isRead: props.isRead ?? (flags !== undefined ? (flags & MessageFlags.read) !== 0 : false),
    flag: props.flag ?? { flagStatus: "notFlagged" },
    categories: props.categories ?? [],
    importance: props.importance ?? "normal",
    internetMessageId,
    conversationId:
      typeof input.conversationId === "string" ? input.conversationId : conversationIdFor(subject),
    subject,
    from: from ?? { name: user.displayName, address: user.mail ?? user.userPrincipalName },
    toRecipients: to,
    ccRecipients: cc,
    bccRecipients: bcc,
    createdDateTime: now,
    receivedDateTime: received,
    sentDateTime: sent,
    isDraft: flags === undefined || (flags & MessageFlags.unsent) !== 0,
    hasAttachments: attachments.length > 0,
    bodyPreview: bodyText
      .replace(/<[^>]*>/g, " ")
      .replace(/\s+/g, " ")
      .trim()
      .slice(0, 255),
    mime: { kind: "bytes", bytes: mime },
  });
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/messages/$entity`,
    ...messageJson(message, new URLSearchParams()),
  });
};

async function createFromMime(
  ctx: RouteInput["ctx"],
  req: SimRequest,
  userId: string,
  folderId: string,
  base64: string,
  now: string,
): Promise<SimResponse> {
  const mime = Buffer.from(base64.replace(/\s+/g, ""), "base64");
  if (mime.length === 0)
    return MailErrors.badRequest(
      req,
      "Expected a base64 MIME message in the text/plain body, found nothing decodable.",
    );
  const parsed = await readMimeProps(mime);
  const user = ctx.store.getUser(userId);
  const message = ctx.store.addMessage(userId, folderId, {
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
    internetMessageId: parsed.internetMessageId ?? `<${randomUUID()}@mailstream.sim>`,
    conversationId: conversationIdFor(parsed.subject),
    subject: parsed.subject,
    from: parsed.from ?? { name: user?.displayName ?? "", address: user?.mail ?? "" },
    toRecipients: parsed.to,
    ccRecipients: parsed.cc,
    bccRecipients: parsed.bcc,
    createdDateTime: now,
    receivedDateTime: now,
    sentDateTime: parsed.date ?? now,
    isDraft: true,
    hasAttachments: parsed.hasAttachments,
    bodyPreview: parsed.bodyPreview,
    mime: { kind: "bytes", bytes: mime },
  });
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${userId}')/messages/$entity`,
    ...messageJson(message, new URLSearchParams()),
  });
}

/**
 * `POST /users/{id}/messages/{id}/attachments` with a fileAttachment (base64 `contentBytes`):
 * adds it to the message, whose MIME Exchange regenerates. The 4 MB request limit bounds it;
 * larger files go through an upload session.
 */
export const addAttachment: RouteHandler = async (input) => {
  const { ctx, req, user } = input;
  const message = findMessage(input);
  if (!message) return MailErrors.itemNotFound(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const type = body["@odata.type"];
  if (type !== "#microsoft.graph.fileAttachment" || typeof body.contentBytes !== "string") {
    return MailErrors.badRequest(
      req,
      `Expected a #microsoft.graph.fileAttachment with contentBytes, found @odata.type ${JSON.stringify(type)}.`,
    );
  }
  if (typeof body.name !== "string" || body.name === "") {
    return MailErrors.badRequest(req, `Expected the attachment's name, found ${JSON.stringify(body.name)}.`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.store.openMime(message)) chunks.push(chunk as Buffer);
  const mime = Buffer.concat(chunks);
  const index = (await simpleParser(mime)).attachments.length;
  const content = Buffer.from(body.contentBytes, "base64");
  const contentType = typeof body.contentType === "string" ? body.contentType : "application/octet-stream";
  const isInline = body.isInline === true;
  const contentId = typeof body.contentId === "string" && body.contentId !== "" ? body.contentId : undefined;
  const next = appendAttachment(mime, {
    name: body.name,
    contentType,
    content,
    isInline,
    ...(contentId ? { contentId } : {}),
  });
  const updated = ctx.store.replaceMessageMime(
    user.id,
    message.id,
    { kind: "bytes", bytes: next },
    { hasAttachments: true },
  );
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/messages('${message.id}')/attachments/$entity`,
    "@odata.type": "#microsoft.graph.fileAttachment",
    id: attachmentId(message.id, index),
    lastModifiedDateTime: updated.lastModifiedDateTime,
    name: body.name,
    contentType,
    size: content.length,
    isInline,
    contentId: contentId ?? null,
  });
};

/** `POST /users/{id}/messages/{id}/permanentDelete`: removes the message without a trace in Deleted Items. */
export const permanentlyDeleteMessage: RouteHandler = (input) => {
  if (!findMessage(input)) return MailErrors.itemNotFound(input.req);
  input.ctx.store.deleteMessage(input.user.id, input.params[0] ?? "");
  return { status: 204, headers: {} };
};

/** `PATCH /users/{id}/messages/{id}`: isRead, flag, categories, importance. */
export const patchMessage: RouteHandler = (input) => {
  const { ctx, req, user } = input;
  if (!findMessage(input)) return MailErrors.itemNotFound(req);
  if (typeof req.body !== "object" || req.body === null) {
    return MailErrors.badRequest(req, "Expected a JSON object with isRead, flag, categories or importance.");
  }
  const patch = readProps(req.body as MessageInput);
  if (typeof patch === "string") return MailErrors.badRequest(req, patch);
  const updated = ctx.store.updateMessage(user.id, input.params[0] ?? "", patch);
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/messages/$entity`,
    ...messageJson(updated, new URLSearchParams()),
  });
};
