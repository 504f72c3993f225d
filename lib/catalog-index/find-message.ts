/**
 * Finds one message by its id in the mailboxes' point-in-time views (the id `ls` and `search`
 * print). Mailboxes are replayed a few at a time until the message turns up, so naming the
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
  /** Mailboxes replayed at once. Range 1–64, default 8. */
  concurrency = 8,
): Promise<FoundMessage> {
  let found: FoundMessage | undefined;
  let next = 0;
  const worker = async () => {
    while (!found && next < mailboxes.length) {
      const mailbox = mailboxes[next++]!;
      const view = await mailboxViewAt(store, mailbox.mailboxId, at);
      for (const folder of view.folders) {
        const message = folder.messages.find((m) => m.messageId === messageId);
        if (message && !found) found = { mailbox, folder, message, errors: view.errors };
      }
    }
  };
  const n = Math.max(1, Math.min(concurrency, 64, mailboxes.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (found) return found;
  const where = mailboxes.length === 1 ? `mailbox ${mailboxes[0]!.address}` : `${mailboxes.length} mailboxes`;
  throw new ArchiveLookupError(
    `message "${messageId}": expected the id of a message in ${where} at job ${at} (see \`mailstream ls\` or \`mailstream search\`), found none`,
  );
}
