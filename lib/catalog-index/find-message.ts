/**
 * Finds one message by its id, or a beginning of it only one message has, in the mailboxes'
 * point-in-time views (the id `ls` and `search` print). Mailboxes are replayed a few at a time
 * until the whole id turns up (a beginning needs every mailbox, to be sure it is unique), so
 * naming the mailbox (`--mailbox`) makes it a single replay.
 */
import type { CatalogDamageError } from "../archive/errors.js";
import { mailboxViewAt, type ViewFolder, type ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import type { ArchivedMailbox } from "./directory.js";
import { ArchiveLookupError } from "./errors.js";
import { ambiguous, MIN_PREFIX, typedId } from "./id-prefix.js";

export interface FoundMessage {
  mailbox: ArchivedMailbox;
  folder: ViewFolder;
  message: ViewMessage;
  /** Damaged catalog lines met in the mailbox's replay. */
  errors: CatalogDamageError[];
}

export async function findMessage(
  store: ObjectStore,
  mailboxes: readonly ArchivedMailbox[],
  messageId: string,
  at: string,
  /** Mailboxes replayed at once. Range 1–64, default 8. */
  concurrency = 8,
): Promise<FoundMessage> {
  const id = typedId(messageId);
  let found: FoundMessage | undefined;
  const beginning: FoundMessage[] = [];
  let next = 0;
  const worker = async () => {
    while (!found && next < mailboxes.length) {
      const mailbox = mailboxes[next++]!;
      const view = await mailboxViewAt(store, mailbox.mailboxId, at);
      for (const folder of view.folders) {
        for (const message of folder.messages) {
          const hit = { mailbox, folder, message, errors: view.errors };
          if (message.messageId === id) found ??= hit;
          else if (id.length >= MIN_PREFIX && message.messageId.startsWith(id)) beginning.push(hit);
        }
      }
    }
  };
  const n = Math.max(1, Math.min(concurrency, 64, mailboxes.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (found) return found;
  if (beginning.length === 1) return beginning[0]!;
  if (beginning.length > 1) {
    throw ambiguous(
      "message",
      messageId,
      beginning.map((h) => h.message.messageId),
    );
  }
  const where = mailboxes.length === 1 ? `mailbox ${mailboxes[0]!.address}` : `${mailboxes.length} mailboxes`;
  throw new ArchiveLookupError(
    `message "${messageId}": expected the id of a message in ${where} at job ${at} (see \`mailstream ls\` or \`mailstream search\`), found none`,
  );
}
