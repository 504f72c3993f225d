/**
 * The MIME that Exchange would generate for a message created through Graph from JSON (restore),
 * and the reading of a base64 MIME body into message properties. Exchange generates its own MIME
 * too, so this only needs to be standard and stable, not byte-identical to the source.
 */
import { randomUUID } from "node:crypto";
import { type AddressObject, simpleParser } from "mailparser";
import type { EmailAddress } from "../model.js";

export interface ComposedAttachment {
  name: string;
  contentType: string;
  content: Buffer;
  /** Shown in the body (an embedded image) rather than listed. Default false. */
  isInline?: boolean;
  /** The `Content-ID` the body refers to (`cid:`), without angle brackets. */
  contentId?: string;
}

export interface ComposeInput {
  subject: string;
  from: EmailAddress | undefined;
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
  date: string;
  internetMessageId: string;
  bodyContentType: "text" | "html";
  body: string;
  attachments: ComposedAttachment[];
}

function encodeWord(text: string): string {
  // RFC 2047 encoded-word only where needed: plain ASCII headers stay readable.
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, "utf8").toString("base64")}?=`;
}

function address(a: EmailAddress): string {
  return a.name ? `${encodeWord(a.name.replace(/"/g, ""))} <${a.address}>` : `<${a.address}>`;
}

function base64Lines(data: Buffer): string {
  return (data.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n");
}

/** One attachment as a MIME body part (headers, blank line, base64 content; no final line break). */
function attachmentPart(a: ComposedAttachment): string {
  return [
    `Content-Type: ${a.contentType}; name="${encodeWord(a.name)}"`,
    `Content-Disposition: ${a.isInline ? "inline" : "attachment"}; filename="${encodeWord(a.name)}"`,
    ...(a.contentId ? [`Content-ID: <${a.contentId.replace(/^<|>$/g, "")}>`] : []),
    "Content-Transfer-Encoding: base64",
    "",
    base64Lines(a.content),
  ].join("\r\n");
}

/** Header lines of a header block, continuation lines joined to their header. */
function headerFields(block: string): string[] {
  const fields: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += `\r\n${line}`;
    else if (line !== "") fields.push(line);
  }
  return fields;
}

/**
 * The message with one more attachment, as Exchange regenerates the MIME when an attachment is
 * added to an existing item (upload session, POST attachments). A `multipart/mixed` message gets
 * one more part; any other message becomes `multipart/mixed` with its old body as the first part.
 */
export function appendAttachment(mime: Buffer, attachment: ComposedAttachment): Buffer {
  let headerEnd = mime.indexOf("\r\n\r\n");
  let separator = 4;
  if (headerEnd < 0) {
    headerEnd = mime.indexOf("\n\n");
    separator = 2;
  }
  if (headerEnd < 0) {
    headerEnd = mime.length;
    separator = 0;
  }
  const fields = headerFields(mime.subarray(0, headerEnd).toString("latin1"));
  const body = mime.subarray(Math.min(mime.length, headerEnd + separator));
  const contentType = fields.find((f) => /^content-type:/i.test(f)) ?? "";
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const part = attachmentPart(attachment);
  if (/^content-type:\s*multipart\/mixed/i.test(contentType) && boundary) {
    const delimiter = `--${boundary[1] ?? boundary[2]}`;
    const closing = body.lastIndexOf(`${delimiter}--`);
    if (closing >= 0) {
      const at = headerEnd + separator + closing;
      return Buffer.concat([
        mime.subarray(0, at),
        Buffer.from(`${delimiter}\r\n${part}\r\n`, "utf8"),
        mime.subarray(at),
      ]);
    }
  }
  // Not multipart/mixed: the old content headers and body become the first part.
  const isContentField = (f: string) => /^content-/i.test(f);
  const outer = fields.filter((f) => !isContentField(f));
  const inner = fields.filter(isContentField);
  const newBoundary = `_mailstream_${randomUUID()}_`;
  return Buffer.concat([
    Buffer.from(
      `${[...outer, `Content-Type: multipart/mixed; boundary="${newBoundary}"`].join("\r\n")}\r\n\r\n--${newBoundary}\r\n${
        inner.length > 0 ? inner.join("\r\n") : "Content-Type: text/plain"
      }\r\n\r\n`,
      "latin1",
    ),
    body,
    Buffer.from(`\r\n--${newBoundary}\r\n${part}\r\n--${newBoundary}--\r\n`, "utf8"),
  ]);
}

export function composeMime(input: ComposeInput): Buffer {
  const headers = [
    ...(input.from ? [`From: ${address(input.from)}`] : []),
    ...(input.to.length ? [`To: ${input.to.map(address).join(", ")}`] : []),
    ...(input.cc.length ? [`Cc: ${input.cc.map(address).join(", ")}`] : []),
    ...(input.bcc.length ? [`Bcc: ${input.bcc.map(address).join(", ")}`] : []),
    `Subject: ${encodeWord(input.subject)}`,
    `Date: ${new Date(input.date).toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: ${input.internetMessageId}`,
    "MIME-Version: 1.0",
  ];
  const bodyType = input.bodyContentType === "html" ? "text/html" : "text/plain";
  const bodyPart = [
    `Content-Type: ${bodyType}; charset="utf-8"`,
    "Content-Transfer-Encoding: base64",
    "",
    base64Lines(Buffer.from(input.body, "utf8")),
  ].join("\r\n");
  if (input.attachments.length === 0)
    return Buffer.from(`${headers.join("\r\n")}\r\n${bodyPart}\r\n`, "utf8");
  const boundary = `_mailstream_${randomUUID()}_`;
  const parts = [bodyPart, ...input.attachments.map(attachmentPart)];
  const body = `${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("")}--${boundary}--\r\n`;
  return Buffer.from(
    `${headers.join("\r\n")}\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n${body}`,
    "utf8",
  );
}

export interface ParsedMimeProps {
  subject: string;
  from: EmailAddress | undefined;
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
  date: string | undefined;
  internetMessageId: string | undefined;
  bodyPreview: string;
  hasAttachments: boolean;
}

function addresses(field: AddressObject | AddressObject[] | undefined): EmailAddress[] {
  const list = Array.isArray(field) ? field : field ? [field] : [];
  return list.flatMap((o) => o.value.map((v) => ({ name: v.name ?? "", address: v.address ?? "" })));
}

/** Reads the properties Exchange derives from a MIME message (restore of a MIME body). */
export async function readMimeProps(mime: Buffer): Promise<ParsedMimeProps> {
  const parsed = await simpleParser(mime);
  return {
    subject: parsed.subject ?? "",
    from: addresses(parsed.from)[0],
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    bcc: addresses(parsed.bcc),
    date: parsed.date?.toISOString(),
    internetMessageId: parsed.messageId,
    bodyPreview: (parsed.text ?? "").replace(/\s+/g, " ").trim().slice(0, 255),
    hasAttachments: parsed.attachments.length > 0,
  };
}
