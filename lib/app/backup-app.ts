import PQueue from "p-queue";
import {
  type Archive,
  createArchive,
  LocalObjectStore,
  type ObjectStore,
  S3ObjectStore,
} from "../archive/index.js";
import { type AwsClients, createAwsClients } from "../aws/clients.js";
import {
  type CoordinatorDeps,
  type DiscoveryOutcome,
  runDiscovery,
  type StartJobOutcome,
  startJob,
} from "../backup/coordinator.js";
import { finalizeJob } from "../backup/finalize.js";
import type { JobTrigger, StreamStatePort } from "../backup/ports.js";
import type { JobReport } from "../backup/report.js";
import { runStreamTask, type StreamTaskOutcome } from "../backup/stream-runner.js";
import { type SweepOutcome, sweep } from "../backup/sweep.js";
import {
  type IndexAfterJobOutcome,
  indexAfterJob,
  SearchIndexBusyError,
} from "../catalog-index/search-index/after-job.js";
import { awsEndpointsFromConfig } from "../config/aws-endpoints.js";
import { type ClientCredential, resolveClientCredential } from "../config/client-credential.js";
import type { MailstreamConfig, StateConfigData } from "../config/index.js";
import { ConfigError } from "../errors.js";
import type { GraphGateway } from "../graph/index.js";
import { createPlanner, type PlanLimits } from "../plan/index.js";
import { processSqsBatch } from "../queue/batch.js";
import type { InvocationContext, SQSBatchResponse, SQSEvent } from "../queue/lambda-events.js";
import { SqsStreamQueue, type StreamQueue } from "../queue/stream-queue.js";
import {
  type DiscoveryTask,
  type FinalizeTask,
  type IndexTask,
  isDiscoveryTask,
  isFinalizeTask,
  isIndexTask,
  parseQueueTask,
  parseStreamTask,
  type StreamTask,
} from "../queue/stream-task.js";
import type { RetryBudget, RetryDeadline } from "../retry.js";
import { createBackupStatePorts } from "../state/backup-ports.js";
import { MAX_STAGED_AT_END, StateStore } from "../state/index.js";
import { createGatewayFromConfig, type GraphPolicyOverrides, retryBudgetMs } from "./graph-gateway.js";
import { createMailboxDirectory, createMailSource } from "./graph-ports.js";
import type { Logger } from "./logger.js";
import { jobMetrics, METRIC, type Metrics, noMetrics, pageMetrics, unitErrorMetrics } from "./metrics.js";

/** What {@link createSweepApp} needs: no tenant and no credential. */
export interface SweepAppOptions {
  config: StateConfigData;
  /** Default: built from the configuration's region and endpoints. */
  clients?: AwsClients;
  logger: Logger;
  /** Where job and stream numbers go (EMF on Lambda). Default: nowhere. */
  metrics?: Metrics;
}

export interface BackupAppOptions {
  config: MailstreamConfig;
  /** Default: built from the configuration's region and endpoints. */
  clients?: AwsClients;
  /** Default: resolved from the configuration (environment or Secrets Manager). */
  credential?: ClientCredential;
  logger: Logger;
  /** Planner estimates (latency, budget scaling) where the defaults do not fit, e.g. in benchmarks. */
  planLimits?: Partial<PlanLimits>;
  /** Graph retry and stream settings. Defaults in lib/graph. */
  graphPolicy?: GraphPolicyOverrides;
  /** Retries of one message in the unit backup (lib/retry.ts). Default: the Graph retry budget. */
  messageRetry?: RetryBudget;
  /** Where unit, job and stream numbers go (EMF on Lambda). Default: nowhere. */
  metrics?: Metrics;
}

/**
 * The part of the app that keeps jobs moving without Microsoft Graph: the sweep and the
 * finalization of jobs. It is all the sweep function builds, so it never reads the Entra secret.
 */
export interface SweepApp {
  readonly config: StateConfigData;
  readonly state: StateStore;
  readonly archive: Archive;
  readonly queue: StreamQueue;
  /**
   * Re-sends stale streams, finishes unfinalized jobs and closes abandoned planning;
   * `staleAfterMs` and `planningStaleAfterMs` override the configured staleness.
   */
  sweep(options?: {
    staleAfterMs?: number;
    planningStaleAfterMs?: number;
    /** The invocation's time left, ms: a finalization the sweep takes up stops before it and hands on. */
    remainingMs?: () => number;
  }): Promise<SweepOutcome>;
  /**
   * Finalizes the job (lib/backup/finalize.ts), within `remainingMs` (absent: no limit): its report,
   * or undefined when it stopped before the deadline and handed on (a `finalize` task).
   * `retryDeadline`: no state retry waits past it (the stream task's, when its last stream
   * finalizes; absent: none).
   */
  finalize(
    jobId: string,
    remainingMs?: () => number,
    retryDeadline?: RetryDeadline,
  ): Promise<JobReport | undefined>;
  close(): void;
}

export interface BackupApp extends SweepApp {
  readonly config: MailstreamConfig;
  readonly gateway: GraphGateway;
  /**
   * Creates the job and discovers it in pieces until `remainingMs` (the invocation's time left;
   * default: no limit) comes near the deadline margin; the rest goes on as continuations.
   */
  startJob(trigger: JobTrigger, remainingMs?: () => number): Promise<StartJobOutcome>;
  /** Runs one stream task under an invocation deadline. */
  runStreamTask(body: string, remainingMs: () => number): Promise<StreamTaskOutcome>;
  /** Runs a discovery continuation (the job's next pieces) under an invocation deadline. */
  continueDiscovery(task: DiscoveryTask, remainingMs: () => number): Promise<DiscoveryOutcome>;
  /**
   * Runs an index task: the search index brought up to the newest finalized job, in pieces until
   * `remainingMs` (absent: no limit) nears the deadline margin; the rest goes on as another index
   * task. A failure is logged (`index.failed`) and thrown, so the queue delivers the task again;
   * the job it came from is finalized already and stays as it is.
   */
  indexAfterJob(task: IndexTask, remainingMs?: () => number): Promise<IndexAfterJobOutcome>;
  /**
   * Goes on with a job's finalization from its checkpoint (a `finalize` task); a task for a job
   * no longer `finalizing` (a copy, or the sweep finished it) is dropped.
   */
  finalizeTask(task: FinalizeTask, remainingMs?: () => number): Promise<JobReport | undefined>;
  /** The controller: an SQS batch in, a partial batch response out. */
  handleSqsEvent(event: SQSEvent, context: InvocationContext): Promise<SQSBatchResponse>;
}

export function createObjectStore(
  config: Pick<StateConfigData, "archive">,
  clients: AwsClients,
): ObjectStore {
  const a = config.archive;
  if (a.kind === "local") return new LocalObjectStore(a.path);
  return new S3ObjectStore({
    client: clients.s3,
    bucket: a.bucket,
    ...(a.prefix ? { prefix: a.prefix } : {}),
    ...(a.kmsKeyId ? { kmsKeyId: a.kmsKeyId } : {}),
    ...(a.stagingBucket ? { stagingBucket: a.stagingBucket } : {}),
  });
}

/** The sweep and job finalization over state, archive and queue: no Graph, no secret. */
export function createSweepApp(options: SweepAppOptions): SweepApp {
  const { config, logger } = options;
  const clients = options.clients ?? createAwsClients(awsEndpointsFromConfig(config));
  const state = new StateStore({
    ddb: clients.ddb,
    tableName: config.stateTable,
    jobTtlDays: config.retention.jobRecordDays,
    retry: { budgetMs: retryBudgetMs(config) },
  });
  const ports = createBackupStatePorts(state);
  const archive = createArchive(createObjectStore(config, clients), {
    packs: {
      thresholdBytes: config.archive.packThresholdBytes,
      // Nothing is lost (catalog lines name packs, not indexes): its bodies are stored again.
      onDamagedIndex: (error) =>
        logger.warn("pack.index.damaged", { key: error.key, problem: error.message }),
    },
    compression: {
      codec: config.archive.compression,
      minSavingPercent: config.archive.compressionMinSavingPercent,
    },
  });
  const queueUrl = config.streamQueueUrl;
  const queue: StreamQueue = queueUrl
    ? new SqsStreamQueue(clients.sqs, queueUrl)
    : {
        send: async () => missingQueue(),
        sendAll: async () => missingQueue(),
        sendDiscovery: async () => missingQueue(),
      };
  const log = (event: string, fields: Record<string, unknown>) => logger.info(event, fields);
  const metrics = options.metrics ?? noMetrics;
  const finalize = async (jobId: string, remainingMs?: () => number, retryDeadline?: RetryDeadline) => {
    const outcome = await finalizeJob(jobId, {
      state: retryDeadline
        ? createBackupStatePorts(state.withRetryDeadline(retryDeadline)).finalize
        : ports.finalize,
      archive,
      ...(remainingMs ? { remainingMs } : {}),
      deadlineMarginMs: config.controller.deadlineMarginMs,
      // Each piece's size and time: how far a piece is from the invocation's deadline.
      onPiece: (piece) => logger.info("job.finalize.piece", { jobId, ...piece }),
      ...(queue.sendFinalize
        ? { handOn: (id: string) => queue.sendFinalize!({ kind: "finalize", jobId: id }) }
        : {}),
    });
    if (!outcome.done) {
      logger.info("job.finalize.continued", { jobId, stage: outcome.progress.stage });
      return undefined;
    }
    const { report } = outcome;
    logger.info("job.finalized", { jobId, status: report.status, items: report.totals.items });
    metrics.put(jobMetrics(report), { jobId, status: report.status });
    if (config.searchIndex.afterJob === "on" && queue.sendIndex) {
      // The job is done whatever becomes of this: a lost task is made good by the next job's.
      await queue.sendIndex({ kind: "index", jobId }).catch((error: unknown) =>
        logger.warn("index.task.unsent", {
          jobId,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
    }
    return report;
  };
  return {
    config,
    state,
    archive,
    queue,
    sweep: async (sweepOptions) => {
      // The sweep reads the streams of every running job anyway: count the unfinished ones.
      let activeStreams = 0;
      const outcome = await sweep({
        state: {
          ...ports.sweep,
          streams: async (jobId) => {
            const streams = await ports.sweep.streams(jobId);
            activeStreams += streams.filter((s) => s.status !== "finished").length;
            return streams;
          },
        },
        queue,
        finalizeJob: async (jobId) => {
          await finalize(jobId, sweepOptions?.remainingMs);
        },
        staleAfterMs: sweepOptions?.staleAfterMs ?? config.controller.heartbeatStaleSeconds * 1000,
        planningStaleAfterMs:
          sweepOptions?.planningStaleAfterMs ?? config.controller.planningStaleSeconds * 1000,
        log,
      });
      metrics.put({ [METRIC.activeStreams]: activeStreams });
      return outcome;
    },
    finalize,
    close: () => clients.destroy(),
  };
}

export async function createBackupApp(options: BackupAppOptions): Promise<BackupApp> {
  const { config, logger } = options;
  const clients = options.clients ?? createAwsClients(awsEndpointsFromConfig(config));
  const credential =
    options.credential ?? (await resolveClientCredential(config.credentials, clients.secrets));
  const core = createSweepApp({
    config,
    clients,
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const { state, archive, queue, finalize } = core;
  const ports = createBackupStatePorts(state);
  const gateway = createGatewayFromConfig(config, credential, options.graphPolicy);
  const source = createMailSource(gateway, config.pageSize);
  // One controller process, one set of turns for large items, whatever units its streams run.
  const largeItemTurns = new PQueue({ concurrency: config.controller.largeItemsAtOnce });
  // A message is retried as long as its requests are, unless the caller says otherwise.
  const messageRetry = options.messageRetry ?? {
    budgetMs: options.graphPolicy?.budgetMs ?? retryBudgetMs(config),
    ...(options.graphPolicy?.backoffBaseMs !== undefined
      ? { backoffBaseMs: options.graphPolicy.backoffBaseMs }
      : {}),
    ...(options.graphPolicy?.backoffCapMs !== undefined
      ? { backoffCapMs: options.graphPolicy.backoffCapMs }
      : {}),
  };
  const directory = createMailboxDirectory(gateway, config.mailboxes, {
    batchSize: config.discovery.batchSize,
  });
  const plan = createPlanner(
    {
      maxStreams: config.streams.max,
      perMailboxConcurrency: config.streams.perMailboxConcurrency,
      unitsPerStream: config.streams.unitsPerStream,
      budgetPerWindow: config.streams.perMailboxBudget,
      windowSeconds: config.streams.budgetWindowSeconds,
      pageSize: config.pageSize,
      ...options.planLimits,
    },
    config.mailContent,
  );
  const log = (event: string, fields: Record<string, unknown>) => logger.info(event, fields);

  const metrics = options.metrics ?? noMetrics;
  // Stored items are counted per checkpoint (a stored page), as the job report counts them; a
  // unit's recorded errors once, when it completes.
  const unitTags = (task: StreamTask, unit: number) => ({ jobId: task.jobId, streamId: task.streamId, unit });
  const streamStateOf = (stream: StreamStatePort): StreamStatePort => ({
    ...stream,
    unitState: (task, unitIndex) => {
      const unitState = stream.unitState(task, unitIndex);
      return {
        ...unitState,
        checkpoint: async (checkpoint, delta, staged) => {
          await unitState.checkpoint(checkpoint, delta, staged);
          metrics.put(pageMetrics(delta), unitTags(task, unitIndex));
        },
      };
    },
    completeUnit: async (task, unitIndex, result) => {
      await stream.completeUnit(task, unitIndex, result);
      // The unit's last pages rode with its end instead of a checkpoint of their own.
      if (result.last) metrics.put(pageMetrics(result.last.delta), unitTags(task, unitIndex));
      metrics.put(unitErrorMetrics(result), unitTags(task, unitIndex));
    },
  });
  const streamState = streamStateOf(ports.stream);

  // The coordinator's first pieces and the controller's continuations run the same discovery.
  const coordinatorDeps = (remainingMs?: () => number): CoordinatorDeps => ({
    directory,
    state: ports.coordinator,
    plan,
    queue,
    recordFolders: (jobId, mailbox, folders, opts) =>
      archive.recordFolders(jobId, mailbox.userId, folders, opts),
    finalizeJob: async (jobId) => {
      await finalize(jobId);
    },
    ...(remainingMs ? { remainingMs } : {}),
    deadlineMarginMs: config.controller.deadlineMarginMs,
    pieceMailboxes: config.discovery.pieceMailboxes,
    maxStreams: options.planLimits?.maxStreams ?? config.streams.max,
    log,
  });

  const app: BackupApp = {
    ...core,
    config,
    gateway,
    startJob: (trigger, remainingMs) => startJob(trigger, coordinatorDeps(remainingMs)),
    continueDiscovery: (task, remainingMs) => runDiscovery(task, coordinatorDeps(remainingMs)),
    finalizeTask: async (task, remainingMs) => {
      const job = await state.getJob(task.jobId);
      if (job?.status !== "finalizing") {
        logger.info("job.finalize.dropped", { jobId: task.jobId, status: job?.status ?? "none" });
        return undefined;
      }
      return app.finalize(task.jobId, remainingMs);
    },
    indexAfterJob: async (task, remainingMs) => {
      const started = Date.now();
      try {
        const outcome = await indexAfterJob(archive.store, {
          lease: state,
          ...(remainingMs ? { remainingMs } : {}),
          deadlineMarginMs: config.controller.deadlineMarginMs,
          mailboxesPerPiece: config.searchIndex.mailboxesPerPiece,
          ...(queue.sendIndex
            ? { handOn: () => queue.sendIndex!({ kind: "index", jobId: task.jobId }) }
            : {}),
        });
        logger.info("index.after.job", {
          jobId: task.jobId,
          status: outcome.status,
          ...(outcome.status === "built"
            ? {
                indexedJob: outcome.jobId,
                rebuilt: outcome.build.rebuilt,
                reused: outcome.build.reused,
                updated: outcome.build.updated,
                puts: outcome.build.puts,
                rows: outcome.build.rows,
                pieces: outcome.build.pieces,
              }
            : outcome.status === "continued"
              ? {
                  indexedJob: outcome.jobId,
                  pieces: outcome.progress.pieces,
                  mailboxes: outcome.mailboxes,
                  mailboxesDone: outcome.mailboxesDone,
                }
              : {}),
          ms: Date.now() - started,
        });
        return outcome;
      } catch (error) {
        if (error instanceof SearchIndexBusyError) {
          // Not a failure: another task builds; this one comes back and finds its work done.
          logger.info("index.busy", { jobId: task.jobId });
          throw error;
        }
        logger.error("index.failed", {
          jobId: task.jobId,
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        });
        throw error;
      }
    },
    runStreamTask: (body, remainingMs) =>
      runStreamTask(parseStreamTask(body), {
        state: streamState,
        // A task's state requests keep to its deadline.
        stateUntil: (deadline) =>
          streamStateOf(createBackupStatePorts(state.withRetryDeadline(deadline)).stream),
        queue,
        unitDeps: () => ({
          source,
          archive,
          largeItemTurns,
          deferLastCheckpoint: { maxStaged: MAX_STAGED_AT_END },
          messageRetry,
          syncStateRefreshMs: config.controller.syncStateRefreshHours * 3_600_000,
          pageHold: { maxHoldMs: config.controller.pageHoldSeconds * 1000 },
          firstPageBatch: config.controller.firstPageBatch,
        }),
        remainingMs,
        deadlineMarginMs: config.controller.deadlineMarginMs,
        // One mailbox's worth of requests per stream, as the planner counts a stream's rate.
        streamConcurrency: config.streams.perMailboxConcurrency,
        unitsAtOnce: config.streams.unitsPerStream,
        discoveryWaitMs: config.discovery.streamWaitSeconds * 1000,
        finalizeJob: async (jobId, deadline) => {
          // Through the app, so that a harness that wraps `app.finalize` sees the last stream's call.
          await app.finalize(jobId, remainingMs, deadline);
        },
        log,
      }),
    handleSqsEvent: (event, context) =>
      processSqsBatch(
        event,
        async (record) => {
          const remainingMs = () => context.getRemainingTimeInMillis();
          const task = parseQueueTask(record.body);
          if (isDiscoveryTask(task)) await app.continueDiscovery(task, remainingMs);
          else if (isIndexTask(task)) await app.indexAfterJob(task, remainingMs);
          else if (isFinalizeTask(task)) await app.finalizeTask(task, remainingMs);
          else await app.runStreamTask(record.body, remainingMs);
        },
        ({ messageId, error, retried }) =>
          logger.error(retried ? "stream.task.failed" : "stream.task.dropped", {
            messageId,
            error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          }),
      ),
  };
  return app;
}

function missingQueue(): never {
  throw new ConfigError(
    "streamQueueUrl (MAILSTREAM_STREAM_QUEUE_URL)",
    "expected the SQS URL of the stream queue, found nothing",
  );
}
