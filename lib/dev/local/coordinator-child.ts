/**
 * One coordinator invocation in a process of its own, for the benchmark's scale runs (bench/scale.ts): the
 * job's start (`startJob`) or one discovery continuation, under the heap limit its parent gives it
 * (`--max-old-space-size`, about what a 512 MB Lambda leaves the heap), so that the memory it
 * reports is what a Lambda coordinator would hold: no harness, no emulator, no ground truth
 * beside it. Configured by MAILSTREAM_* environment values (the parent's simulator, emulators,
 * state table, queue and archive) and one JSON argument ({@link CoordinatorInvocation}); prints
 * one JSON line ({@link CoordinatorInvocationFigures}) and exits.
 *
 * Run with `--expose-gc`: after each discovery piece a full collection, then the live heap (what
 * the piece kept).
 */
import { fileURLToPath } from "node:url";
import { getHeapStatistics } from "node:v8";
import { type BackupAppOptions, createBackupApp } from "../../app/backup-app.js";
import type { Logger } from "../../app/logger.js";
import { createAwsClients } from "../../aws/clients.js";
import type { DiscoveryRun } from "../../backup/coordinator.js";
import { awsEndpointsFromConfig } from "../../config/aws-endpoints.js";
import { loadConfig } from "../../config/index.js";
import type { DiscoveryTask } from "../../queue/stream-task.js";

export interface CoordinatorInvocation {
  /** `start`: a new on-demand job; `continue`: the discovery task's next pieces. */
  work: { kind: "start"; time: string } | { kind: "continue"; task: DiscoveryTask };
  /** The invocation's timeout, ms (what `remainingMs` counts down from). */
  timeoutMs: number;
  planLimits: NonNullable<BackupAppOptions["planLimits"]>;
}

export interface CoordinatorInvocationFigures {
  status: string;
  jobId: string;
  pieces: number;
  largestPiece: number;
  longestPieceMs: number;
  /** The invocation's work (its handler), s; `initSeconds` before it (process, modules, app). */
  seconds: number;
  initSeconds: number;
  /** Peaks of the process during the work, sampled every 50 ms (absolute: what the function holds). */
  peakHeapBytes: number;
  peakRssBytes: number;
  /** Peak growth over the level when the work began (after the app was created and a collection). */
  heapGrowthBytes: number;
  rssGrowthBytes: number;
  heapLimitBytes: number;
  /** Live heap after each piece, after a full collection. */
  liveHeapAfterPieces: number[];
  /** State-table requests by command. */
  stateRequests: Record<string, number>;
}

/** Samples heap and RSS until stopped. */
function memorySampler(everyMs = 50) {
  const base = process.memoryUsage();
  let heap = base.heapUsed;
  let rss = base.rss;
  const sample = () => {
    const m = process.memoryUsage();
    heap = Math.max(heap, m.heapUsed);
    rss = Math.max(rss, m.rss);
  };
  const timer = setInterval(sample, everyMs);
  return () => {
    clearInterval(timer);
    sample();
    return { heap, rss, heapGrowth: heap - base.heapUsed, rssGrowth: rss - base.rss };
  };
}

async function invoke(spec: CoordinatorInvocation): Promise<CoordinatorInvocationFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("coordinator-child: expected --expose-gc, found no gc()");
  const initStarted = Date.now() - Math.round(process.uptime() * 1000);
  const liveHeapAfterPieces: number[] = [];
  const logger: Logger = {
    debug: () => {},
    info: (event) => {
      if (event !== "discovery.piece") return;
      gc();
      liveHeapAfterPieces.push(process.memoryUsage().heapUsed);
    },
    warn: () => {},
    error: () => {},
    child: () => logger,
  };
  const config = loadConfig({ env: process.env });
  const clients = createAwsClients(awsEndpointsFromConfig(config));
  const stateRequests: Record<string, number> = {};
  clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "unknown");
      stateRequests[name] = (stateRequests[name] ?? 0) + 1;
      return next(args);
    },
    { step: "initialize", name: "benchStateRequests" },
  );
  const app = await createBackupApp({ config, clients, logger, planLimits: spec.planLimits });
  gc();
  const t0 = Date.now();
  const deadline = t0 + spec.timeoutMs;
  const remainingMs = () => deadline - Date.now();
  const stop = memorySampler();
  const out =
    spec.work.kind === "start"
      ? await app.startJob({ kind: "on-demand", time: spec.work.time }, remainingMs)
      : await app.continueDiscovery(spec.work.task, remainingMs);
  const memory = stop();
  const seconds = (Date.now() - t0) / 1000;
  app.close();
  clients.destroy();
  const run = out as Partial<DiscoveryRun> & { status: string; jobId: string };
  return {
    status: run.status,
    jobId: run.jobId,
    pieces: run.pieces ?? 0,
    largestPiece: run.largestPiece ?? 0,
    longestPieceMs: run.longestPieceMs ?? 0,
    seconds,
    initSeconds: (t0 - initStarted) / 1000,
    peakHeapBytes: memory.heap,
    peakRssBytes: memory.rss,
    heapGrowthBytes: memory.heapGrowth,
    rssGrowthBytes: memory.rssGrowth,
    heapLimitBytes: getHeapStatistics().heap_size_limit,
    liveHeapAfterPieces,
    stateRequests,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  invoke(JSON.parse(process.argv[2] ?? "{}") as CoordinatorInvocation).then(
    (figures) => {
      process.stdout.write(`${JSON.stringify(figures)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(
        `coordinator-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
