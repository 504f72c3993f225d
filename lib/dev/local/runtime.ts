/**
 * The embedded local runtime: a complete backup on one machine with nothing from outside. It
 * starts the simulated tenant, the AWS emulators, the coordinator and a Lambda-like SQS event
 * source that runs the controller, all over the same `BackupApp` the Lambda handlers use.
 *
 * Everything lives in one data folder (default `.mailstream/`): the simulator CA, the tenant
 * (its spec and how many rounds of activity it has seen), DynamoDB Local's files and the local
 * archive. A second run finds the tenant changed and backs it up incrementally.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../../app/logger.js";
import type { JobProgressSnapshot } from "../../app/progress.js";
import { LocalObjectStore } from "../../archive/local-store.js";
import type { JobReport } from "../../backup/report.js";
import { type LocalRuntimeFile, RUNTIME_FILE } from "../../cli/context.js";
import { JobProgressView } from "../../cli/progress-view.js";
import type { LatencyOptions, LimitOptions } from "../sim/server/index.js";
import { ensureSimulatorCa } from "../sim/server/index.js";
import { describeTenant, type TenantDescription } from "../sim/tenant/describe.js";
import { TENANT_SHAPES, type TenantShape, type TenantSpec } from "../sim/tenant/generate.js";
import { tenantFromSeed } from "../sim/tenant/seeded.js";
import { acquireDataLock } from "./data-lock.js";
import { findFreePort } from "./free-port.js";
import { type LocalServices, startLocalServices, startLocalStack } from "./stack.js";

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
  /** The user's MAILSTREAM_* settings (run-settings.ts), under what the stack and simulator set. */
  userEnv?: Record<string, string>;
  /** A JSON configuration file under the environment values. */
  configFile?: string;
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
  /** Temporary files and staging objects that interrupted runs had left in the archive, removed at start. */
  leftoversRemoved: number;
}

interface TenantFile {
  spec: TenantSpec;
  rounds: number;
  /**
   * The simulator's port, kept across runs: delta links are absolute URLs, so the sync states
   * of one run point at the host and port that served them, as Graph's do.
   */
  port: number;
}

/** The data folder's simulator CA: the CLI makes the process trust it before the run starts. */
export async function localCa(
  dataDir: string,
): Promise<{ caCertPath: string; certPem: string; keyPem: string }> {
  const ca = await ensureSimulatorCa(join(dataDir, "ca"));
  return { caCertPath: ca.caCertPath, certPem: ca.caCertPem, keyPem: ca.caKeyPem };
}

/** Reads the tenant file and advances it by one round of activity (none on the first run). */
async function nextTenant(dataDir: string, shape: TenantShape): Promise<TenantFile> {
  const file = join(dataDir, "tenant.json");
  const next: TenantFile = existsSync(file)
    ? (() => {
        const prior = JSON.parse(readFileSync(file, "utf8")) as TenantFile;
        return { spec: prior.spec, rounds: prior.rounds + 1, port: prior.port };
      })()
    : { spec: TENANT_SHAPES[shape], rounds: 0, port: await findFreePort() };
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

/**
 * What every local run does around its work: the data folder's lock (one run at a time; a second
 * one says who holds it), the leftovers of interrupted runs removed, and on SIGINT, SIGTERM or
 * SIGHUP the lock released before the process ends (DynamoDB Local follows through its
 * watchdog). Returns the session; `end()` undoes it.
 */
async function openSession(dataDir: string): Promise<{ leftoversRemoved: number; end(): void }> {
  mkdirSync(dataDir, { recursive: true });
  const lock = acquireDataLock(dataDir);
  const runtimeFile = join(dataDir, RUNTIME_FILE);
  const release = () => {
    rmSync(runtimeFile, { force: true });
    lock.release();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    release();
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) process.on(signal, onSignal);
  try {
    // Nothing else writes to this archive now: what interrupted writes left is garbage.
    const removed = await new LocalObjectStore(join(dataDir, "archive")).removeLeftovers();
    return {
      leftoversRemoved: removed.length,
      end() {
        for (const signal of signals) process.off(signal, onSignal);
        release();
      },
    };
  } catch (error) {
    for (const signal of signals) process.off(signal, onSignal);
    release();
    throw error;
  }
}

export async function runLocalBackup(options: LocalRunOptions = {}): Promise<LocalRunResult> {
  const dataDir = resolve(options.dataDir ?? ".mailstream");
  const session = await openSession(dataDir);
  try {
    const ca = await localCa(dataDir);
    const tenantFile = await nextTenant(dataDir, options.shape ?? "demo");
    const store = tenantFromSeed(tenantFile.spec, tenantFile.rounds);
    const tenant = describeTenant(store);
    const stack = await startLocalStack({
      store,
      ca,
      certDir: join(dataDir, "ca"),
      simPort: tenantFile.port,
      latency: options.latency ?? { baseMs: 2, jitterMs: 3 },
      ...(options.limits ? { limits: options.limits } : {}),
      archive: { kind: "local", path: join(dataDir, "archive") },
      dynamoDbPath: join(dataDir, "dynamodb"),
      logDir: join(dataDir, "logs"),
      streams: options.streams ?? 8,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.userEnv ? { userEnv: options.userEnv } : {}),
      ...(options.configFile ? { configFile: options.configFile } : {}),
    });
    try {
      const ran = await runJobs(dataDir, stack, options);
      return { ...ran, tenantRound: tenantFile.rounds, tenant, leftoversRemoved: session.leftoversRemoved };
    } finally {
      await stack.stop();
    }
  } finally {
    session.end();
  }
}

/**
 * Finishes a job an earlier run left open, then runs a new one, with the live view on stderr.
 * While it lasts, `mailstream status` in another terminal reads live progress through the
 * runtime file.
 */
async function runJobs(
  dataDir: string,
  services: LocalServices,
  options: { progressOut?: NodeJS.WriteStream; refreshMs?: number },
): Promise<Pick<LocalRunResult, "dataDir" | "jobId" | "report" | "resumedJobId" | "archivePath">> {
  const running: LocalRuntimeFile = {
    pid: process.pid,
    dynamodbEndpoint: services.emulators.endpoints.dynamodb ?? "",
    tableName: services.app.config.stateTable,
  };
  writeFileSync(join(dataDir, RUNTIME_FILE), `${JSON.stringify(running)}\n`);
  const view = new JobProgressView(options.progressOut ?? process.stderr);
  try {
    const onProgress = (p: JobProgressSnapshot) => view.update(p);
    const refreshMs = options.refreshMs ?? 500;
    // An earlier run that was interrupted left its job open: nothing runs its streams now, so
    // the sweep re-sends them at once and the job resumes from its checkpoints.
    const resumedJobId = await services.resumeOpenJob({ onProgress, refreshMs });
    const { jobId, report } = await services.runJob({ onProgress, refreshMs });
    return {
      dataDir,
      jobId,
      report,
      ...(resumedJobId ? { resumedJobId } : {}),
      archivePath: join(dataDir, "archive"),
    };
  } finally {
    view.stop();
  }
}

export interface RealTenantRunOptions {
  dataDir?: string;
  streams?: number;
  /** JSON configuration with the tenant and credentials (as `loadConfig` reads). */
  configFile?: string;
  /** The user's MAILSTREAM_* settings (run-settings.ts): the tenant, credentials and the rest. */
  userEnv?: Record<string, string>;
  progressOut?: NodeJS.WriteStream;
  logger?: Logger;
}

/**
 * Backs up a real tenant from this machine: Graph with the configured app's credentials, state
 * and queue in the local emulators, the archive in the data folder. The same pipeline as on AWS.
 */
export async function runRealTenantBackup(
  options: RealTenantRunOptions,
): Promise<Omit<LocalRunResult, "tenant" | "tenantRound">> {
  const dataDir = resolve(options.dataDir ?? ".mailstream-tenant");
  const session = await openSession(dataDir);
  try {
    const services = await startLocalServices(
      {
        archive: { kind: "local", path: join(dataDir, "archive") },
        dynamoDbPath: join(dataDir, "dynamodb"),
        logDir: join(dataDir, "logs"),
        streams: options.streams ?? 8,
        ...(options.configFile ? { configFile: options.configFile } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      },
      options.userEnv ?? {},
    );
    try {
      const ran = await runJobs(dataDir, services, options);
      return { ...ran, leftoversRemoved: session.leftoversRemoved };
    } finally {
      await services.stop();
    }
  } finally {
    session.end();
  }
}
