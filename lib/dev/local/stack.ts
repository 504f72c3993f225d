/**
 * Everything a backup needs, on one machine: the simulated tenant over HTTPS, the AWS emulators
 * (S3 + SQS, DynamoDB Local), the state table and stream queue, the `BackupApp` the Lambda
 * handlers use, and a Lambda-like SQS event source running the controller. The local runtime
 * (`npm start`), the end-to-end tests and the benchmarks all stand on it.
 */
import { randomUUID } from "node:crypto";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { type BackupApp, type BackupAppOptions, createBackupApp } from "../../app/backup-app.js";
import { type Logger, silentLogger } from "../../app/logger.js";
import { type JobProgressSnapshot, readJobProgress } from "../../app/progress.js";
import { readReport } from "../../archive/index.js";
import { type AwsClients, createAwsClients } from "../../aws/clients.js";
import type { JobTrigger } from "../../backup/ports.js";
import type { JobReport } from "../../backup/report.js";
import { environmentForAwsEndpoints } from "../../config/aws-endpoints.js";
import { loadConfig } from "../../config/index.js";
import type { TenantStore } from "../sim/model.js";
import {
  type LatencyOptions,
  type LimitOptions,
  type RunningSimulator,
  startSimulator,
} from "../sim/server/index.js";
import type { AwsMeter, MeteredFunction } from "./aws-meter.js";
import type { DelegatedCall } from "./controller-child.js";
import {
  type ControllerProcessFigures,
  type ControllerProcessPool,
  startControllerProcesses,
} from "./controllers.js";
import { type RunningEmulators, startEmulators } from "./emulators.js";
import { type CreatedStreamQueue, createStreamQueue } from "./queue-setup.js";
import { simulatorTenantEnv } from "./simulator-env.js";
import { LocalSqsEventSource } from "./sqs-event-source.js";
import { createStateTable } from "./state-table.js";

export interface LocalStackOptions extends ServicesOptions {
  store: TenantStore;
  /** CA that signs the simulator's certificate; the process must trust it (NODE_EXTRA_CA_CERTS). */
  ca: { certPem: string; keyPem: string };
  /** Folder for the simulator's CA file. Default: a temporary folder. */
  certDir?: string;
  /** Simulator port; keep it across runs that share sync states (delta links are absolute). Default: a free one. */
  simPort?: number;
  latency?: LatencyOptions;
  limits?: LimitOptions;
  /** Access token lifetime in seconds (short ones exercise token refresh). Default 3599. */
  tokenLifetimeSeconds?: number;
}

/** What runs beside the tenant: emulators, state table, queue, app and event source. */
export interface ServicesOptions {
  /** Where backups go: a local folder, or a fresh bucket in the S3 emulator. */
  archive: { kind: "local"; path: string } | { kind: "s3"; bucket: string };
  /** DynamoDB Local's folder; undefined keeps state in memory. */
  dynamoDbPath?: string;
  /** DynamoDB Local's heap limit, MiB (64..16384; default 512): an in-memory table lives in it. */
  dynamoDbHeapMib?: number;
  /**
   * Emulators already running (a benchmark reusing them across runs): used as they are and left
   * running by `stop()`. Default: start a pair for these services.
   */
  emulators?: RunningEmulators;
  /** Suffix of the state table's and the stream queue's names, to keep several stacks apart in one pair of emulators. Default none. */
  resourceSuffix?: string;
  logDir?: string;
  /** Streams at most (the controller's maximum concurrency). Range 1–1000. */
  streams: number;
  /** The controller's timeout, as Lambda's: what `getRemainingTimeInMillis` counts down from. Default 900 000 ms. */
  functionTimeoutMs?: number;
  /**
   * The coordinator's timeout, as Lambda's: `runJob` discovers pieces until this much time less
   * the deadline margin has passed, and hands the rest on as continuations. Default 900 000 ms.
   */
  coordinatorTimeoutMs?: number;
  /** A JSON configuration file under the environment values (real tenants: tenant and credentials). */
  configFile?: string;
  /** Configuration values beyond the ones the stack sets (MAILSTREAM_* names), e.g. a deadline margin. */
  env?: Record<string, string>;
  /**
   * The user's MAILSTREAM_* settings (page size, include/exclude, log level, …), under everything
   * the stack sets (archive, state table, queue, endpoints, the tenant's values). Default none.
   */
  userEnv?: Record<string, string>;
  logger?: Logger;
  planLimits?: BackupAppOptions["planLimits"];
  graphPolicy?: BackupAppOptions["graphPolicy"];
  messageRetry?: BackupAppOptions["messageRetry"];
  /**
   * Counts the AWS requests of the run (bench/cost): attached to the stack's clients, with the
   * coordinator's, each controller invocation's and each sweep's work run as its invocation.
   * Default: nothing is counted.
   */
  meter?: AwsMeter;
  /**
   * Where the controllers run: 0 in this process (one event loop for every stream, the emulators
   * and the harness, as `npm start` runs), or K ≥ 1 child processes (lib/dev/local/controllers.ts),
   * each with its own app, AWS clients and event source polling the queue with its share of the
   * streams (N split as evenly as can be), as on Lambda, where every controller has a process of
   * its own. The coordinator, the sweep and `app` stay in this process. With children, the
   * `meter` cannot count the controllers' requests (it is refused), function-valued `graphPolicy`
   * fields are refused, and the `logger` gets the children's lines over IPC. Count 0..streams.
   * Default 0.
   */
  controllerProcesses?: number;
  /**
   * Controller processes kept between stacks (a benchmark's runs one after another), in place of
   * `controllerProcesses` fresh ones: its K children run this stack's controllers until `stop`,
   * then wait for the next stack, their compiled code warm. The same rules as
   * `controllerProcesses` (a meter and function-valued `graphPolicy` fields refused). Default none.
   */
  controllerPool?: ControllerProcessPool;
  /**
   * App calls the controller processes hand to this process's `app` over IPC instead of making
   * them themselves, so that a benchmark that wraps `app.finalize` (its finalizing figures) or
   * `app.continueDiscovery` (its coordinator processes) sees every call, as when the controllers
   * ran in this process; that work then runs on this process's CPU. Only with
   * `controllerProcesses` ≥ 1. Default none.
   */
  delegateToHarness?: DelegatedCall[];
  /**
   * The controller processes count their state requests by call site too (`stateRequestSites`
   * at stop; a stack trace per request, so CPU). Default false.
   */
  countStateRequestSites?: boolean;
}

export interface WaitOptions {
  onProgress?: (progress: JobProgressSnapshot) => void;
  /** Milliseconds between progress reads. Default 500. */
  refreshMs?: number;
  /** Milliseconds between sweeps while waiting (as the schedule would run it). Default 10 000. */
  sweepEveryMs?: number;
  /** Give up after this many milliseconds. Default: wait as long as it takes. */
  timeoutMs?: number;
}

export interface LocalStack extends LocalServices {
  readonly sim: RunningSimulator;
}

/** What runs the controllers: an event source in this process, or child processes. */
export interface ControllerRunner {
  /**
   * Receives again after `stop` (the in-process event source). Controller processes, once
   * stopped, are not started again: it throws.
   */
  start(): void;
  /** Stops receiving; resolves when running invocations have ended. */
  stop(): Promise<void>;
}

export interface LocalServices {
  readonly emulators: RunningEmulators;
  readonly clients: AwsClients;
  /** The coordinator's and sweep's app (and the controllers', when they run in this process). */
  readonly app: BackupApp;
  readonly source: ControllerRunner;
  /**
   * The controllers' child processes (`controllerProcesses` ≥ 1): their pids, and what they did
   * (state requests by command, invocations), known once they stopped (`stopControllers`).
   */
  readonly controllerProcesses?: {
    readonly pids: number[];
    stopControllers(): Promise<ControllerProcessFigures>;
  };
  readonly queue: CreatedStreamQueue;
  /** Starts a job (on demand by default) and waits for it to close; returns its report. */
  runJob(options?: WaitOptions & { trigger?: JobTrigger }): Promise<{ jobId: string; report: JobReport }>;
  /** Waits until the job is complete, partial or failed. */
  waitForJob(jobId: string, options?: WaitOptions): Promise<JobReport>;
  /** Finishes a job an earlier process left open (its streams are re-sent at once); its id, if any. */
  resumeOpenJob(options?: WaitOptions): Promise<string | undefined>;
  stop(): Promise<void>;
}

const CLOSED = new Set(["complete", "partial", "failed"]);

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const sim = await startSimulator({
    store: options.store,
    ca: options.ca,
    ...(options.certDir ? { certDir: options.certDir } : {}),
    ...(options.simPort !== undefined ? { port: options.simPort } : {}),
    ...(options.latency ? { latency: options.latency } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.tokenLifetimeSeconds ? { tokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}),
  });
  try {
    const services = await startLocalServices(options, simulatorTenantEnv(sim));
    return {
      ...services,
      sim,
      async stop() {
        await services.stop();
        await sim.close();
      },
    };
  } catch (error) {
    await sim.close();
    throw error;
  }
}

/**
 * The local services around a tenant given by configuration: `tenantEnv` holds its MAILSTREAM_*
 * tenant and credential values (a real tenant from a laptop, or the simulator's).
 */
export async function startLocalServices(
  options: ServicesOptions,
  tenantEnv: Record<string, string | undefined>,
): Promise<LocalServices> {
  const pool = options.controllerPool;
  if (pool && options.controllerProcesses !== undefined && options.controllerProcesses !== pool.processes) {
    throw new Error(
      `controllerPool: expected controllerProcesses unset or ${pool.processes} (the pool's), found ${options.controllerProcesses}`,
    );
  }
  const processes = pool?.processes ?? options.controllerProcesses ?? 0;
  if (processes > 0) {
    // What cannot cross into the controllers' processes, refused before anything starts.
    if (options.meter) {
      throw new Error(
        `controllerProcesses: expected 0 with a meter (it counts in this process), found ${processes}`,
      );
    }
    const functionField = Object.entries(options.graphPolicy ?? {}).find(([, v]) => typeof v === "function");
    if (functionField) {
      throw new Error(
        `controllerProcesses: expected data-only graphPolicy fields, found a function in "${functionField[0]}"`,
      );
    }
  }
  const cleanup: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const emulators =
      options.emulators ??
      (await startEmulators({
        ...(options.dynamoDbPath ? { dynamoDbPath: options.dynamoDbPath } : {}),
        ...(options.logDir ? { logDir: options.logDir } : {}),
        ...(options.dynamoDbHeapMib ? { dynamoDbHeapMib: options.dynamoDbHeapMib } : {}),
      }));
    if (!options.emulators) cleanup.push(() => emulators.stop());
    const clients = createAwsClients(emulators.endpoints);
    cleanup.push(async () => clients.destroy());
    const meter = options.meter;
    meter?.attach(clients);
    /** Runs one function's work as its invocation, for the meter. */
    const invoke = <T>(fn: MeteredFunction, work: () => Promise<T>): Promise<T> =>
      meter ? meter.invocation(fn, work) : work();

    const suffix = options.resourceSuffix ?? "";
    const tableName = `mailstream-state${suffix}`;
    await createStateTable(clients.dynamodb, tableName).catch((error: unknown) => {
      // A persistent DynamoDB Local folder keeps the table between runs.
      if ((error as { name?: string }).name !== "ResourceInUseException") throw error;
    });
    const functionTimeoutMs = options.functionTimeoutMs ?? 900_000;
    const queue = await createStreamQueue(clients.sqs, `mailstream-streams${suffix}`, {
      visibilityTimeoutSeconds: Math.ceil(functionTimeoutMs / 1000) + 60,
    });
    const archiveEnv =
      options.archive.kind === "local"
        ? { MAILSTREAM_ARCHIVE: "local", MAILSTREAM_ARCHIVE_PATH: options.archive.path }
        : { MAILSTREAM_ARCHIVE: "s3", MAILSTREAM_ARCHIVE_BUCKET: options.archive.bucket };
    if (options.archive.kind === "s3") {
      await clients.s3.send(new CreateBucketCommand({ Bucket: options.archive.bucket }));
    }

    // The configuration's values: the in-process app's, and each controller process's.
    const configEnv: Record<string, string> = Object.fromEntries(
      Object.entries({
        // The search index after each job is the deployment's default; locally it is asked for
        // (MAILSTREAM_SEARCH_INDEX_AFTER_JOB=on), so that a local run ends with its job.
        MAILSTREAM_SEARCH_INDEX_AFTER_JOB: "off",
        ...options.userEnv,
        ...tenantEnv,
        ...archiveEnv,
        MAILSTREAM_STATE_TABLE: tableName,
        MAILSTREAM_STREAM_QUEUE_URL: queue.url,
        MAILSTREAM_STREAMS_MAX: String(options.streams),
        ...environmentForAwsEndpoints(emulators.endpoints),
        ...options.env,
      }).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
    const config = loadConfig({
      ...(options.configFile ? { file: options.configFile } : {}),
      env: configEnv,
    });
    const logger = options.logger ?? silentLogger;
    const app = await createBackupApp({
      config,
      clients,
      logger,
      ...(options.planLimits ? { planLimits: options.planLimits } : {}),
      ...(options.graphPolicy ? { graphPolicy: options.graphPolicy } : {}),
      ...(options.messageRetry ? { messageRetry: options.messageRetry } : {}),
    });

    let source: ControllerRunner;
    let children: LocalServices["controllerProcesses"];
    if (processes > 0) {
      const running = await (pool ? pool.attach.bind(pool) : startControllerProcesses)({
        streams: options.streams,
        processes,
        logger,
        spec: {
          configEnv,
          ...(options.configFile ? { configFile: options.configFile } : {}),
          functionTimeoutMs,
          ...(options.planLimits ? { planLimits: options.planLimits } : {}),
          ...(options.graphPolicy ? { graphPolicy: options.graphPolicy } : {}),
          ...(options.messageRetry ? { messageRetry: options.messageRetry } : {}),
          forwardLogs: options.logger !== undefined,
          ...(options.delegateToHarness ? { delegate: options.delegateToHarness } : {}),
          ...(options.countStateRequestSites ? { countStateRequestSites: true } : {}),
        },
        // Looked up at each call: a benchmark may have wrapped the app's methods meanwhile.
        onCall: async (call) => {
          const deadline = Date.now() + (call.remainingMs ?? Number.POSITIVE_INFINITY);
          const remainingMs = () => deadline - Date.now();
          return call.method === "finalize"
            ? app.finalize(call.jobId, call.remainingMs === undefined ? undefined : remainingMs)
            : app.continueDiscovery(call.task, remainingMs);
        },
      });
      let stopped = false;
      source = {
        start() {
          if (stopped)
            throw new Error(
              "controllerProcesses: expected them running, found them stopped (start a new stack)",
            );
        },
        async stop() {
          stopped = true;
          await running.stop();
        },
      };
      children = { pids: running.pids, stopControllers: () => running.stop() };
      cleanup.push(() => source.stop());
    } else {
      const local = new LocalSqsEventSource({
        sqs: clients.sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        handler: (event, context) => invoke("controller", () => app.handleSqsEvent(event, context)),
        batchSize: 1,
        maxConcurrency: options.streams,
        functionTimeoutMs,
        onInvocationError: (error) =>
          logger.error("controller.invocation.failed", {
            error: error instanceof Error ? error.message : String(error),
          }),
      });
      local.start();
      source = local;
      cleanup.push(() => local.stop());
    }

    const waitForJob = async (jobId: string, wait: WaitOptions = {}): Promise<JobReport> => {
      const started = Date.now();
      let lastSweep = Date.now();
      for (;;) {
        // The whole live view (every unit and stream record) only when someone shows it; else
        // the job record alone, so that waiting costs the state store next to nothing.
        const status = wait.onProgress
          ? await readJobProgress(app.state, jobId).then((progress) => {
              if (progress) wait.onProgress?.(progress);
              return progress?.status;
            })
          : (await app.state.getJob(jobId))?.status;
        if (status !== undefined && CLOSED.has(status)) break;
        if (Date.now() - lastSweep > (wait.sweepEveryMs ?? 10_000)) {
          await invoke("sweep", () => app.sweep());
          lastSweep = Date.now();
        }
        if (wait.timeoutMs !== undefined && Date.now() - started > wait.timeoutMs) {
          throw new Error(
            `job ${jobId}: expected it to close within ${wait.timeoutMs} ms, found it ${status}`,
          );
        }
        await new Promise((r) => setTimeout(r, wait.refreshMs ?? 500));
      }
      const envelope = await readReport<JobReport>(app.archive.store, jobId);
      if (!envelope) throw new Error(`job ${jobId}: expected its report in the archive, found none`);
      return envelope.report;
    };

    return {
      emulators,
      clients,
      app,
      source,
      ...(children ? { controllerProcesses: children } : {}),
      queue,
      waitForJob,
      async runJob(run = {}) {
        // Each run is its own request (a request id of its own): two runs within one second
        // must not share a job id (the second would find the first's job and return its report).
        // Job ids order jobs by their trigger's millisecond, so a run started in the same second
        // as the one before still sorts after it (lib/state/job-id.ts).
        const trigger = run.trigger ?? {
          kind: "on-demand",
          time: new Date().toISOString(),
          requestId: randomUUID(),
        };
        const deadline = Date.now() + (options.coordinatorTimeoutMs ?? 900_000);
        const started = await invoke("coordinator", () => app.startJob(trigger, () => deadline - Date.now()));
        return { jobId: started.jobId, report: await waitForJob(started.jobId, run) };
      },
      async resumeOpenJob(wait = {}) {
        const jobs = await app.state.openJobs();
        if (jobs.length === 0) return undefined;
        // Nothing else works this data folder: a job still open was interrupted. Its streams are
        // re-sent at once, and so is the discovery of a job interrupted while discovering.
        await invoke("sweep", () => app.sweep({ staleAfterMs: 0, planningStaleAfterMs: 0 }));
        const open = jobs.find((j) => ["planning", "running", "finalizing"].includes(j.status));
        if (!open) return undefined;
        await waitForJob(open.jobId, wait);
        return open.jobId;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
