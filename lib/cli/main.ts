/**
 * The `mailstream` command line. Each command parses its options and calls lib/; errors from
 * mailstream (bad configuration, unknown ids) end the program with their message and exit code 1.
 */
import { Command, InvalidArgumentError } from "commander";
import { isMailstreamError } from "../errors.js";
import { registerExport } from "./commands/export.js";
import { registerGet } from "./commands/get.js";
import { registerJobs } from "./commands/jobs.js";
import { registerLs } from "./commands/ls.js";
import { registerReport } from "./commands/report.js";
import { registerRestore } from "./commands/restore.js";
import { registerSearch } from "./commands/search.js";
import { registerShow } from "./commands/show.js";
import { registerStatus } from "./commands/status.js";
import { registerVerify } from "./commands/verify.js";
import { runLocalCommand } from "./run-command.js";
import { runSimCommand } from "./sim-command.js";

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name}: expected an integer from ${min} to ${max}, found "${value}"`);
    }
    return n;
  };
}

const program = new Command()
  .name("mailstream")
  .description("Backup of Exchange Online mailboxes into S3: run, browse, export and restore")
  .showHelpAfterError();

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
  .option("-s, --streams <n>", "streams at most (1–64)", integer("--streams", 1, 64), 8)
  .option(
    "--shape <shape>",
    "tenant preset for a new data folder: demo, uniform, skewed, giant, many-small",
    "demo",
  )
  .option("--json", "print the job report as JSON instead of the summary")
  .option("--log", "write the pipeline's structured JSON logs to stdout")
  .action(async (opts) => {
    await runLocalCommand(opts);
  });

program
  .command("sim")
  .description(
    "Serve a simulated Exchange Online tenant (Graph + token endpoint over HTTPS) until stopped; prints one JSON line with how to connect.",
  )
  .option("--shape <shape>", "tenant preset: demo, uniform, skewed, giant, many-small", "demo")
  .option("--seed <n>", "seed of the generated tenant", integer("--seed", 0, 2 ** 31 - 1))
  .option("-p, --port <port>", "TCP port (0 = a free one)", integer("--port", 0, 65535), 0)
  .option("--ca-dir <dir>", "folder of the simulator CA (reused across runs)")
  .action(async (opts) => {
    await runSimCommand({
      shape: opts.shape,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      port: opts.port,
      ...(opts.caDir ? { caDir: opts.caDir } : {}),
    });
  });

registerJobs(program);
registerStatus(program);
registerLs(program);
registerShow(program);
registerGet(program);
registerSearch(program);
registerReport(program);
registerExport(program);
registerRestore(program);
registerVerify(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (isMailstreamError(error)) {
    process.stderr.write(`mailstream: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
