/**
 * The embedded local runtime: a complete backup on one machine with nothing from outside. It
 * starts the simulated tenant, the AWS emulators, the coordinator and a Lambda-like SQS event
 * source that runs the controller, all over the same `BackupApp` the Lambda handlers use.
 *
 * Everything lives in one data folder (default `.mailstream/`): the simulator CA, the tenant
 * (its spec and how many rounds of activity it has seen), DynamoDB Local's files and the local
 * archive. A second run finds the tenant changed and backs it up incrementally.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type BackupApp, createBackupApp } from "../app/backup-app.js";
import { type Logger, silentLogger } from "../app/logger.js";
import { readJobProgress } from "../app/progress.js";
import { readReport } from "../archive/index.js";
import { createAwsClients } from "../aws/clients.js";
import type { JobReport } from "../backup/report.js";
import { JobProgressView } from "../cli/progress-view.js";
import { environmentForAwsEndpoints } from "../config/aws-endpoints.js";
import { loadConfig } from "../config/index.js";
import type { LatencyOptions, LimitOptions, RunningSimulator } from "../sim/server/index.js";
import { ensureSimulatorCa, startSimulator } from "../sim/server/index.js";
import { describeTenant, type TenantDescription } from "../sim/tenant/describe.js";
import { TENANT_SHAPES, type TenantShape, type TenantSpec } from "../sim/tenant/generate.js";
import { tenantFromSeed } from "../sim/tenant/seeded.js";
import { startEmulators } from "./emulators.js";
import { createStreamQueue } from "./queue-setup.js";
import { LocalSqsEventSource } from "./sqs-event-source.js";
import { createStateTable } from "./state-table.js";

export interface LocalRunOptions {
  /** The data folder. Default `.mailstream` in the working directory. */
  dataDir?: string;
  /** Streams at most (the controller's concurrency). Range 1–64. Default 8. */
  streams?: number;
  /** Tenant preset for a new data folder; an existing one keeps its tenant. Default "demo". */
  shape?: TenantShape;
  /** Simulated service latency. Default: 2 ms ± 3 ms per request. */
  latency?: LatencyOptions;
  limits?: LimitOptions;
  /** Where the live view goes. Default stderr. */
  progressOut?: NodeJS.WriteStream;
  /** Structured logs of the pipeline. Default: none (the live view tells). */
  logger?: Logger;
  /** Milliseconds between live-view refreshes. Default 500. */
  refreshMs?: number;
}

export interface LocalRunResult {
  dataDir: string;
  jobId: string;
  report: JobReport;
  /** Rounds of simulated activity the tenant has seen (0 on the first run). */
  tenantRound: number;
  tenant: TenantDescription;
  /** A job that an earlier, interrupted run left open and this run finished first. */
  resumedJobId?: string;
  archivePath: string;
}

interface TenantFile {
  spec: TenantSpec;
  rounds: number;
}

/** The data folder's simulator CA: the CLI makes the process trust it before the run starts. */
export async function localCa(
  dataDir: string,
): Promise<{ caCertPath: string; certPem: string; keyPem: string }> {
  const ca = await ensureSimulatorCa(join(dataDir, "ca"));
  return { caCertPath: ca.caCertPath, certPem: ca.caCertPem, keyPem: ca.caKeyPem };
}

/** Reads the tenant file and advances it by one round of activity (none on the first run). */
function nextTenant(dataDir: string, shape: TenantShape): TenantFile {
  const file = join(dataDir, "tenant.json");
  const next: TenantFile = existsSync(file)
    ? (() => {
        const prior = JSON.parse(readFileSync(file, "utf8")) as TenantFile;
        return { spec: prior.spec, rounds: prior.rounds + 1 };
      })()
    : { spec: TENANT_SHAPES[shape], rounds: 0 };
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

const CLOSED = new Set(["complete", "partial", "failed"]);

export async function runLocalBackup(options: LocalRunOptions = {}): Promise<LocalRunResult> {
  const dataDir = resolve(options.dataDir ?? ".mailstream");
  mkdirSync(dataDir, { recursive: true });
  const archivePath = join(dataDir, "archive");
  const ca = await localCa(dataDir);
  const tenantFile = nextTenant(dataDir, options.shape ?? "demo");
  const store = tenantFromSeed(tenantFile.spec, tenantFile.rounds);
  const tenant = describeTenant(store);

  const cleanup: Array<() => Promise<void>> = [];
  try {
    const sim: RunningSimulator = await startSimulator({
      store,
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
      certDir: join(dataDir, "ca"),
      latency: options.latency ?? { baseMs: 2, jitterMs: 3 },
      ...(options.limits ? { limits: options.limits } : {}),
    });
    cleanup.push(() => sim.close());
    const emulators = await startEmulators({
      dynamoDbPath: join(dataDir, "dynamodb"),
      logDir: join(dataDir, "logs"),
    });
    cleanup.push(() => emulators.stop());
    const clients = createAwsClients(emulators.endpoints);
    cleanup.push(async () => clients.destroy());

    const tableName = "mailstream-state";
    await createStateTable(clients.dynamodb, tableName).catch((error: unknown) => {
      // The table survives between runs in the data folder.
      if ((error as { name?: string }).name !== "ResourceInUseException") throw error;
    });
    const queue = await createStreamQueue(clients.sqs, "mailstream-streams");
    const streams = options.streams ?? 8;

    const config = loadConfig({
      env: {
        MAILSTREAM_TENANT_ID: sim.tenantId,
        MAILSTREAM_CLIENT_ID: sim.clientId,
        MAILSTREAM_GRAPH_BASE_URL: sim.baseUrl,
        MAILSTREAM_AUTHORITY: sim.authority,
        MAILSTREAM_AUTHORITY_METADATA: sim.msalAuthorityMetadata,
        MAILSTREAM_KNOWN_AUTHORITIES: sim.knownAuthorities.join(","),
        MAILSTREAM_CREDENTIALS_SOURCE: "env",
        MAILSTREAM_CLIENT_SECRET: sim.clientSecret ?? "",
        MAILSTREAM_ARCHIVE: "local",
        MAILSTREAM_ARCHIVE_PATH: archivePath,
        MAILSTREAM_STATE_TABLE: tableName,
        MAILSTREAM_STREAM_QUEUE_URL: queue.url,
        MAILSTREAM_STREAMS_MAX: String(streams),
        ...environmentForAwsEndpoints(emulators.endpoints),
      },
    });
    const logger = options.logger ?? silentLogger;
    const app = await createBackupApp({ config, clients, logger });

    const functionTimeoutMs = 900_000;
    const source = new LocalSqsEventSource({
      sqs: clients.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handler: (event, context) => app.handleSqsEvent(event, context),
      batchSize: 1,
      maxConcurrency: streams,
      functionTimeoutMs,
      onInvocationError: (error) =>
        logger.error("controller.invocation.failed", {
          error: error instanceof Error ? error.message : String(error),
        }),
    });
    source.start();
    cleanup.unshift(() => source.stop());

    const view = new JobProgressView(options.progressOut ?? process.stderr);
    const refreshMs = options.refreshMs ?? 500;

    // An earlier run that was interrupted left its job open: nothing runs its streams now, so
    // the sweep re-sends them at once and the job resumes from its checkpoints.
    let resumedJobId: string | undefined;
    const open = (await app.state.openJobs()).find(
      (j) => j.status === "running" || j.status === "finalizing",
    );
    if (open) {
      resumedJobId = open.jobId;
      await app.sweep({ staleAfterMs: 0 });
      await waitForJob(app, open.jobId, view, refreshMs);
    }

    const started = await app.startJob({ kind: "on-demand", time: new Date().toISOString() });
    await waitForJob(app, started.jobId, view, refreshMs);
    view.stop();
    const envelope = await readReport<JobReport>(app.archive.store, started.jobId);
    if (!envelope) throw new Error(`job ${started.jobId}: expected its report in the archive, found none`);
    return {
      dataDir,
      jobId: started.jobId,
      report: envelope.report,
      tenantRound: tenantFile.rounds,
      tenant,
      ...(resumedJobId ? { resumedJobId } : {}),
      archivePath,
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
}

/** Shows the job's progress until it is closed; runs the sweep now and then, as the schedule would. */
async function waitForJob(
  app: BackupApp,
  jobId: string,
  view: JobProgressView,
  refreshMs: number,
): Promise<void> {
  let lastSweep = Date.now();
  for (;;) {
    const progress = await readJobProgress(app.state, jobId);
    if (progress) view.update(progress);
    if (progress && CLOSED.has(progress.status)) return;
    if (Date.now() - lastSweep > 10_000) {
      await app.sweep();
      lastSweep = Date.now();
    }
    await new Promise((r) => setTimeout(r, refreshMs));
  }
}
