/**
 * A backed-up message as the JSON that re-creates it as received mail (not a draft): body,
 * recipients and attachments from the MIME, read state/flag/categories from the catalog, and the
 * extended properties that only take effect at creation (message flags without the unsent bit,
 * received and sent times).
 *
 * Graph refuses request bodies over 4 MB, so a message with big attachments cannot be created in
 * one request: {@link planRestoreMessage} keeps in the creating JSON only the attachments that fit
 * a budget and hands the others back to be attached afterwards (3 MB or more through an upload
 * session, smaller ones by one POST each).
 */
import { type AddressObject, type Attachment, type ParsedMail, simpleParser } from "mailparser";
import { UPLOAD_SESSION_MIN_BYTES } from "../graph/upload-session.js";

/** PR_MESSAGE_FLAGS bits (MS-OXCMSG): read = 0x1; unsent = 0x8 is the one a restore must leave out. */
const MSGFLAG_READ = 0x1;

type Recipient = { emailAddress: { name: string; address: string } };

function addresses(value: AddressObject | AddressObject[] | undefined): Recipient[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((a) =>
    a.value.flatMap((v) => (v.address ? [{ emailAddress: { name: v.name ?? "", address: v.address } }] : [])),
  );
}

function isoOr(value: unknown, fallback: string | undefined): string | undefined {
  return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : fallback;
}

/**
 * Bytes of JSON one create request may carry: ~3 MB, so that base64 (4/3) stays well inside
 * Graph's 4 MB request limit.
 */
export const INLINE_JSON_BUDGET_BYTES = 3_000_000;

/**
 * A message whose MIME is at most this many bytes always fits the budget in JSON (JSON escaping
 * can at most double a body), so a restore needs no attachments after creating it.
 */
export const ALWAYS_INLINE_MIME_BYTES = INLINE_JSON_BUDGET_BYTES / 2;

/** A file attachment of a message being restored. */
export interface RestoreAttachment {
  name: string;
  contentType: string;
  isInline: boolean;
  contentId?: string;
  content: Buffer;
}

export interface RestoreMessagePlan {
  /** The JSON that creates the message, with the attachments that fit inline. */
  message: Record<string, unknown>;
  /** Attachments to add after creating it (3 MB or more through an upload session, others by POST). */
  later: RestoreAttachment[];
  /** Attachments of the message in all: the restored message is complete when it holds this many. */
  attachmentCount: number;
}

function restoreAttachment(a: Attachment): RestoreAttachment {
  return {
    name: a.filename ?? "attachment",
    contentType: a.contentType,
    isInline: a.contentDisposition === "inline",
    ...(a.cid ? { contentId: a.cid } : {}),
    content: a.content,
  };
}

function attachmentJson(a: RestoreAttachment): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.fileAttachment",
    name: a.name,
    contentType: a.contentType,
    isInline: a.isInline,
    ...(a.contentId ? { contentId: a.contentId } : {}),
    contentBytes: a.content.toString("base64"),
  };
}

/** JSON bytes an attachment adds to the create request: its base64 plus its fields. */
function inlineCost(a: RestoreAttachment): number {
  return Math.ceil(a.content.length / 3) * 4 + Buffer.byteLength(JSON.stringify({ ...a, content: "" })) + 64;
}

/**
 * The message's creating JSON and the attachments to add afterwards. Attachments under 3 MB go
 * inline, smallest first, while the JSON stays within `inlineBudgetBytes` (bytes; default
 * {@link INLINE_JSON_BUDGET_BYTES}); the rest come back in {@link RestoreMessagePlan.later}.
 */
export async function planRestoreMessage(
  mime: Buffer,
  meta: Record<string, unknown>,
  options: { inlineBudgetBytes?: number } = {},
): Promise<RestoreMessagePlan> {
  const budget = options.inlineBudgetBytes ?? INLINE_JSON_BUDGET_BYTES;
  const parsed = await simpleParser(mime);
  const attachments = parsed.attachments.map(restoreAttachment);
  let used = Buffer.byteLength(JSON.stringify(messageJson(parsed, meta, [])));
  const inline = new Set<RestoreAttachment>();
  const bySize = attachments
    .filter((a) => a.content.length < UPLOAD_SESSION_MIN_BYTES)
    .sort((a, b) => a.content.length - b.content.length);
  for (const a of bySize) {
    const cost = inlineCost(a);
    if (used + cost > budget) break;
    used += cost;
    inline.add(a);
  }
  return {
    // Inline attachments keep the order they had in the message.
    message: messageJson(
      parsed,
      meta,
      attachments.filter((a) => inline.has(a)),
    ),
    later: attachments.filter((a) => !inline.has(a)),
    attachmentCount: attachments.length,
  };
}

/** The message as one JSON with every attachment inline (fits one request only when small). */
export async function restoreMessageJson(
  mime: Buffer,
  meta: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const parsed = await simpleParser(mime);
  return messageJson(parsed, meta, parsed.attachments.map(restoreAttachment));
}

function messageJson(
  parsed: ParsedMail,
  meta: Record<string, unknown>,
  attachments: RestoreAttachment[],
): Record<string, unknown> {
  const sent = isoOr(meta.sentDateTime, parsed.date?.toISOString());
  const received = isoOr(meta.receivedDateTime, sent);
  const isRead = meta.isRead === true;
  const internetMessageId =
    typeof meta.internetMessageId === "string" ? meta.internetMessageId : parsed.messageId;
  const from = addresses(parsed.from)[0];
  const extended: Array<{ id: string; value: string }> = [
    { id: "Integer 0x0E07", value: String(isRead ? MSGFLAG_READ : 0) },
  ];
  if (received) extended.push({ id: "SystemTime 0x0E06", value: received });
  if (sent) extended.push({ id: "SystemTime 0x0039", value: sent });
  return {
    subject: parsed.subject ?? (typeof meta.subject === "string" ? meta.subject : ""),
    body:
      typeof parsed.html === "string"
        ? { contentType: "html", content: parsed.html }
        : { contentType: "text", content: parsed.text ?? "" },
    ...(from ? { from, sender: from } : {}),
    toRecipients: addresses(parsed.to),
    ccRecipients: addresses(parsed.cc),
    bccRecipients: addresses(parsed.bcc),
    ...(internetMessageId ? { internetMessageId } : {}),
    isRead,
    ...(meta.flag && typeof meta.flag === "object" ? { flag: meta.flag } : {}),
    categories: Array.isArray(meta.categories) ? meta.categories : [],
    ...(typeof meta.importance === "string" ? { importance: meta.importance } : {}),
    ...(received ? { receivedDateTime: received } : {}),
    ...(sent ? { sentDateTime: sent } : {}),
    attachments: attachments.map(attachmentJson),
    singleValueExtendedProperties: extended,
  };
}
