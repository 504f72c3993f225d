import { mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { createJsonLogger, type Logger, type LogLevel } from "../../app/logger.js";
import type { JobReport } from "../../backup/report.js";
import { EXIT, type ExitCode } from "../../cli/exit-codes.js";
import { formatBytes } from "../../cli/format/output.js";
import { formatJobKinds, localJobKinds } from "../local/job-kinds.js";
import { resolveRunSettings } from "../local/run-settings.js";
import { localCa, runLocalBackup, runRealTenantBackup } from "../local/runtime.js";
import { trustCa } from "../local/trust-ca.js";
import type { TenantShape } from "../sim/tenant/generate.js";

export interface RunCommandOptions {
  data?: string;
  /** A real tenant instead of the simulator: its configuration file (tenant id, client id, credentials). */
  tenantConfig?: string;
  /** A real tenant configured by MAILSTREAM_* environment variables. */
  realTenant?: boolean;
  /** `--streams`; default MAILSTREAM_STREAMS_MAX, else 8. */
  streams?: number;
  shape: TenantShape;
  json?: boolean;
  log?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The pipeline's structured logs: on stdout with `--log`, else into the data folder's
 * logs/mailstream.log (the screen shows the live view), at MAILSTREAM_LOG_LEVEL.
 */
async function runLogger(opts: RunCommandOptions, dataDir: string, level: LogLevel): Promise<Logger> {
  if (opts.log) return createJsonLogger(level);
  const { createWriteStream } = await import("node:fs");
  mkdirSync(join(dataDir, "logs"), { recursive: true });
  const file = createWriteStream(join(dataDir, "logs", "mailstream.log"), { flags: "a" });
  return createJsonLogger(level, (line) => file.write(`${line}\n`));
}

/** `mailstream run` (and `npm start`): a complete local backup, then a summary. */
export async function runLocalCommand(opts: RunCommandOptions): Promise<ExitCode> {
  const real = Boolean(opts.tenantConfig || opts.realTenant);
  const dataDir = resolve(opts.data ?? (real ? ".mailstream-tenant" : ".mailstream"));
  // Configuration first: a bad value stops the run before anything starts.
  const settings = resolveRunSettings({
    env: opts.env ?? process.env,
    ...(opts.tenantConfig ? { configFile: resolve(opts.tenantConfig) } : {}),
    realTenant: real,
    ...(opts.streams !== undefined ? { streams: opts.streams } : {}),
    archivePath: join(dataDir, "archive"),
  });
  mkdirSync(dataDir, { recursive: true });
  const logger = await runLogger(opts, dataDir, settings.logLevel);
  if (real) return runRealTenant(opts, dataDir, settings, logger);

  // The simulator speaks HTTPS with a certificate from the data folder's CA: this process
  // trusts it (in place on Node ≥ 22.19, else by running again with NODE_EXTRA_CA_CERTS).
  const ca = await localCa(dataDir);
  await trustCa(ca.caCertPath, dataDir);

  const result = await runLocalBackup({
    dataDir,
    streams: settings.streams,
    shape: opts.shape,
    logger,
    userEnv: settings.userEnv,
    ...(settings.configFile ? { configFile: settings.configFile } : {}),
  });
  const r = result.report;
  const kinds = await localJobKinds(
    result.dataDir,
    r.jobId,
    r.mailboxes.map((m) => m.mailboxId),
  );
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...r, kinds }, null, 2)}\n`);
    return exitCodeOf(r);
  }
  const rel = relative(process.cwd(), result.dataDir) || ".";
  const lines = [
    "",
    `mailstream: job ${r.jobId} ${r.status}: ${durationText(r)} (${result.tenantRound === 0 ? "full backup" : `incremental backup, tenant activity round ${result.tenantRound}`})`,
    ...(result.resumedJobId ? [`  first finished the interrupted job ${result.resumedJobId}`] : []),
    ...(result.leftoversRemoved > 0
      ? [`  removed ${result.leftoversRemoved} temporary files an interrupted run had left in the archive`]
      : []),
    `  tenant     ${result.tenant.mailboxes.total} mailboxes, ${result.tenant.messages} messages, ${formatBytes(result.tenant.bytes)} (simulated)`,
    `  backed up  ${r.totals.items} items, ${formatBytes(r.totals.bytes)} (${r.totals.deduplicated} already archived), ${r.totals.removed} removals recorded`,
    `  kinds      ${formatJobKinds(kinds)}`,
    `  plan       ${r.plan.units.length} units on ${r.plan.streams} streams; predicted ${r.plan.predictedMakespanSeconds.toFixed(1)} s, lower bound ${r.plan.lowerBoundSeconds.toFixed(1)} s`,
    `  mailboxes  ${r.mailboxes.filter((m) => m.status === "complete").length} complete, ${r.mailboxes.filter((m) => m.status !== "complete").length} with errors, ${r.skippedMailboxes.length} skipped (no usable mailbox)`,
    ...errorLines(r),
    "",
    "Look at the result:",
    `  jobs        npx mailstream jobs${rel === ".mailstream" ? "" : ` --data ${rel}`}`,
    `  report      ${rel}/archive/reports/${r.jobId}/report.json`,
    `  items       ${rel}/archive/blobs/sha256/…/*.fts (export streams, content-addressed; .eml with mailContent mime|both)`,
    `  catalog     ${rel}/archive/catalog/mailbox=<id>/job=${r.jobId}/…`,
    "  again       npm start   (the tenant changes between runs: the next backup is incremental)",
    "",
  ];
  process.stdout.write(lines.join("\n"));
  return exitCodeOf(r);
}

/**
 * A job's duration as every command labels it: its makespan (job created → job ended, from the
 * report), the figure `mailstream jobs` shows in its MAKESPAN column.
 */
export function durationText(r: Pick<JobReport, "makespanSeconds">): string {
  return `makespan ${r.makespanSeconds.toFixed(1)} s`;
}

/** A failed job ends the command with EXIT.failed; complete and partial ones with 0. */
function exitCodeOf(r: JobReport): ExitCode {
  return r.status === "failed" ? EXIT.failed : EXIT.ok;
}

/** `mailstream run --tenant-config <file>` / `--real-tenant`: back up a real tenant from this machine. */
async function runRealTenant(
  opts: RunCommandOptions,
  dataDir: string,
  settings: ReturnType<typeof resolveRunSettings>,
  logger: Logger,
): Promise<ExitCode> {
  const result = await runRealTenantBackup({
    dataDir,
    streams: settings.streams,
    userEnv: settings.userEnv,
    ...(settings.configFile ? { configFile: settings.configFile } : {}),
    logger,
  });
  const r = result.report;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return exitCodeOf(r);
  }
  const rel = relative(process.cwd(), result.dataDir) || ".";
  process.stdout.write(
    [
      "",
      `mailstream: job ${r.jobId} ${r.status}: ${durationText(r)}; ${r.totals.items} items, ${formatBytes(r.totals.bytes)} from ${r.mailboxes.length} mailboxes (${r.skippedMailboxes.length} skipped), ${r.totals.throttled} throttled`,
      ...errorLines(r),
      `  report  ${rel}/archive/reports/${r.jobId}/report.json`,
      "",
    ].join("\n"),
  );
  return exitCodeOf(r);
}

function errorLines(r: JobReport): string[] {
  const withErrors = r.mailboxes.filter((m) => m.errors.length > 0);
  if (withErrors.length === 0) return [];
  return [
    "  errors:",
    ...withErrors.flatMap((m) =>
      m.errors.slice(0, 3).map((e) => `    ${m.address}: ${e.subject}: ${e.name}: ${e.message}`),
    ),
  ];
}
