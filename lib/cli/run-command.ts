import { mkdirSync } from "node:fs";
import { relative, resolve } from "node:path";
import { createJsonLogger } from "../app/logger.js";
import type { JobReport } from "../backup/report.js";
import { localCa, runLocalBackup, runRealTenantBackup } from "../dev/local/runtime.js";
import { reexecTrustingCa } from "../dev/local/trust-ca.js";
import type { TenantShape } from "../dev/sim/tenant/generate.js";
import { formatBytes } from "./progress-view.js";

export interface RunCommandOptions {
  data?: string;
  /** A real tenant instead of the simulator: its configuration file (tenant id, client id, credentials). */
  tenantConfig?: string;
  /** A real tenant configured by MAILSTREAM_* environment variables. */
  realTenant?: boolean;
  streams: number;
  shape: string;
  json?: boolean;
  log?: boolean;
}

const SHAPES = new Set(["demo", "uniform", "skewed", "giant", "many-small"]);

/** `mailstream run` (and `npm start`): a complete local backup, then a summary. */
export async function runLocalCommand(opts: RunCommandOptions): Promise<void> {
  if (!SHAPES.has(opts.shape)) {
    throw new Error(`--shape: expected one of ${[...SHAPES].join(", ")}, found "${opts.shape}"`);
  }
  if (opts.tenantConfig || opts.realTenant) {
    await runRealTenant(opts);
    return;
  }
  const dataDir = resolve(opts.data ?? ".mailstream");
  mkdirSync(dataDir, { recursive: true });
  // The simulator speaks HTTPS with a certificate from the data folder's CA; Node trusts extra
  // CAs only from NODE_EXTRA_CA_CERTS at start, so this process runs again trusting it.
  const ca = await localCa(dataDir);
  await reexecTrustingCa(ca.caCertPath, dataDir);

  const started = Date.now();
  const result = await runLocalBackup({
    dataDir,
    streams: opts.streams,
    shape: opts.shape as TenantShape,
    ...(opts.log ? { logger: createJsonLogger("info") } : {}),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
    return;
  }
  const r = result.report;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const rel = relative(process.cwd(), result.dataDir) || ".";
  const lines = [
    "",
    `mailstream: job ${r.jobId} ${r.status} in ${seconds} s (${result.tenantRound === 0 ? "full backup" : `incremental backup, tenant activity round ${result.tenantRound}`})`,
    ...(result.resumedJobId ? [`  first finished the interrupted job ${result.resumedJobId}`] : []),
    `  tenant     ${result.tenant.mailboxes.total} mailboxes, ${result.tenant.messages} messages, ${formatBytes(result.tenant.bytes)} (simulated)`,
    `  backed up  ${r.totals.items} items, ${formatBytes(r.totals.bytes)} (${r.totals.deduplicated} already archived), ${r.totals.removed} removals recorded`,
    `  plan       ${r.plan.units.length} units on ${r.plan.streams} streams; predicted ${r.plan.predictedMakespanSeconds.toFixed(1)} s, lower bound ${r.plan.lowerBoundSeconds.toFixed(1)} s`,
    `  mailboxes  ${r.mailboxes.filter((m) => m.status === "complete").length} complete, ${r.mailboxes.filter((m) => m.status !== "complete").length} with errors, ${r.skippedMailboxes.length} skipped (no usable mailbox)`,
    ...errorLines(r),
    "",
    "Look at the result:",
    `  report      ${rel}/archive/reports/${r.jobId}/report.json`,
    `  messages    ${rel}/archive/blobs/sha256/…/*.eml (plain .eml files, content-addressed)`,
    `  catalog     ${rel}/archive/catalog/mailbox=<id>/job=${r.jobId}/…`,
    "  again       npm start   (the tenant changes between runs: the next backup is incremental)",
    "",
  ];
  process.stdout.write(lines.join("\n"));
}

/** `mailstream run --tenant-config <file>` / `--real-tenant`: back up a real tenant from this machine. */
async function runRealTenant(opts: RunCommandOptions): Promise<void> {
  const result = await runRealTenantBackup({
    ...(opts.data ? { dataDir: opts.data } : {}),
    streams: opts.streams,
    ...(opts.tenantConfig ? { configFile: resolve(opts.tenantConfig) } : {}),
    ...(opts.log ? { logger: createJsonLogger("info") } : {}),
  });
  const r = result.report;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const rel = relative(process.cwd(), result.dataDir) || ".";
  process.stdout.write(
    [
      "",
      `mailstream: job ${r.jobId} ${r.status}: ${r.totals.items} items, ${formatBytes(r.totals.bytes)} from ${r.mailboxes.length} mailboxes (${r.skippedMailboxes.length} skipped), ${r.totals.throttled} throttled`,
      ...errorLines(r),
      `  report  ${rel}/archive/reports/${r.jobId}/report.json`,
      "",
    ].join("\n"),
  );
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
