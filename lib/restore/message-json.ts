/**
 * A backed-up message as the JSON that re-creates it as received mail (not a draft): body,
 * recipients and attachments from the MIME, read state/flag/categories from the catalog, and the
 * extended properties that only take effect at creation (message flags without the unsent bit,
 * received and sent times).
 */
import { type AddressObject, simpleParser } from "mailparser";

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

export async function restoreMessageJson(
  mime: Buffer,
  meta: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const parsed = await simpleParser(mime);
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
    attachments: parsed.attachments.map((a) => ({
      "@odata.type": "#microsoft.graph.fileAttachment",
      name: a.filename ?? "attachment",
      contentType: a.contentType,
      isInline: a.contentDisposition === "inline",
      ...(a.cid ? { contentId: a.cid } : {}),
      contentBytes: a.content.toString("base64"),
    })),
    singleValueExtendedProperties: extended,
  };
}
