/**
 * `mailstream get <message> [-o file]`: the message's `.eml`, byte-identical to the stored blob,
 * to stdout or a new file, handed over only after its SHA-256 matched (export/verified-output.ts).
 */
import type { ObjectStore } from "../../archive/store.js";
import {
  type ArchivedMailbox,
  mailboxesOf,
  requireJobs,
  resolveAt,
  resolveMailbox,
} from "../../catalog-index/directory.js";
import { type FoundMessage, findMessage } from "../../catalog-index/find-message.js";
import { assertNewFile, blobToNewFile, blobToStream } from "../../export/verified-output.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, reportCatalogErrors } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

export interface MessageLookupOptions extends ArchiveOptions {
  /** `--mailbox`: address or id; narrows the lookup to one mailbox (one replay instead of many). */
  mailbox?: string;
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
}

/** Resolves `--mailbox`/`--at` and finds the message; damaged lines are reported to `io.err`. */
export async function lookupMessage(
  store: ObjectStore,
  messageId: string,
  opts: MessageLookupOptions,
  io: CommandIO,
): Promise<FoundMessage> {
  const jobs = await requireJobs(store);
  const all = mailboxesOf(jobs);
  const at = resolveAt(jobs, opts.at);
  const mailboxes: ArchivedMailbox[] = opts.mailbox ? [resolveMailbox(all, opts.mailbox)] : all;
  const found = await findMessage(store, mailboxes, messageId, at);
  reportCatalogErrors(io.err, found.errors);
  return found;
}

export interface GetCommandOptions extends MessageLookupOptions {
  /** `-o, --output <file>`: write the .eml to this new file instead of stdout. */
  output?: string;
}

export async function getCommand(
  messageId: string,
  opts: GetCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  // Refused before any lookup: a wrong output must not cost a replay of every mailbox first.
  if (opts.output !== undefined) assertNewFile(opts.output);
  return withArchive(opts, async (ctx) => {
    const found = await lookupMessage(ctx.archive, messageId, opts, io);
    const { sha256, size } = found.message;
    if (opts.output) {
      await blobToNewFile(ctx.archive, found.message, opts.output);
      io.err.write(`mailstream: wrote ${size} bytes to ${opts.output} (sha256 ${sha256} checked)\n`);
    } else {
      await blobToStream(ctx.archive, found.message, size, io.out);
    }
    return found.errors.length > 0 ? EXIT.damaged : EXIT.ok;
  });
}
