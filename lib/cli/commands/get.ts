/**
 * `mailstream get <message> [-o file]`: the message's `.eml`, byte-identical to the stored blob
 * (its SHA-256 is checked while it streams), to stdout or a file.
 */
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { type ObjectStore, readBlob } from "../../archive/index.js";
import {
  type ArchivedMailbox,
  mailboxesOf,
  requireJobs,
  resolveAt,
  resolveMailbox,
} from "../../catalog-index/directory.js";
import { type FoundMessage, findMessage } from "../../catalog-index/find-message.js";
import { type ArchiveOptions, addArchiveOptions, withArchive } from "../format/archive-options.js";
import { type CommandIO, processIO, reportCatalogErrors } from "../format/output.js";

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

export function addMessageLookupOptions(command: Command): Command {
  return addArchiveOptions(command)
    .option("-m, --mailbox <mailbox>", "the message's mailbox (address or id): faster lookup")
    .option("--at <job|date>", "point in time: latest, a job id, or a date/time (UTC)", "latest");
}

export interface GetCommandOptions extends MessageLookupOptions {
  /** `-o, --output <file>`: write the .eml here instead of stdout. */
  output?: string;
}

export async function getCommand(
  messageId: string,
  opts: GetCommandOptions,
  io: CommandIO = processIO,
): Promise<number> {
  return withArchive(opts, async (ctx) => {
    const found = await lookupMessage(ctx.archive, messageId, opts, io);
    const body = await readBlob(ctx.archive, found.message.sha256, { verify: true });
    if (opts.output) {
      await pipeline(body, createWriteStream(opts.output));
      io.err.write(
        `mailstream: wrote ${found.message.size} bytes to ${opts.output} (sha256 ${found.message.sha256})\n`,
      );
    } else {
      for await (const chunk of body) io.out.write(chunk as Buffer);
    }
    return found.errors.length > 0 ? 1 : 0;
  });
}

export function registerGet(program: Command): void {
  addMessageLookupOptions(
    program
      .command("get")
      .argument("<message>", "message id (as `ls` and `search` print it)")
      .description("Write a message's .eml, byte-identical to what was backed up, to stdout or a file"),
  )
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(async (message: string, opts: GetCommandOptions) => {
      process.exitCode = await getCommand(message, opts);
    });
}
