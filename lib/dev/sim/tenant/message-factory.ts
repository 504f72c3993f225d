/**
 * One simulated message: who wrote it to whom, in which language and charset, with which MIME
 * structure, and the Graph properties that must agree with that MIME (internetMessageId,
 * hasAttachments, bodyPreview, subject, dates).
 */
import type { EmailAddress, MessageProps, NewMessage } from "../model.js";
import { bodyText, pickTextStyle, type TextStyle } from "./content.js";
import { encodeText } from "./encoding.js";
import {
  deferredFileLikeBytes,
  largeMimeSource,
  type MimeAttachment,
  type MimeInput,
  type MimeKind,
  OnDemandMime,
} from "./mime.js";
import type { Random } from "./random.js";

/** Per-mailbox context the factory draws on; `threads` grows as messages are composed. */
export interface MessageAuthoring {
  owner: EmailAddress;
  colleagues: EmailAddress[];
  externalDomains: string[];
  /** Fraction (0–1) of messages made large (1.2–4 MiB, produced lazily). */
  largeFraction: number;
  /** Recent conversations, so replies share conversationId and reference their parent. */
  threads: Array<{ conversationId: string; messageId: string; subject: string }>;
}

export type ComposedMessage = Omit<NewMessage, keyof MessageProps>;

const MIME_KINDS: Array<{ kind: MimeKind; weight: number }> = [
  { kind: "plain", weight: 35 },
  { kind: "alternative", weight: 40 },
  { kind: "attachments", weight: 15 },
  { kind: "related", weight: 10 },
];
const ATTACHMENT_TYPES = [
  {
    ext: "pdf",
    type: "pdf",
    contentType: "application/pdf",
    names: ["Report Q3", "Invoice 2024-117", "Angebot für Müller", "Contract (signed)"],
  },
  { ext: "png", type: "png", contentType: "image/png", names: ["screenshot", "画像", "diagram v2"] },
  {
    ext: "docx",
    type: "docx",
    contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    names: ["Präsentation", "Minutes", "Proposal draft"],
  },
  {
    ext: "xlsx",
    type: "xlsx",
    contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    names: ["Budget 2025", "Zahlen & Fakten"],
  },
  { ext: "txt", type: "txt", contentType: "text/plain", names: ["notes", "readme"] },
] as const;
const SERVERS = ["DB9PR01MB7421", "AM6PR04MB5310", "CH2PR11MB4389", "TYAPR01MB2990"];
const MIB = 1024 * 1024;

function hex(rng: Random, bytes: number): string {
  return rng.bytes(bytes).toString("hex").toUpperCase();
}

function externalPerson(rng: Random, domains: string[]): EmailAddress {
  const names = ["Kim Akers", "Pat Kelly", "Mario Rossi", "Jürgen Weiß", "Élodie Martin", "Sam Taylor"];
  const name = rng.pick(names);
  const local = name
    .normalize("NFD")
    .replace(/[^A-Za-z ]/g, "")
    .toLowerCase()
    .replace(" ", ".");
  return { name, address: `${local}@${rng.pick(domains)}` };
}

/** True when `text` can be written in the style's charset (names may not fit Latin-1 or JIS). */
function encodable(text: string, style: TextStyle): boolean {
  try {
    encodeText(text, style.charset);
    return true;
  } catch {
    return false;
  }
}

/** The body text: one short line or a few paragraphs, with a greeting and the sender's name. */
function writeBody(style: TextStyle, rng: Random, from: EmailAddress, to: EmailAddress[]): string {
  const tiny = rng.chance(0.15);
  return tiny
    ? `${style.sentence(rng)}\n\n${from.name}`
    : bodyText(style, rng, `Hi ${to[0]?.name.split(" ")[0] ?? "all"}`, from.name, rng.int(1, 6));
}

/**
 * Writes the same body again on every call, from the generator position `at` that
 * {@link writeBody} started from (a module-level function, so the closure holds only these).
 */
function rewriteBody(style: TextStyle, at: Random, from: EmailAddress, to: EmailAddress[]): () => string {
  return () => writeBody(style, at.clone(), from, to);
}

function preview(text: string): string {
  const short = text.replace(/\s+/g, " ").trim().slice(0, 255);
  // A slice of a string keeps the whole string alive in V8; a copy keeps only the preview.
  return Buffer.from(short, "utf16le").toString("utf16le");
}

/**
 * Composes a message for the mailbox of `authoring.owner` in the folder with well-known name
 * `folder` (undefined for user folders). With `largeBytes`, the MIME is exactly that size.
 */
export function composeMessage(
  authoring: MessageAuthoring,
  folder: string | undefined,
  date: Date,
  rng: Random,
  largeBytes?: number,
): ComposedMessage {
  const outgoing = folder === "sentitems" || folder === "drafts";
  const someone = () =>
    rng.chance(0.6) && authoring.colleagues.length > 0
      ? rng.pick(authoring.colleagues)
      : externalPerson(rng, authoring.externalDomains);
  const from = outgoing ? authoring.owner : someone();
  const to = outgoing
    ? Array.from({ length: rng.int(1, 3) }, someone)
    : [authoring.owner, ...(rng.chance(0.2) ? [someone()] : [])];
  const cc = rng.chance(0.25) ? Array.from({ length: rng.int(1, 4) }, someone) : [];

  let style = pickTextStyle(rng);
  const reply = authoring.threads.length > 0 && rng.chance(0.3) ? rng.pick(authoring.threads) : undefined;
  const subject = reply ? `RE: ${reply.subject.replace(/^RE: /, "")}` : style.subject(rng);
  // The MIME is built later, again and again: it writes the same text anew instead of keeping it.
  const sameText = rewriteBody(style, rng.clone(), from, to);
  const text = writeBody(style, rng, from, to);
  if (!encodable(text, style) || !encodable(subject, style)) {
    // Names or a reply's subject outside the charset: send as UTF-8, as clients do.
    style = { ...style, charset: "utf-8", subjectEncoding: "utf-8" };
  }

  const server = rng.pick(SERVERS);
  const messageId = `<${server}${hex(rng, 8)}@${server}.eurprd01.prod.outlook.com>`;
  const conversationId =
    reply?.conversationId ?? `AAQkAG${Buffer.from(hex(rng, 24), "hex").toString("base64url")}`;
  const threadIndex = rng.bytes(22).toString("base64");
  if (!reply) {
    authoring.threads.push({ conversationId, messageId, subject });
    if (authoring.threads.length > 50) authoring.threads.shift();
  }
  const sent = new Date(date.getTime() - rng.int(1, 300) * 1000);
  const kind = (MIME_KINDS[rng.weightedIndex(MIME_KINDS.map((k) => k.weight))] as (typeof MIME_KINDS)[number])
    .kind;
  const base: Omit<MimeInput, "kind" | "attachments" | "inlineImage"> = {
    charset: style.charset,
    transferEncoding: rng.chance(0.7) ? "quoted-printable" : "base64",
    subject,
    subjectEncoding: style.subjectEncoding,
    from,
    to,
    cc,
    date: sent,
    messageId,
    ...(reply ? { inReplyTo: reply.messageId } : {}),
    threadIndex,
    text,
  };

  const large =
    largeBytes ?? (rng.chance(authoring.largeFraction) ? rng.int(Math.round(1.2 * MIB), 4 * MIB) : undefined);
  let mime: NewMessage["mime"];
  let hasAttachments: boolean;
  if (large !== undefined) {
    const name = `${rng.pick(["Site survey", "Backup export", "Video walkthrough", "Scans"])}.zip`;
    mime = largeMimeSource(base, { name, contentType: "application/zip" }, large, rng.uint32());
    hasAttachments = true;
  } else {
    const attachments: MimeAttachment[] =
      kind === "attachments"
        ? Array.from({ length: rng.int(1, 3) }, () => {
            const t = rng.pick(ATTACHMENT_TYPES);
            return {
              name: `${rng.pick(t.names)}.${t.ext}`,
              contentType: t.contentType,
              content: deferredFileLikeBytes(t.type, rng.int(2_000, 40_000), rng),
            };
          })
        : [];
    const inlineImage =
      kind === "related"
        ? {
            cid: `image001.png@01D${hex(rng, 3)}.${hex(rng, 4)}`,
            name: "image001.png",
            content: deferredFileLikeBytes("png", rng.int(1_000, 8_000), rng),
          }
        : undefined;
    // Built when read, never held: text and attachment bytes come again from saved generator positions.
    mime = new OnDemandMime(
      { ...base, kind, attachments, ...(inlineImage ? { inlineImage } : {}) },
      sameText,
    );
    hasAttachments = attachments.length > 0;
  }
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    internetMessageId: messageId,
    conversationId,
    subject,
    from,
    toRecipients: to,
    ccRecipients: cc,
    bccRecipients: [],
    createdDateTime: iso(date),
    receivedDateTime: iso(date),
    sentDateTime: iso(sent),
    isDraft: folder === "drafts",
    hasAttachments,
    bodyPreview: preview(text),
    mime,
  };
}
