/**
 * `mailstream show <message>`: where the message is and its properties (from the catalog), then
 * its headers, text body and attachments (parsed from the stored `.eml` with mailparser).
 */
import { type AddressObject, simpleParser } from "mailparser";
import { readBlob } from "../../archive/blobs.js";
import { hasMime } from "../../archive/catalog.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, formatBytes, formatTable, processIO, writeJson } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";
import { lookupMessage, type MessageLookupOptions } from "./get.js";

export interface ShowCommandOptions extends MessageLookupOptions, ArchiveOptions {
  json?: boolean;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string {
  if (!value) return "";
  return (Array.isArray(value) ? value : [value]).map((a) => a.text).join(", ");
}

export async function showCommand(
  messageId: string,
  opts: ShowCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const found = await lookupMessage(ctx.archive, messageId, opts, io);
    const { message, folder, mailbox } = found;
    if (!hasMime(message)) {
      // Kept as its export stream only: the main fields of its kind, from the catalog.
      const fields = itemFields(message.meta);
      if (opts.json) {
        writeJson(io.out, {
          mailbox,
          folder: { folderId: folder.folderId, path: folder.path },
          message,
          fields,
        });
      } else {
        const lines = [
          `Mailbox:     ${mailbox.address}`,
          `Folder:      ${folder.path ?? folder.folderId}`,
          `Item id:     ${message.messageId}`,
          `Kind:        ${String(message.meta.kind ?? "item")} (${message.itemClass ?? "IPM.Note"})`,
          `Stored:      ${formatBytes(message.size)} export stream, sha256 ${message.sha256} (job ${message.jobId})`,
          "",
          ...fields.map(([name, value]) => `${`${name}:`.padEnd(13)}${value}`),
        ];
        io.out.write(`${lines.join("\n")}\n`);
      }
      return found.errors.length > 0 ? EXIT.damaged : EXIT.ok;
    }
    const mail = await simpleParser(await readBlob(ctx.archive, message, { verify: true }));
    const attachments = mail.attachments.map((a) => ({
      filename: a.filename ?? "(no name)",
      contentType: a.contentType,
      size: a.size,
    }));
    const meta = message.meta;
    const flag = (meta.flag as { flagStatus?: string } | undefined)?.flagStatus ?? "notFlagged";
    const categories = Array.isArray(meta.categories) ? (meta.categories as string[]) : [];
    if (opts.json) {
      writeJson(io.out, {
        mailbox,
        folder: { folderId: folder.folderId, path: folder.path },
        message,
        headers: {
          from: addresses(mail.from),
          to: addresses(mail.to),
          cc: addresses(mail.cc),
          date: mail.date?.toISOString(),
          subject: mail.subject,
          messageId: mail.messageId,
        },
        text: mail.text ?? "",
        attachments,
      });
      return found.errors.length > 0 ? EXIT.damaged : EXIT.ok;
    }
    const lines = [
      `Mailbox:     ${mailbox.address}`,
      `Folder:      ${folder.path ?? folder.folderId}`,
      `Message id:  ${message.messageId}`,
      `Stored:      ${formatBytes(message.size)}, sha256 ${message.sha256} (job ${message.jobId})`,
      `State:       ${meta.isRead ? "read" : "unread"}, flag ${flag}${categories.length ? `, categories ${categories.join(", ")}` : ""}`,
      "",
      `From:        ${addresses(mail.from)}`,
      `To:          ${addresses(mail.to)}`,
      ...(mail.cc ? [`Cc:          ${addresses(mail.cc)}`] : []),
      `Date:        ${mail.date?.toISOString() ?? "-"}`,
      `Subject:     ${mail.subject ?? ""}`,
      `Message-ID:  ${mail.messageId ?? "-"}`,
      "",
      (mail.text ?? "(no text body)").trimEnd(),
      "",
    ];
    io.out.write(`${lines.join("\n")}\n`);
    if (attachments.length > 0) {
      io.out.write(`Attachments (${attachments.length}):\n`);
      io.out.write(
        formatTable(
          ["  NAME", "TYPE", "SIZE"],
          attachments.map((a) => [`  ${a.filename}`, a.contentType, formatBytes(a.size)]),
        ),
      );
    } else io.out.write("Attachments: none\n");
    return found.errors.length > 0 ? EXIT.damaged : EXIT.ok;
  });
}

/** The main fields of an item kept as its export stream, by its kind (lib/graph/item-meta.ts). */
export function itemFields(meta: Record<string, unknown>): Array<[string, string]> {
  const text = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  const list = (v: unknown) => (Array.isArray(v) && v.length > 0 ? v.map(String).join(", ") : undefined);
  const person = (v: unknown) => {
    const e = (v as { emailAddress?: { name?: string; address?: string } } | undefined)?.emailAddress;
    if (!e) return undefined;
    return e.name && e.address ? `${e.name} <${e.address}>` : (e.name ?? e.address);
  };
  const people = (v: unknown) =>
    Array.isArray(v) && v.length > 0 ? v.map((p) => person(p) ?? "?").join(", ") : undefined;
  const recurrence = (v: unknown) => {
    const r = v as { pattern?: { type?: string; interval?: number }; range?: { type?: string } } | undefined;
    if (!r) return undefined;
    if (!r.pattern) return typeof v === "string" ? v : JSON.stringify(v);
    return `${r.pattern.type ?? "?"} every ${r.pattern.interval ?? 1}${r.range?.type ? `, ${r.range.type}` : ""}`;
  };
  const rows: Array<[string, string | undefined]> = (() => {
    switch (meta.kind) {
      case "event":
        return [
          ["Subject", text(meta.subject)],
          ["Start", text(meta.start)],
          ["End", text(meta.end)],
          ["Location", text(meta.location)],
          ["Organizer", person(meta.organizer)],
          ["Recurrence", recurrence(meta.recurrence)],
        ];
      case "contact":
        return [
          ["Name", text(meta.displayName)],
          ["Given name", text(meta.givenName)],
          ["Surname", text(meta.surname)],
          ["E-mail", list(meta.emailAddresses)],
          ["Phones", list(meta.phones)],
          ["Company", text(meta.companyName)],
        ];
      case "distributionList":
        return [["Name", text(meta.displayName)]];
      case "task":
        return [
          ["Subject", text(meta.subject)],
          ["Due", text(meta.dueDateTime)],
          ["Status", text(meta.status)],
        ];
      case "mail":
        return [
          ["Subject", text(meta.subject)],
          ["From", person(meta.from)],
          ["To", people(meta.toRecipients)],
          ["Cc", people(meta.ccRecipients)],
          ["Received", text(meta.receivedDateTime)],
          [
            "State",
            `${meta.isRead ? "read" : "unread"}, flag ${(meta.flag as { flagStatus?: string } | undefined)?.flagStatus ?? "notFlagged"}`,
          ],
        ];
      default:
        return [["Subject", text(meta.subject)]];
    }
  })();
  const categories = list(meta.categories);
  return [...rows, ["Categories", categories]].filter((r): r is [string, string] => r[1] !== undefined);
}
