/**
 * The `mailstream` command line: every command's options and help. It lives in lib/dev because
 * it also wires the development commands `run` (the local runtime) and `sim` (the simulator),
 * which production code never imports (docs/architecture.md); the production commands are
 * lib/cli/commands, loaded when they run. A start loads only this
 * module, commander and the option parsers; what a command does (commands/, the local runtime,
 * the simulator) is imported when that command runs, so `--help` and the archive commands start
 * fast. Every failure ends as one line on stderr and an exit code of lib/cli/failure.ts.
 */
import { Command } from "commander";
import { type ExitCode, handleFailure, installProcessGuards } from "../../cli/failure.js";
import {
  addArchiveOptions,
  addAtOption,
  addSearchFilterOptions,
  integer,
  nonNegativeInt,
  oneOf,
} from "../../cli/options.js";
import { registerSim } from "./sim-options.js";

installProcessGuards();

/** Runs a command's implementation and ends the process with the exit code it returned. */
function act<A extends unknown[]>(run: (...args: A) => Promise<ExitCode | undefined>) {
  return async (...args: A): Promise<void> => {
    const code = await run(...args);
    if (code !== undefined) process.exitCode = code;
  };
}

const SHAPES = ["demo", "uniform", "skewed", "giant", "many-small"] as const;

const program = new Command()
  .name("mailstream")
  .description("Backup of Exchange Online mailboxes into S3: run, browse, export and restore")
  .option("--debug", "on failure, print the stack trace as well (also MAILSTREAM_DEBUG=1)")
  // Parse errors end as one line through handleFailure, like every other failure; subcommands
  // made after these calls inherit them.
  .exitOverride()
  .configureOutput({ outputError: () => {} })
  .addHelpText(
    "after",
    `
Exit codes: 0 done; 1 the job or command ended with errors it reported; 64 usage (bad option or
argument); 65 damaged data in the archive; 66 not found (archive, job, mailbox, folder, message);
69 a service is unreachable; 70 internal error; 73 an output cannot be created; 75 busy (the data
folder is in use); 77 access denied (credentials refused); 78 configuration.`,
  );

program
  .command("run")
  .description(
    "Run a complete backup locally: the simulated tenant, the AWS emulators, the coordinator and the controllers. A second run is incremental.",
  )
  .option(
    "-d, --data <dir>",
    "data folder (tenant, state, archive); default .mailstream (.mailstream-tenant for a real tenant)",
  )
  .option(
    "--tenant-config <file>",
    "back up a REAL tenant: JSON configuration with tenant, clientId and credentials",
  )
  .option("--real-tenant", "back up a REAL tenant configured by MAILSTREAM_* environment variables")
  .option(
    "-s, --streams <n>",
    "streams at most (1–64); default MAILSTREAM_STREAMS_MAX, else 8",
    integer("--streams", 1, 64),
  )
  .option(
    "--shape <shape>",
    `tenant preset for a new data folder: ${SHAPES.join(", ")}`,
    oneOf("--shape", SHAPES),
    "demo",
  )
  .option("--json", "print the job report as JSON instead of the summary")
  .option("--log", "write the pipeline's structured JSON logs to stdout (level: MAILSTREAM_LOG_LEVEL)")
  .addHelpText(
    "after",
    `
Configuration: the same as everywhere (lib/config): MAILSTREAM_CONFIG_FILE, MAILSTREAM_STREAMS_MAX,
MAILSTREAM_PAGE_SIZE, MAILSTREAM_LOG_LEVEL, MAILSTREAM_INCLUDE/EXCLUDE, …; a bad value stops the run
before anything starts. One run at a time per data folder: a second one says which process holds it.`,
  )
  .action(
    act(async (opts) => {
      const { runLocalCommand } = await import("./run-command.js");
      return runLocalCommand(opts);
    }),
  );

registerSim(program);

addArchiveOptions(
  program
    .command("jobs")
    .description("List the archive's backup jobs: status, start, duration, mailboxes, items, bytes, errors"),
)
  .option("--json", "print the jobs as JSON")
  .action(
    act(async (opts) => {
      const { jobsCommand } = await import("../../cli/commands/jobs.js");
      return jobsCommand(opts);
    }),
  );

addArchiveOptions(
  program
    .command("status")
    .argument("[job]", "job id or its unique beginning (default: the running job, else the newest)")
    .description(
      "Live progress of a job (overall and per stream) until it ends, from the state table when reachable; otherwise the job's last report",
    ),
)
  .option(
    "--refresh-ms <ms>",
    "milliseconds between refreshes (100–60000)",
    integer("--refresh-ms", 100, 60_000),
    1000,
  )
  .option("--once", "print the current progress once and return")
  .option("--json", "print JSON")
  .action(
    act(async (job, opts) => {
      const { statusCommand } = await import("../../cli/commands/status.js");
      return statusCommand(job, opts);
    }),
  );

addAtOption(
  addArchiveOptions(
    program
      .command("ls")
      .argument("[mailbox]", "mailbox address or id: list its folders")
      .argument("[folder]", "folder path (e.g. Inbox/Projects), name or id: list its messages")
      .description(
        "List backed-up mailboxes; a mailbox's folders (tree, with counts); a folder's messages (newest first, paged)",
      ),
  ),
)
  .option("--limit <n>", "messages shown at most (0–100000)", nonNegativeInt("--limit", 100_000), 50)
  .option("--offset <n>", "messages skipped first", nonNegativeInt("--offset", Number.MAX_SAFE_INTEGER), 0)
  .option("--json", "print JSON")
  .action(
    act(async (mailbox, folder, opts) => {
      const { lsCommand } = await import("../../cli/commands/ls.js");
      return lsCommand(mailbox, folder, opts);
    }),
  );

/** `-m/--mailbox` and `--at` of the commands that look up one message. */
function addMessageLookupOptions(command: Command): Command {
  return addAtOption(addArchiveOptions(command)).option(
    "-m, --mailbox <mailbox>",
    "the message's mailbox (address or id): faster lookup",
  );
}

addMessageLookupOptions(
  program
    .command("show")
    .argument("<message>", "message id (as `ls` and `search` print it), or its unique beginning")
    .description("Show a message: where it is, its state, headers, text body and attachments"),
)
  .option("--json", "print JSON")
  .action(
    act(async (message, opts) => {
      const { showCommand } = await import("../../cli/commands/show.js");
      return showCommand(message, opts);
    }),
  );

addMessageLookupOptions(
  program
    .command("get")
    .argument("<message>", "message id (as `ls` and `search` print it), or its unique beginning")
    .description("Write a message's .eml, byte-identical to what was backed up, to stdout or a file"),
)
  .option(
    "-o, --output <file>",
    "write to this new file instead of stdout (refused when it exists); written beside it under a temporary name and renamed only once the SHA-256 matched",
  )
  .addHelpText(
    "after",
    `
Damaged data is never written as good: to a file, the bytes go to a temporary file that is renamed
into place only after their SHA-256 matched the archive's (a mismatch removes it); to stdout, a
message up to 64 MiB is read and checked in memory before the first byte is written, a larger one
is checked in a first read and streamed in a second (also checked; exit 65 if the two differ).`,
  )
  .action(
    act(async (message, opts) => {
      const { getCommand } = await import("../../cli/commands/get.js");
      return getCommand(message, opts);
    }),
  );

addAtOption(
  addSearchFilterOptions(
    addArchiveOptions(
      program
        .command("search")
        .description(
          "Search messages across mailboxes by sender, recipient, subject words, date range, folder, attachments (from the catalog; no message is read)",
        ),
    ),
  ),
)
  .option("--limit <n>", "hits shown at most (0–100000)", nonNegativeInt("--limit", 100_000), 100)
  .option("--no-index", "scan every mailbox's catalog even where the search index covers it")
  .option("--json", "print JSON")
  .action(
    act(async (opts) => {
      const { searchCommand } = await import("../../cli/commands/search.js");
      return searchCommand(opts);
    }),
  );

addAtOption(
  addArchiveOptions(
    program
      .command("index")
      .description(
        "Build the search index as of a job (default the newest): search then reads a few ranged parts of it instead of every catalog part; only mailboxes changed since the previous index are read",
      ),
  ),
)
  .option("--json", "print what was built as JSON")
  .action(
    act(async (opts) => {
      const { indexCommand } = await import("../../cli/commands/index.js");
      return indexCommand(opts);
    }),
  );

addArchiveOptions(
  program
    .command("report")
    .argument("<job>", "job id (see `mailstream jobs`) or its unique beginning, or `latest`")
    .description(
      "Print a job's report; --html writes its per-stream timeline (plan vs actual) as an HTML file",
    ),
)
  .option("--html <file>", "write the timeline chart (self-contained HTML/SVG) to this file")
  .option("--json", "print the report as JSON")
  .action(
    act(async (job, opts) => {
      const { reportCommand } = await import("../../cli/commands/report.js");
      return reportCommand(job, opts);
    }),
  );

addAtOption(
  addSearchFilterOptions(
    addArchiveOptions(
      program
        .command("export")
        .argument("[mailbox]", "mailbox address or id (not with --search)")
        .argument("[folder]", "folder path or id (default: every folder)")
        .description(
          "Export a mailbox, a folder or a search result, at any point in time, as mbox files (one per folder) or .eml files",
        ),
    )
      .requiredOption("-o, --output <dir>", "output folder (created when missing; must not be a file)")
      .option(
        "-f, --format <format>",
        "mbox (mboxrd, one file per folder) or eml (a folder tree)",
        oneOf("--format", ["mbox", "eml"] as const),
        "mbox",
      )
      .option(
        "--search",
        "export the hits of a search across mailboxes (filters below, as `mailstream search`) into <address>/<folder>",
      ),
  ),
)
  .option("--json", "print the summary as JSON")
  .addHelpText(
    "after",
    `
A message whose stored bytes fail their SHA-256 check (or are missing) is not exported: it is
reported, skipped, and the export goes on; the command then lists them and exits 65.

Examples:
  $ mailstream export megan.bowen@contoso.test Inbox -o out          # out/Inbox.mbox
  $ mailstream export megan.bowen@contoso.test -f eml --at 2026-11-01 -o out
  $ mailstream export --search --subject invoice --since 2024-01-01 -o out
                                       # out/<address>/<folder>.mbox for every mailbox with hits`,
  )
  .action(
    act(async (mailbox, folder, opts) => {
      const { exportCommand } = await import("../../cli/commands/export.js");
      return exportCommand(mailbox, folder, opts);
    }),
  );

addAtOption(
  addArchiveOptions(
    program
      .command("restore")
      .argument("<mailbox>", "source mailbox address or id")
      .argument("[folder]", "folder path or id (default: the whole mailbox)")
      .description(
        "Restore a message, folder or mailbox at a point in time into the original or another mailbox, as received mail",
      ),
  ),
)
  .option("--message <id>", "restore only this message (its id or unique beginning)")
  .option("--to <mailbox>", "target mailbox of the configured tenant (default: the source mailbox)")
  .option("--into <folder>", "new top folder to restore under (default: Restored <date>)")
  .option("--original", "restore into the original folders instead of a new one")
  .option(
    "--archive-into-primary",
    "put an archive mailbox's folders into the target's primary mailbox under In-Place Archive/ (default: into the target's archive mailbox when it has one)",
  )
  .option("--dry-run", "show what would be restored; change nothing")
  .option("--config <file>", "tenant configuration file (default: MAILSTREAM_* environment variables)")
  .option("--json", "print the result as JSON")
  .action(
    act(async (mailbox, folder, opts) => {
      const { restoreCommand } = await import("../../cli/commands/restore.js");
      return restoreCommand(mailbox, folder, opts);
    }),
  );

addArchiveOptions(
  program
    .command("verify")
    .argument("[job]", "job id or its unique beginning (default: every job)")
    .description(
      "Check the archive: every catalog part against its recorded line count and hash, every blob against its SHA-256 and size, the catalog against the job reports' counts",
    ),
)
  .option("--json", "print the result as JSON")
  .action(
    act(async (job, opts) => {
      const { verifyCommand } = await import("../../cli/commands/verify.js");
      return verifyCommand(job, opts);
    }),
  );

try {
  // No command at all: the help, as asked for.
  await program.parseAsync(process.argv.length > 2 ? process.argv : [...process.argv, "--help"]);
} catch (error) {
  handleFailure(error);
}
