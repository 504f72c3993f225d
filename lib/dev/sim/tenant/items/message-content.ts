/**
 * A mail message as an item: its Graph properties as MAPI properties, its recipients, and its
 * MIME byte for byte, so that a message exported and imported is the same message to the
 * message endpoints (`/messages/{id}` and `$value`).
 */
import type { LazyBytes, Property } from "../../item-model.js";
import type { EmailAddress, FlagStatus, Importance, NewMessage, SimMessage } from "../../model.js";
import { numberOf, props, propValue, stringOf } from "./content.js";
import { P } from "./properties.js";
import type { ExportedItem, ItemRecord } from "./stream.js";

export const MESSAGE_CLASS = "IPM.Note";

const IMPORTANCE: readonly Importance[] = ["low", "normal", "high"];
const FLAG_STATUS: Record<FlagStatus, number> = { notFlagged: 0, complete: 1, flagged: 2 };
/** PidTagMessageFlags bits. */
export const MessageFlagBits = { read: 0x1, unsent: 0x8, hasAttachment: 0x10 } as const;
/** PidTagRecipientType: To, Cc, Bcc. */
const RECIPIENT_TYPES = { to: 1, cc: 2, bcc: 3 } as const;

export function messageRecord(message: SimMessage): ItemRecord {
  return {
    itemClass: MESSAGE_CLASS,
    createdDateTime: message.createdDateTime,
    lastModifiedDateTime: message.lastModifiedDateTime,
    categories: [...message.categories],
  };
}

function recipientProps(type: number, a: EmailAddress): Property[] {
  return props([P.recipientType, type], [P.displayName, a.name], [P.smtpAddress, a.address]);
}

/** A message as an exported item; `mime` is its MIME (its `size` must be the message's size). */
export function messageItem(message: SimMessage, mime: LazyBytes): ExportedItem {
  const flags =
    (message.isRead ? MessageFlagBits.read : 0) |
    (message.isDraft ? MessageFlagBits.unsent : 0) |
    (message.hasAttachments ? MessageFlagBits.hasAttachment : 0);
  return {
    record: messageRecord(message),
    content: {
      props: props(
        [P.subject, message.subject],
        [P.importance, IMPORTANCE.indexOf(message.importance)],
        [P.flagStatus, FLAG_STATUS[message.flag.flagStatus]],
        [P.messageFlags, flags],
        [P.messageDeliveryTime, message.receivedDateTime],
        [P.clientSubmitTime, message.sentDateTime],
        [P.internetMessageId, message.internetMessageId],
        [P.sentRepresentingName, message.from.name],
        [P.sentRepresentingSmtpAddress, message.from.address],
        [P.conversationId, message.conversationId],
        [P.bodyPreview, message.bodyPreview],
        [P.mimeContent, mime],
      ),
      recipients: [
        ...message.toRecipients.map((a) => recipientProps(RECIPIENT_TYPES.to, a)),
        ...message.ccRecipients.map((a) => recipientProps(RECIPIENT_TYPES.cc, a)),
        ...message.bccRecipients.map((a) => recipientProps(RECIPIENT_TYPES.bcc, a)),
      ],
      attachments: [],
    },
  };
}

function recipientsOfType(item: ExportedItem, type: number): EmailAddress[] {
  return item.content.recipients
    .filter((r) => numberOf(r, P.recipientType) === type)
    .map((r) => ({ name: stringOf(r, P.displayName) ?? "", address: stringOf(r, P.smtpAddress) ?? "" }));
}

/** The message an imported IPM.Note stream describes; throws when a property it needs is missing. */
export function messageFromItem(item: ExportedItem): NewMessage {
  const list = item.content.props;
  const required = (name: string, value: string | undefined): string => {
    if (value === undefined) throw new RangeError(`message stream: expected ${name}, found none`);
    return value;
  };
  const mime = propValue(list, P.mimeContent);
  if (!Buffer.isBuffer(mime)) throw new RangeError("message stream: expected the MIME content, found none");
  const flags = numberOf(list, P.messageFlags) ?? 0;
  const flagStatus = (Object.keys(FLAG_STATUS) as FlagStatus[]).find(
    (k) => FLAG_STATUS[k] === (numberOf(list, P.flagStatus) ?? 0),
  );
  return {
    isRead: (flags & MessageFlagBits.read) !== 0,
    flag: { flagStatus: flagStatus ?? "notFlagged" },
    categories: [...item.record.categories],
    importance: IMPORTANCE[numberOf(list, P.importance) ?? 1] ?? "normal",
    internetMessageId: required("internetMessageId", stringOf(list, P.internetMessageId)),
    conversationId: stringOf(list, P.conversationId) ?? "",
    subject: stringOf(list, P.subject) ?? "",
    from: {
      name: stringOf(list, P.sentRepresentingName) ?? "",
      address: stringOf(list, P.sentRepresentingSmtpAddress) ?? "",
    },
    toRecipients: recipientsOfType(item, RECIPIENT_TYPES.to),
    ccRecipients: recipientsOfType(item, RECIPIENT_TYPES.cc),
    bccRecipients: recipientsOfType(item, RECIPIENT_TYPES.bcc),
    createdDateTime: item.record.createdDateTime,
    lastModifiedDateTime: item.record.lastModifiedDateTime,
    receivedDateTime: required("receivedDateTime", stringOf(list, P.messageDeliveryTime)),
    sentDateTime: required("sentDateTime", stringOf(list, P.clientSubmitTime)),
    isDraft: (flags & MessageFlagBits.unsent) !== 0,
    hasAttachments: (flags & MessageFlagBits.hasAttachment) !== 0,
    bodyPreview: stringOf(list, P.bodyPreview) ?? "",
    mime: { kind: "bytes", bytes: mime },
  };
}
