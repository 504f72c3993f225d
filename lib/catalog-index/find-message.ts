/**
 * Finds one message by its id in the mailboxes' point-in-time views (the id `ls` and `search`
 * print). Mailboxes are replayed one after another until the message turns up, so naming the
 * mailbox (`--mailbox`) makes it a single replay.
 */
import {
  type CatalogLineError,
  mailboxViewAt,
  type ObjectStore,
  type ViewFolder,
  type ViewMessage,
} from "../archive/index.js";
import type { ArchivedMailbox } from "./directory.js";
import { ArchiveLookupError } from "./errors.js";

export interface FoundMessage {
  mailbox: ArchivedMailbox;
  folder: ViewFolder;
  message: ViewMessage;
  /** Damaged catalog lines met in the mailbox's replay. */
  errors: CatalogLineError[];
}

export async function findMessage(
  store: ObjectStore,
  mailboxes: readonly ArchivedMailbox[],
  messageId: string,
  at: string,
): Promise<FoundMessage> {
  for (const mailbox of mailboxes) {
    const view = await mailboxViewAt(store, mailbox.mailboxId, at);
    for (const folder of view.folders) {
      const message = folder.messages.find((m) => m.messageId === messageId);
      if (message) return { mailbox, folder, message, errors: view.errors };
    }
  }
  const where = mailboxes.length === 1 ? `mailbox ${mailboxes[0]!.address}` : `${mailboxes.length} mailboxes`;
  throw new ArchiveLookupError(
    `message "${messageId}": expected the id of a message in ${where} at job ${at} (see \`mailstream ls\` or \`mailstream search\`), found none`,
  );
}
