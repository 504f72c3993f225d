/**
 * `mailstream export <mailbox> [folder] -o <dir> [--format mbox|eml] [--at <job|date>]`: a
 * mailbox or folder as mbox files (one per folder, mboxrd) or a tree of `.eml` files.
 */
import { type Command, InvalidArgumentError } from "commander";
import { type ExportFormat, exportSelection } from "../../export/export-messages.js";
import { createProgress } from "../../export/progress.js";
import { selectMessages } from "../../export/selection.js";
import { type ArchiveOptions, addArchiveOptions, withArchive } from "../format/archive-options.js";
import { type CommandIO, processIO, reportCatalogErrors, writeJson } from "../format/output.js";

export interface ExportCommandOptions extends ArchiveOptions {
  /** `-o, --output <dir>`: output folder (created). Required. */
  output: string;
  /** `--format`: mbox (default) or eml. */
  format?: ExportFormat;
  /** `--at`: "latest" (default), a job id, or a date/time. */
  at?: string;
  json?: boolean;
}

export async function exportCommand(
  mailbox: string,
  folder: string | undefined,
  opts: ExportCommandOptions,
  io: CommandIO = processIO,
): Promise<number> {
  return withArchive(opts, async (ctx) => {
    const selection = await selectMessages(ctx.archive, {
      mailbox,
      ...(folder !== undefined ? { folder } : {}),
      ...(opts.at !== undefined ? { at: opts.at } : {}),
    });
    const damaged = reportCatalogErrors(io.err, selection.view.errors);
    const progress = createProgress("export", io.err);
    const result = await exportSelection(ctx.archive, selection, {
      format: opts.format ?? "mbox",
      outDir: opts.output,
      onProgress: (d, t) => progress.update(d, t),
    });
    progress.stop();
    const summary = {
      mailbox: selection.mailbox.address,
      jobId: selection.jobId,
      output: opts.output,
      ...result,
    };
    if (opts.json) writeJson(io.out, summary);
    else {
      io.out.write(
        `exported ${result.messages} messages (${result.bytes} bytes) of ${selection.mailbox.address} at job ${selection.jobId} into ${result.files.length} ${opts.format === "eml" ? ".eml files" : "mbox files"} under ${opts.output}\n`,
      );
    }
    return damaged > 0 ? 1 : 0;
  });
}

function format(value: string): ExportFormat {
  if (value !== "mbox" && value !== "eml") {
    throw new InvalidArgumentError(`--format: expected mbox or eml, found "${value}"`);
  }
  return value;
}

export function registerExport(program: Command): void {
  addArchiveOptions(
    program
      .command("export")
      .argument("<mailbox>", "mailbox address or id")
      .argument("[folder]", "folder path or id (default: every folder)")
      .description(
        "Export a mailbox or folder, at any point in time, as mbox files (one per folder) or .eml files",
      ),
  )
    .requiredOption("-o, --output <dir>", "output folder (created when missing)")
    .option(
      "-f, --format <format>",
      "mbox (mboxrd, one file per folder) or eml (a folder tree)",
      format,
      "mbox",
    )
    .option("--at <job|date>", "point in time: latest, a job id, or a date/time (UTC)", "latest")
    .option("--json", "print the summary as JSON")
    .action(async (mailbox: string, folder: string | undefined, opts: ExportCommandOptions) => {
      process.exitCode = await exportCommand(mailbox, folder, opts);
    });
}
