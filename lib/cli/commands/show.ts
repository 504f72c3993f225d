/**
 * `mailstream show <message>`: where the message is and its properties (from the catalog), then
 * its headers, text body and attachments (parsed from the stored `.eml` with mailparser).
 */
import { type AddressObject, simpleParser } from "mailparser";
import { readBlob } from "../../archive/blobs.js";
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
