/**
 * Realistic MIME for simulated messages, with CRLF line endings and Exchange-like headers.
 *
 * Small messages are built whole ({@link buildMime}), each time they are read ({@link OnDemandMime})
 * rather than held; large ones ({@link largeMimeSource}) are headers plus a base64 attachment
 * produced chunk by chunk from a seeded generator. Both know their exact size up front.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { EmailAddress, MimeSource } from "../model.js";
import {
  base64Body,
  type Charset,
  encodeHeaderWords,
  encodeIso2022JpWord,
  encodeLatin1Word,
  encodeText,
  quotedPrintable,
} from "./encoding.js";
import { Random, seedFrom } from "./random.js";

/** The MIME structures the generator produces. */
export type MimeKind = "plain" | "alternative" | "attachments" | "related";

/**
 * Content that is produced only when the MIME is built: its size is known up front, so a
 * message's size can be computed without producing (or holding) the bytes.
 */
export interface DeferredBytes {
  /** Exact length in bytes of what {@link bytes} returns. */
  size: number;
  /** The same bytes on every call. */
  bytes(): Buffer;
}

export interface MimeAttachment {
  name: string;
  contentType: string;
  content: DeferredBytes;
}

export interface MimeInput {
  kind: MimeKind;
  /** Charset of the text parts; iso-2022-jp bodies are sent 7bit, others per `transferEncoding`. */
  charset: Charset;
  transferEncoding: "quoted-printable" | "base64";
  subject: string;
  /** How the subject is encoded when it is not ASCII: UTF-8 B words, Latin-1 Q words or ISO-2022-JP B words. */
  subjectEncoding?: "utf-8" | "iso-8859-1" | "iso-2022-jp";
  from: EmailAddress;
  to: EmailAddress[];
  cc: EmailAddress[];
  date: Date;
  /** With angle brackets, as in the Message-ID header and `internetMessageId`. */
  messageId: string;
  inReplyTo?: string;
  /** Thread-Index header value (base64). */
  threadIndex: string;
  /** The plain-text body; the HTML part (when any) is derived from it. */
  text: string;
  /** File attachments (kind "attachments"). */
  attachments: MimeAttachment[];
  /** Inline image referenced from the HTML by Content-ID (kind "related"). */
  inlineImage?: { cid: string; name: string; content: DeferredBytes };
}

const CRLF = "\r\n";
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 date, as Exchange writes it (UTC, "+0000"). */
export function rfc5322Date(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${WEEKDAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

function formatAddress(a: EmailAddress): string {
  if (!a.name) return `<${a.address}>`;
  const name = /^[\x20-\x7e]*$/.test(a.name)
    ? `"${a.name.replace(/["\\]/g, "")}"`
    : encodeHeaderWords(a.name);
  return `${name} <${a.address}>`;
}

/** Address list folded one address per line, as Exchange does for long lists. */
function addressList(list: EmailAddress[]): string {
  return list.map(formatAddress).join(`,${CRLF}\t`);
}

/** What a received message's transport headers are built from. */
export interface TransportHeaderInput {
  from: EmailAddress;
  to: EmailAddress[];
  cc: EmailAddress[];
  subject: string;
  messageId: string;
  sent: Date;
  received: Date;
}

/**
 * A received message's header block as the store keeps it (PidTagTransportMessageHeaders): the
 * transport's trace line, then the message's own headers as they arrived (addresses folded and
 * names encoded as in the MIME); the blank line that ends a header block is not part of it.
 */
export function transportHeaderBlock(input: TransportHeaderInput): string {
  const subject = /^[\x20-\x7e]*$/.test(input.subject) ? input.subject : encodeHeaderWords(input.subject);
  return [
    `Received: from mail.sim.test (10.0.0.1) by exchange.sim.test with ESMTP; ${rfc5322Date(input.received)}`,
    `From: ${formatAddress(input.from)}`,
    ...(input.to.length > 0 ? [`To: ${addressList(input.to)}`] : []),
    ...(input.cc.length > 0 ? [`CC: ${addressList(input.cc)}`] : []),
    `Subject: ${subject}`,
    `Date: ${rfc5322Date(input.sent)}`,
    `Message-ID: ${input.messageId}`,
    "MIME-Version: 1.0",
    "",
  ].join(CRLF);
}

function encodeSubject(input: MimeInput): string {
  if (/^[\x20-\x7e]*$/.test(input.subject)) return input.subject;
  if (input.subjectEncoding === "iso-8859-1") return encodeLatin1Word(input.subject);
  if (input.subjectEncoding === "iso-2022-jp") return encodeIso2022JpWord(input.subject);
  return encodeHeaderWords(input.subject);
}

/** Deterministic Exchange-style boundary ("_000_…_") from the message id and a part label. */
function boundary(messageId: string, label: string): string {
  const tag = createHash("sha256").update(messageId).update(label).digest("hex").slice(0, 24).toUpperCase();
  return `_${label}_${tag}_`;
}

function topHeaders(input: MimeInput, hasAttachments: boolean): string[] {
  const lines = [
    `From: ${formatAddress(input.from)}`,
    `To: ${addressList(input.to)}`,
    ...(input.cc.length > 0 ? [`CC: ${addressList(input.cc)}`] : []),
    `Subject: ${encodeSubject(input)}`,
    `Thread-Topic: ${encodeSubject({ ...input, subject: input.subject.replace(/^(RE|FW|AW|WG): /i, "") })}`,
    `Thread-Index: ${input.threadIndex}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${input.messageId}`,
    ...(input.inReplyTo ? [`References: ${input.inReplyTo}`, `In-Reply-To: ${input.inReplyTo}`] : []),
    "Accept-Language: en-US",
    "Content-Language: en-US",
    `X-MS-Has-Attach: ${hasAttachments ? "yes" : ""}`,
    "X-MS-TNEF-Correlator: ",
  ];
  return lines;
}

function textPart(text: string, subtype: "plain" | "html", input: MimeInput): string {
  const crlfText = text.replace(/\r?\n/g, CRLF);
  if (input.charset === "iso-2022-jp") {
    return [
      `Content-Type: text/${subtype}; charset="iso-2022-jp"`,
      "Content-Transfer-Encoding: 7bit",
      "",
      encodeText(crlfText, "iso-2022-jp").toString("latin1"),
      "",
    ].join(CRLF);
  }
  const bytes = encodeText(crlfText, input.charset);
  const body = input.transferEncoding === "base64" ? base64Body(bytes).slice(0, -2) : quotedPrintable(bytes);
  return [
    `Content-Type: text/${subtype}; charset="${input.charset}"`,
    `Content-Transfer-Encoding: ${input.transferEncoding}`,
    "",
    body,
    "",
  ].join(CRLF);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function htmlOf(text: string, charset: Charset, inlineCid?: string): string {
  const paragraphs = text
    .split(/\r?\n\r?\n/)
    .map((p) => `<p>${escapeHtml(p).replace(/\r?\n/g, "<br>\n")}</p>`)
    .join("\n");
  const image = inlineCid ? `\n<p><img src="cid:${inlineCid}" width="120" height="40" alt="logo"></p>` : "";
  return `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=${charset}">\n</head>\n<body>\n${paragraphs}${image}\n</body>\n</html>\n`;
}

/** How an attachment's base64 body is written: the real encoding, or only its length (for sizes). */
type AttachmentBody = (content: DeferredBytes) => string;

const realBody: AttachmentBody = (content) => base64Body(content.bytes());
/** A stand-in of exactly the length of the base64 body, so the MIME's length comes out exact. */
const sameLengthBody: AttachmentBody = (content) =>
  "A".repeat(base64BodyLength(4 * Math.ceil(content.size / 3)));

function attachmentPart(
  a: { name: string; contentType: string; content: DeferredBytes },
  body: AttachmentBody,
  inlineCid?: string,
): string {
  const encodedName = /^[\x20-\x7e]*$/.test(a.name)
    ? `"${a.name}"`
    : `"${encodeHeaderWords(a.name).replace(/\r\n /g, " ")}"`;
  return [
    `Content-Type: ${a.contentType}; name=${encodedName}`,
    `Content-Description: ${encodeHeaderWords(a.name).replace(/\r\n /g, " ")}`,
    `Content-Disposition: ${inlineCid ? "inline" : "attachment"}; filename=${encodedName}; size=${a.content.size}`,
    ...(inlineCid ? [`Content-ID: <${inlineCid}>`] : []),
    "Content-Transfer-Encoding: base64",
    "",
    body(a.content),
  ].join(CRLF);
}

function multipart(
  subtype: string,
  b: string,
  parts: string[],
  extra = "",
): { header: string; body: string } {
  return {
    header: `Content-Type: multipart/${subtype};${CRLF}\tboundary="${b}"${extra}`,
    body: `${parts.map((p) => `--${b}${CRLF}${p}`).join(CRLF)}${CRLF}--${b}--${CRLF}`,
  };
}

/** The whole MIME of a small message. */
export function buildMime(input: MimeInput): Buffer {
  return Buffer.from(mimeText(input, realBody), "latin1");
}

/**
 * Exact length in bytes of {@link buildMime}'s result, without producing attachment content or
 * encoding it (the text is latin1: one byte per character).
 */
export function mimeLength(input: MimeInput): number {
  return mimeText(input, sameLengthBody).length;
}

function mimeText(input: MimeInput, body: AttachmentBody): string {
  const hasAttachments = input.kind === "attachments" && input.attachments.length > 0;
  const plain = textPart(input.text, "plain", input);
  let content: { header: string; body: string };
  switch (input.kind) {
    case "plain": {
      const [header, ...rest] = plain.split(CRLF);
      const [cte, , ...body] = rest;
      content = { header: `${header}${CRLF}${cte}`, body: body.join(CRLF) };
      break;
    }
    case "alternative":
      content = multipart("alternative", boundary(input.messageId, "000"), [
        plain,
        textPart(htmlOf(input.text, input.charset), "html", input),
      ]);
      break;
    case "related": {
      const cid = input.inlineImage?.cid ?? "image001.png@01D00000.00000000";
      const html = textPart(htmlOf(input.text, input.charset, cid), "html", input);
      const image = input.inlineImage
        ? [attachmentPart({ ...input.inlineImage, contentType: "image/png" }, body, cid)]
        : [];
      const related = multipart(
        "related",
        boundary(input.messageId, "004"),
        [html, ...image],
        `;${CRLF}\ttype="text/html"`,
      );
      const alternative = multipart("alternative", boundary(input.messageId, "000"), [
        plain,
        `${related.header}${CRLF}${CRLF}${related.body}`,
      ]);
      content = alternative;
      break;
    }
    case "attachments": {
      const alternative = multipart("alternative", boundary(input.messageId, "000"), [
        plain,
        textPart(htmlOf(input.text, input.charset), "html", input),
      ]);
      content = multipart("mixed", boundary(input.messageId, "005"), [
        `${alternative.header}${CRLF}${CRLF}${alternative.body}`,
        ...input.attachments.map((a) => attachmentPart(a, body)),
      ]);
      break;
    }
  }
  const headers = [...topHeaders(input, hasAttachments), content.header, "MIME-Version: 1.0"].join(CRLF);
  return `${headers}${CRLF}${CRLF}${content.body}`;
}

/**
 * A small message's MIME, built from its {@link MimeInput} each time it is read instead of held:
 * a tenant of 40,000 messages then keeps no MIME buffers, only their recipes. Its `kind` is
 * "bytes" so that every reader of {@link MimeSource} works unchanged; each read of `bytes` builds
 * a fresh, byte-identical buffer. `size` is exact and computed without building.
 */
export class OnDemandMime {
  readonly kind = "bytes" as const;
  /** Exact length in bytes of `bytes`. */
  readonly size: number;
  declare readonly bytes: Buffer;

  /**
   * @param input the message's input, used once here for the size
   * @param text gives `input.text` again on every call, so that the text need not be kept
   */
  constructor(input: MimeInput, text: () => string = constant(input.text)) {
    this.size = mimeLength(input);
    const { text: _text, ...recipe } = input;
    // An own enumerable getter, so that a spread copy of the source still carries its bytes.
    Object.defineProperty(this, "bytes", {
      enumerable: true,
      get: () => buildMime({ ...recipe, text: text() }),
    });
  }
}

function constant<T>(value: T): () => T {
  return () => value;
}

/** Size of `encodedChars` base64 characters written in CRLF-terminated lines of 76. */
function base64BodyLength(encodedChars: number): number {
  return encodedChars + 2 * Math.ceil(encodedChars / 76);
}

/** Raw bytes per generated chunk: a multiple of 57 so each chunk encodes to whole 76-character lines. */
const RAW_CHUNK = 57 * 4096;

/**
 * A large message of exactly `totalBytes`: a short text part and one base64 attachment whose
 * bytes come from a seeded generator, chunk by chunk, so opening it twice gives the same bytes.
 */
export function largeMimeSource(
  input: Omit<MimeInput, "kind" | "attachments" | "inlineImage">,
  attachment: { name: string; contentType: string },
  totalBytes: number,
  seed: number,
): MimeSource {
  const b = boundary(input.messageId, "005");
  const head = [
    ...topHeaders({ ...input, kind: "attachments", attachments: [] }, true),
    `Content-Type: multipart/mixed;${CRLF}\tboundary="${b}"`,
    "MIME-Version: 1.0",
    "",
    "",
  ].join(CRLF);
  const partHead = [
    "",
    `--${b}`,
    textPart(input.text, "plain", { ...input, kind: "plain", attachments: [] }),
    `--${b}`,
    `Content-Type: ${attachment.contentType}; name="${attachment.name}"`,
    `Content-Description: ${attachment.name}`,
    `Content-Disposition: attachment; filename="${attachment.name}"`,
    "Content-Transfer-Encoding: base64",
    "",
    "",
  ].join(CRLF);
  const preamble = "This is a multi-part message in MIME format.";
  const tail = `--${b}--${CRLF}`;
  const fixed = Buffer.byteLength(head + preamble + partHead + tail, "latin1");
  const room = totalBytes - fixed;
  if (room < 80)
    throw new RangeError(`largeMimeSource: expected a size above ${fixed + 80} bytes, found ${totalBytes}`);
  // Largest whole base64 body (multiple of 4 characters) that fits; the few bytes left pad the preamble.
  let encoded = Math.floor((room * 76) / 78 / 4) * 4;
  while (base64BodyLength(encoded) > room) encoded -= 4;
  const pad = room - base64BodyLength(encoded);
  const prefix = Buffer.from(`${head}${preamble}${".".repeat(pad)}${partHead}`, "latin1");
  const suffix = Buffer.from(tail, "latin1");
  const rawBytes = (encoded / 4) * 3;

  function* chunks(): Generator<Buffer> {
    yield prefix;
    for (let offset = 0, index = 0; offset < rawBytes; offset += RAW_CHUNK, index++) {
      const raw = new Random(seedFrom(seed, index)).bytes(Math.min(RAW_CHUNK, rawBytes - offset));
      yield Buffer.from(base64Body(raw), "latin1");
    }
    yield suffix;
  }
  return { kind: "generated", size: totalBytes, open: () => Readable.from(chunks(), { objectMode: false }) };
}

export type FileLikeType = "pdf" | "png" | "jpg" | "docx" | "xlsx" | "txt";

const FILE_MAGIC: Record<FileLikeType, Buffer> = {
  pdf: Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "latin1"),
  png: Buffer.from("89504e470d0a1a0a0000000d49484452000000780000002808060000", "hex"),
  jpg: Buffer.from("ffd8ffe000104a46494600010101004800480000", "hex"),
  docx: Buffer.from("504b0304140006000800000021", "hex"),
  xlsx: Buffer.from("504b0304140006000800000021", "hex"),
  txt: Buffer.from("Notes\r\n", "latin1"),
};

/** Attachment bytes that start like the real file type (so type sniffers agree), then noise. */
export function fileLikeBytes(type: FileLikeType, size: number, rng: Random): Buffer {
  const head = FILE_MAGIC[type];
  const out = Buffer.alloc(Math.max(size, head.length));
  head.copy(out);
  if (type === "txt") out.fill("lorem ipsum dolor sit amet\r\n", head.length);
  else rng.fill(out.subarray(head.length));
  if (type === "pdf" && out.length > 16) out.write("\n%%EOF\n", out.length - 7, "latin1");
  return out;
}

/**
 * The bytes {@link fileLikeBytes} would give at this point of `rng`, produced only when asked
 * for. `rng` moves on exactly as if they had been produced now, so the draws after it (and so
 * the whole tenant) are the same as with eager bytes.
 */
export function deferredFileLikeBytes(type: FileLikeType, size: number, rng: Random): DeferredBytes {
  const at = rng.clone();
  const length = Math.max(size, FILE_MAGIC[type].length);
  // fill() draws one 32-bit word per started 4 bytes of noise; text files draw nothing.
  if (type !== "txt") rng.skip(Math.ceil((length - FILE_MAGIC[type].length) / 4));
  return { size: length, bytes: () => fileLikeBytes(type, size, at.clone()) };
}
