/**
 * The control plane at tenant scale (issue 15): tenants of 1,000 / 10,000 / 20,000 small
 * mailboxes (one message each), each backed up in full. Per size: discovery and planning
 * seconds, coordinator invocations and the longest one, the coordinator's peak heap growth,
 * state-table requests per mailbox (by phase), the job's makespan over a lower bound that
 * includes discovery, and how those grow from the smallest size to the largest. Run alone with
 * `npm run bench -- --scale` (`--scale-sizes=1000,10000` to choose sizes).
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAMBDA_NODE_OPTIONS } from "../infra/lambda-bundling.js";
import type { ObjectStore } from "../lib/archive/store.js";
import { indexAfterJob } from "../lib/catalog-index/search-index/after-job.js";
import type { IndexPieceFigures } from "../lib/catalog-index/search-index/build.js";
import { environmentForAwsEndpoints } from "../lib/config/aws-endpoints.js";
import type {
  CoordinatorInvocation,
  CoordinatorInvocationFigures,
} from "../lib/dev/local/coordinator-child.js";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import { stateRequestSite as callSite } from "../lib/dev/local/state-request-site.js";
import type { LatencyOptions } from "../lib/dev/sim/server/index.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { lowerBound, resolvePlanLimits, type WorkEstimate } from "../lib/plan/index.js";
import { figures, type RunFigures } from "./figures.js";
import { type ComponentCpu, cpuBetween, sampleComponentCpu } from "./process-cpu.js";
import { controllerProcessesFor, LIMITS, PAGE_SIZE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess } from "./sim-process.js";

const COORDINATOR_CHILD = fileURLToPath(new URL("../lib/dev/local/coordinator-child.ts", import.meta.url));

export const SCALE_SIZES = [1_000, 10_000, 20_000];
/** Fast answers, so that the machine (not the simulated latency) serves 20,000 mailboxes in minutes. */
export const SCALE_LATENCY: LatencyOptions = { baseMs: 20, jitterMs: 0, perMimeByteNs: 0 };
/** The service's limits are the other sections' (4 in flight, 600 requests per 20 s per mailbox). */
export const SCALE_LIMITS = LIMITS;
export const SCALE_STREAMS = 32;
/**
 * The invocation timeout the runs give the coordinator and each discovery continuation, seconds:
 * far below Lambda's 15 minutes, so that a 20,000-mailbox tenant takes many invocations here and
 * shows that none grows with the tenant.
 */
const COORDINATOR_TIMEOUT_SECONDS = 120;
/** The deadline margin of those invocations (controller.deadlineMarginMs), ms. */
const DEADLINE_MARGIN_MS = 40_000;
/**
 * Discovery's Graph requests per mailbox of these tenants, as the planning-only runs measured
 * them (`scalePlanning` in bench/results/latest.json: 3.45 in content mode fidelity; pages, probes,
 * mailbox ids and folder trees of the primary and archive mailboxes), for the full runs, whose
 * streams overlap discovery.
 */
const PLANNING_ONLY_DISCOVERY_REQUESTS_PER_MAILBOX = 3.45;
/**
 * The heap limit of each coordinator invocation's process, MiB (`--max-old-space-size`): about
 * what a 512 MB Lambda leaves the heap. Only the coordinator's: the bench and the simulator hold
 * the tenant and its emulators and have their own.
 */
export const COORDINATOR_HEAP_MIB = 400;
/** Users per discovery piece (discovery.pieceMailboxes): the default, one directory page. */
const PIECE_MAILBOXES = 999;

/**
 * DynamoDB Local's heap for a whole job of `mailboxes`, MiB: 512 (the tests' default) up to 2,000
 * mailboxes, then 256 per 1,000 (2,560 at 10,000; 5,120 at 20,000). Its in-memory table keeps the
 * job's per-mailbox, unit and page records; at 512 a job of 10,000 mailboxes wedged it after
 * discovery (every request answered 500 InternalFailure, no CPU used).
 */
export function dynamoDbHeapFor(mailboxes: number): number {
  return Math.min(16_384, Math.max(512, Math.ceil(mailboxes / 1000) * 256));
}

export function scaleTenant(mailboxes: number): TenantSpec {
  return { seed: 17, shape: "many-small", mailboxes, totalMessages: mailboxes, largeFraction: 0 };
}

export interface ScaleRow {
  mailboxes: number;
  folders: number;
  items: number;
  /** Job created → discovery done: every piece (directory page, probes, folder listing, plan, commit). */
  planningSeconds: number;
  /** Job created → the first stream tasks sent (the first piece committed). */
  firstStreamsSeconds: number;
  /** The coordinator's invocation and the discovery continuations (each one invocation). */
  coordinatorInvocations: number;
  /** The longest invocation's work (handler), s, against `coordinatorTimeoutSeconds`. */
  longestInvocationSeconds: number;
  /** The longest start of an invocation's process (Node, modules, the app), s: Lambda's init. */
  longestInitSeconds: number;
  /** Discovery pieces, and the most users one of them read (bounded by the piece size). */
  pieces: number;
  largestPiece: number;
  longestPieceSeconds: number;
  /**
   * The coordinator's peak heap and RSS, the largest of its invocations (each a process of its
   * own under `coordinatorHeapLimitBytes`, sampled every 50 ms, garbage included): what a Lambda
   * coordinator holds.
   */
  coordinatorPeakHeapBytes: number;
  coordinatorPeakRssBytes: number;
  /** The largest peak heap growth of one invocation over its level when its work began. */
  coordinatorHeapGrowthBytes: number;
  /** The invocations' heap limit (V8's heap_size_limit). */
  coordinatorHeapLimitBytes: number;
  /**
   * The heap live after each piece (a full collection first, so no garbage), per invocation, in
   * bytes. Flat across an invocation's pieces = nothing of a piece is kept.
   */
  liveHeapAfterPieces: number[][];
  /**
   * Live heap growth per piece: over the invocations of two pieces or more, the largest of
   * (live after its last piece − live after its first) / (its pieces − 1). Null when no
   * invocation ran two pieces.
   */
  liveHeapGrowthPerPieceBytes: number | null;
  /**
   * Graph requests of discovery (directory pages, probes, mailbox ids, folder listings; the
   * inner requests of a `$batch` each, the batch itself not): counted in a planning-only run; a
   * full run, whose streams overlap discovery, counts the planning-only rate.
   */
  discoveryRequests: number;
  /**
   * Discovery's round trips to Graph (HTTP requests: a `$batch` is one, whatever it carries), in
   * a planning-only run; null in a full run.
   */
  discoveryRoundTrips: number | null;
  stateRequests: {
    planning: number;
    backupAndFinalizing: number;
    total: number;
    byCommand: Record<string, number>;
    /**
     * The streams' and finalization's requests by what sent them: the command and the state
     * module's function that sent it (the first frame of lib/state outside table.ts), with the
     * backup's caller where there is one (`command state-function < backup-function`).
     */
    bySite: Record<string, number>;
  };
  stateRequestsPerMailbox: number;
  /** The coordinator's share: discovery, planning, the plan written. */
  planningStateRequestsPerMailbox: number;
  /** LB of the streams' work alone (as the other sections). */
  backupLowerBoundSeconds: number;
  /**
   * LB with discovery: each mailbox's share of discovery requests added to its work (probing and
   * listing are per-mailbox requests under the same limits), plus the directory's first page.
   */
  lowerBoundSeconds: number;
  /** Null in a planning-only run. */
  makespanOverLowerBound: number | null;
  /**
   * Users one piece could take within an invocation's timeout less its margin at the measured
   * rate (pieces are 999 users at most: the directory's page).
   */
  largestPiecePerInvocation: number;
  /** The whole job's figures; null in a planning-only run. */
  full: RunFigures | null;
  /**
   * CPU seconds each component spent on the job (from the coordinator's first invocation to the
   * report): the harness process (controllers, S3/SQS emulators), the coordinator's invocations
   * (processes that ended), the simulator, DynamoDB Local. Per mailbox they say which part's
   * work grows with the tenant, whatever else shared the machine's cores.
   */
  cpuSeconds: ComponentCpu;
  /**
   * What finalizing the job cost (lib/backup/finalize.ts: report, manifest, sync states and
   * folder trees promoted, mailboxes' last success, the job closed), from the last stream's
   * call to its end; null in a planning-only run. The bench's own job polls (one GetItem every
   * 2 s) fall in `stateRequests` too.
   */
  finalizing: (PhaseCost & { pieces: FinalizingPieces }) | null;
  /**
   * The search index brought up to the job after it (`indexAfterJob`, what the index task runs;
   * this job being the archive's first, every mailbox is new to the index); null in a
   * planning-only run.
   */
  indexAfterJob: PhaseCost | null;
  /**
   * The index build's pieces (lib/catalog-index/search-index/build.ts), run as index tasks in
   * controller invocations of {@link CONTROLLER_TIMEOUT_SECONDS} less the deadline margin; null in
   * a planning-only run (and in rows of runs before the build ran in pieces).
   */
  indexPieces?: IndexPieceSummary | null;
}

/** What the index build's pieces did, and how large a piece could be within an invocation. */
export interface IndexPieceSummary {
  pieces: number;
  /** Index tasks (controller invocations) the build took. */
  invocations: number;
  largestPieceSeconds: number;
  /** Per piece, the most mailboxes and the most rows (catalog lines of a first job) it took. */
  mailboxesPerPiece: number;
  rowsPerPiece: number;
  /** Over the pieces' own time (not the setup each invocation does before its first piece). */
  rowsPerSecond: number;
  mailboxesPerSecond: number;
  /** The harness process's CPU seconds over the build, and per mailbox (ms). */
  cpuSeconds: number;
  cpuMillisecondsPerMailbox: number;
  /**
   * Mailboxes of this size one invocation could index at the measured rate (its timeout less the
   * margin): pieces end earlier by themselves (rows, mailboxes), so this is how many pieces'
   * worth one invocation takes.
   */
  mailboxesPerInvocation: number;
}

/**
 * Mailboxes per piece of the index build (`BENCH_INDEX_PIECE_MAILBOXES`; default the product's,
 * 2,000): smaller shows several pieces at the bench's sizes.
 */
const INDEX_PIECE_MAILBOXES = process.env.BENCH_INDEX_PIECE_MAILBOXES
  ? Number(process.env.BENCH_INDEX_PIECE_MAILBOXES)
  : undefined;

/** The controller's timeout in production (infra/config.ts), which runs index tasks. */
const CONTROLLER_TIMEOUT_SECONDS = 900;
/** The controller's deadline margin's default (lib/config/schema.ts `deadlineMarginMs`). */
const CONTROLLER_MARGIN_MS = 60_000;

/**
 * Finalization's pieces (lib/backup/finalize.ts, logged as `job.finalize.piece`), by kind: how
 * many, the records each took, and the seconds of the longest, so that the largest piece an
 * invocation's timeout allows can be read off (`recordsWithinTimeout`: records one piece of that
 * kind could take in the benchmark's coordinator timeout less its margin: its largest piece's
 * records in its longest piece's seconds).
 */
export interface FinalizingPieces {
  pieces: number;
  longestPieceSeconds: number;
  byKind: Record<
    string,
    {
      pieces: number;
      records: number;
      largestRecords: number;
      longestSeconds: number;
      totalSeconds: number;
      recordsWithinTimeout: number;
    }
  >;
}

/** The pieces' figures from their log events. */
export function finalizingPieces(
  events: ReadonlyArray<{ kind: string; records: number; ms: number }>,
  budgetSeconds: number,
): FinalizingPieces {
  const byKind: FinalizingPieces["byKind"] = {};
  for (const e of events) {
    const k = byKind[e.kind] ?? {
      pieces: 0,
      records: 0,
      largestRecords: 0,
      longestSeconds: 0,
      totalSeconds: 0,
      recordsWithinTimeout: 0,
    };
    byKind[e.kind] = k;
    k.pieces++;
    k.records += e.records;
    k.largestRecords = Math.max(k.largestRecords, e.records);
    k.longestSeconds = Math.max(k.longestSeconds, e.ms / 1000);
    k.totalSeconds += e.ms / 1000;
  }
  for (const k of Object.values(byKind)) {
    // As many records as the largest piece in the time of the longest (not the slowest rate: a
    // piece of a few records is mostly its fixed requests), over the budget.
    k.recordsWithinTimeout =
      k.longestSeconds > 0 ? Math.floor((budgetSeconds / k.longestSeconds) * k.largestRecords) : 0;
  }
  return {
    pieces: events.length,
    longestPieceSeconds: Math.max(0, ...events.map((e) => e.ms / 1000)),
    byKind,
  };
}

/** A phase's wall time and the requests it sent to the state table and the archive. */
export interface PhaseCost {
  /** Seconds of work, summed over its invocations (not the waits between them). */
  seconds: number;
  /** Invocations it took (a finalization hands on near its deadline: lib/backup/finalize.ts). */
  invocations: number;
  stateRequests: number;
  stateRequestsByCommand: Record<string, number>;
  /** Archive operations by kind (the local folder's; what they would be on S3). */
  store: StoreCounts;
  /**
   * The S3 requests those operations would be: one per put, get, ranged get, head, move (copy)
   * and delete, and one LIST per 1,000 keys listed (at least one per listing).
   */
  s3Requests: number;
  stateRequestsPerMailbox: number;
  s3RequestsPerMailbox: number;
}

interface StoreCounts {
  put: number;
  get: number;
  getRange: number;
  head: number;
  list: number;
  listedKeys: number;
  listRequests: number;
  move: number;
  delete: number;
}

const noStoreCounts = (): StoreCounts => ({
  put: 0,
  get: 0,
  getRange: 0,
  head: 0,
  list: 0,
  listedKeys: 0,
  listRequests: 0,
  move: 0,
  delete: 0,
});

/**
 * Counts the store's operations into `into()` (undefined: not counted) by wrapping the instance's
 * methods; `getBytes` counts as a get.
 */
function countStore(store: ObjectStore, into: () => StoreCounts | undefined): void {
  const s = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ["put", "get", "getRange", "getBytes", "head", "move", "delete"] as const) {
    const original = s[name]!.bind(store);
    s[name] = (...args: unknown[]) => {
      const counts = into();
      if (counts) counts[name === "getBytes" ? "get" : name]++;
      return original(...args);
    };
  }
  const list = store.list.bind(store);
  s.list = (prefix: unknown) => {
    const counts = into();
    const listing = list(prefix as string);
    if (!counts) return listing;
    counts.list++;
    return (async function* () {
      let keys = 0;
      try {
        for await (const info of listing) {
          keys++;
          yield info;
        }
      } finally {
        counts.listedKeys += keys;
        counts.listRequests += Math.max(1, Math.ceil(keys / 1000));
      }
    })();
  };
}

/** Two invocations' costs of one phase as one. */
function sumCosts(a: PhaseCost, b: PhaseCost, mailboxes: number): PhaseCost {
  const byCommand = { ...a.stateRequestsByCommand };
  for (const [name, n] of Object.entries(b.stateRequestsByCommand))
    byCommand[name] = (byCommand[name] ?? 0) + n;
  const store = { ...a.store };
  for (const key of Object.keys(store) as Array<keyof StoreCounts>) store[key] += b.store[key];
  const stateRequests = a.stateRequests + b.stateRequests;
  const s3Requests = a.s3Requests + b.s3Requests;
  return {
    seconds: a.seconds + b.seconds,
    invocations: a.invocations + b.invocations,
    stateRequests,
    stateRequestsByCommand: byCommand,
    store,
    s3Requests,
    stateRequestsPerMailbox: stateRequests / mailboxes,
    s3RequestsPerMailbox: s3Requests / mailboxes,
  };
}

const s3RequestsOf = (c: StoreCounts) =>
  c.put + c.get + c.getRange + c.head + c.move + c.delete + c.listRequests;

export interface ScaleFigures {
  latencyMs: number;
  limits: typeof SCALE_LIMITS;
  streams: number;
  coordinatorTimeoutSeconds: number;
  deadlineMarginMs: number;
  pieceMailboxes: number;
  /** `--max-old-space-size` of each coordinator invocation's process, MiB. */
  coordinatorHeapMiB: number;
  /** Controller processes of the runs (0: the controllers in the harness process). */
  controllerProcesses?: number;
  rows: ScaleRow[];
  /**
   * Per-mailbox figures at the largest size over the smallest (1.0 = linear growth; target ≤ 1.2).
   * `coordinatorPeakHeapAbsolute`: the largest invocation's peak heap, largest size over smallest
   * (1.0 = memory independent of the tenant).
   */
  growth: {
    planningSeconds: number;
    stateRequests: number;
    coordinatorHeap: number;
    coordinatorPeakHeapAbsolute: number;
    /** CPU seconds per mailbox by component; null when a row predates the count. */
    cpuSeconds: ComponentCpu | null;
    /** Null when either size ran planning only. */
    makespan: number | null;
  } | null;
}

/** Node's flags for a child process: the parent's (tsx's loader), without a heap limit of its own. */
function childExecArgv(): { execArgv: string[]; nodeOptions: string } {
  const heapLimit = /--max-old-space-size=\S+/;
  return {
    execArgv: process.execArgv.filter((a) => !heapLimit.test(a)),
    nodeOptions: (process.env.NODE_OPTIONS ?? "").replace(heapLimit, "").trim(),
  };
}

/**
 * Runs one coordinator invocation in a process of its own (lib/dev/local/coordinator-child.ts) under
 * `heapMiB`, with `env` pointing it at the stack; its figures.
 */
async function coordinatorInvocation(
  spec: CoordinatorInvocation,
  env: Record<string, string>,
  heapMiB: number,
): Promise<CoordinatorInvocationFigures> {
  const { execArgv, nodeOptions } = childExecArgv();
  const child = spawn(
    process.execPath,
    [...execArgv, "--expose-gc", `--max-old-space-size=${heapMiB}`, COORDINATOR_CHILD, JSON.stringify(spec)],
    // The deployed functions' options too (source maps, the young generation's cap), as on Lambda.
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env, NODE_OPTIONS: `${nodeOptions} ${LAMBDA_NODE_OPTIONS}`.trim() },
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += String(d);
  });
  child.stderr.on("data", (d) => {
    stderr = `${stderr}${String(d)}`.slice(-4000);
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once("exit", (c, s) => resolve([c, s])),
  );
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) {
    throw new Error(
      `scale: coordinator invocation (${spec.work.kind}): expected one line of figures, found ${signal ?? `exit ${code}`}: ${stderr}`,
    );
  }
  return JSON.parse(line) as CoordinatorInvocationFigures;
}

async function benchScaleOne(
  mailboxes: number,
  planningOnly: boolean,
  coordinatorHeapMiB: number,
  ca: { certPem: string; keyPem: string },
  caDir: string,
): Promise<ScaleRow> {
  const spec = scaleTenant(mailboxes);
  const sim = await startSimProcess({
    tenant: spec,
    latency: SCALE_LATENCY,
    limits: SCALE_LIMITS,
    ca,
    certDir: caDir,
  });
  const progress = (step: string) => process.stderr.write(`bench: scale ${mailboxes}: ${step}\n`);
  progress("simulator started");
  const dir = mkdtempSync(join(tmpdir(), `mailstream-bench-scale-${mailboxes}-`));
  let services: LocalServices | undefined;
  try {
    const service = {
      perRequestSeconds: (SCALE_LATENCY.baseMs ?? 0) / 1000,
      perByteSeconds: 0,
      pageSize: PAGE_SIZE,
    };
    // Counted beside the tenant, in the simulator's process: this one never holds its ground truth.
    const content = await sim.content(service);
    progress(`content counted: ${content.works.length} mailboxes`);
    const planLimits = resolvePlanLimits({
      maxStreams: SCALE_STREAMS,
      perMailboxConcurrency: SCALE_LIMITS.concurrentPerMailbox,
      budgetPerWindow: SCALE_LIMITS.budgetPerWindow,
      windowSeconds: SCALE_LIMITS.windowMs / 1000,
      requestLatencySeconds: service.perRequestSeconds,
      perByteSeconds: 0,
    });
    const archivePath = join(dir, "archive");
    const settings = {
      MAILSTREAM_DEADLINE_MARGIN_MS: String(DEADLINE_MARGIN_MS),
      MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: String(PIECE_MAILBOXES),
    };
    // Finalization's pieces, as the app logs them (every other event dropped, as by the silent logger).
    const pieceEvents: Array<{ kind: string; records: number; ms: number }> = [];
    const pieceLogger: NonNullable<Parameters<typeof startLocalServices>[0]["logger"]> = {
      debug: () => {},
      info: (event, fields) => {
        if (event === "job.finalize.piece")
          pieceEvents.push(fields as { kind: string; records: number; ms: number });
      },
      warn: () => {},
      error: () => {},
      child: () => pieceLogger,
    };
    services = await startLocalServices(
      {
        archive: { kind: "local", path: archivePath },
        // The whole job's state in DynamoDB Local's memory: 512 MiB wedged it at 10,000 mailboxes.
        dynamoDbHeapMib: dynamoDbHeapFor(mailboxes),
        streams: SCALE_STREAMS,
        planLimits,
        functionTimeoutMs: COORDINATOR_TIMEOUT_SECONDS * 1000,
        env: settings,
        // The controllers where BENCH_CONTROLLER_PROCESSES puts them (default this process); in processes, their
        // finalizations and discovery continuations run here, where they are measured below.
        controllerProcesses: controllerProcessesFor(SCALE_STREAMS),
        delegateToHarness: ["finalize", "continueDiscovery"],
        countStateRequestSites: true,
        logger: pieceLogger,
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    // What points a coordinator process at this stack (as startLocalServices configures its app).
    const coordinatorEnv: Record<string, string> = {
      MAILSTREAM_SEARCH_INDEX_AFTER_JOB: "off",
      ...sim.info.tenantEnv,
      MAILSTREAM_ARCHIVE: "local",
      MAILSTREAM_ARCHIVE_PATH: archivePath,
      MAILSTREAM_STATE_TABLE: stack.app.config.stateTable,
      MAILSTREAM_STREAM_QUEUE_URL: stack.queue.url,
      MAILSTREAM_STREAMS_MAX: String(SCALE_STREAMS),
      ...environmentForAwsEndpoints(stack.emulators.endpoints),
      ...settings,
    };
    // The streams' state-table requests, by command (the document client sends through this
    // stack); the coordinator's are counted in its processes.
    const state = {
      planning: 0,
      backupAndFinalizing: 0,
      total: 0,
      byCommand: {} as Record<string, number>,
      bySite: {} as Record<string, number>,
    };
    let counting = false;
    // The phase counted apart (finalizing, the index after the job): its state and store requests.
    let phase: { state: Record<string, number>; store: StoreCounts } | undefined;
    stack.clients.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName ?? "unknown");
        if (counting) {
          state.backupAndFinalizing++;
          state.byCommand[name] = (state.byCommand[name] ?? 0) + 1;
          const site = `${name} ${callSite()}`;
          state.bySite[site] = (state.bySite[site] ?? 0) + 1;
        }
        if (phase) phase.state[name] = (phase.state[name] ?? 0) + 1;
        return next(args);
      },
      { step: "initialize", name: "benchStateRequests" },
    );
    countStore(stack.app.archive.store, () => phase?.store);
    const measure = async <T>(work: () => Promise<T>): Promise<{ value: T; cost: PhaseCost }> => {
      const counts = { state: {} as Record<string, number>, store: noStoreCounts() };
      phase = counts;
      const t0 = Date.now();
      try {
        const value = await work();
        const stateRequests = Object.values(counts.state).reduce((a, b) => a + b, 0);
        const s3Requests = s3RequestsOf(counts.store);
        return {
          value,
          cost: {
            seconds: (Date.now() - t0) / 1000,
            invocations: 1,
            stateRequests,
            stateRequestsByCommand: counts.state,
            store: counts.store,
            s3Requests,
            stateRequestsPerMailbox: stateRequests / mailboxes,
            s3RequestsPerMailbox: s3Requests / mailboxes,
          },
        };
      } finally {
        phase = undefined;
      }
    };
    // Each invocation of the finalization (the last stream's, then its continuations) counted.
    let finalizing: PhaseCost | undefined;
    const finalize = stack.app.finalize.bind(stack.app);
    stack.app.finalize = async (jobId, remainingMs, retryDeadline) => {
      const { value, cost } = await measure(() => finalize(jobId, remainingMs, retryDeadline));
      finalizing = finalizing ? sumCosts(finalizing, cost, mailboxes) : cost;
      return value;
    };

    const invocations: CoordinatorInvocationFigures[] = [];
    const invocation = async (work: CoordinatorInvocation["work"]) => {
      const figures = await coordinatorInvocation(
        { work, timeoutMs: COORDINATOR_TIMEOUT_SECONDS * 1000, planLimits },
        coordinatorEnv,
        coordinatorHeapMiB,
      );
      invocations.push(figures);
      progress(`invocation ${invocations.length}: ${figures.pieces} pieces in ${figures.seconds} s`);
      for (const [name, n] of Object.entries(figures.stateRequests)) {
        state.planning += n;
        state.byCommand[name] = (state.byCommand[name] ?? 0) + n;
      }
      return figures;
    };
    // The controller runs each continuation as a coordinator invocation of its own.
    stack.app.continueDiscovery = async (task) => {
      const figures = await invocation({ kind: "continue", task });
      return figures as unknown as Awaited<ReturnType<LocalServices["app"]["continueDiscovery"]>>;
    };

    // Planning only: no controller runs; the continuations are run here, one after another, as
    // the controller would run them (the stream tasks the pieces send stay in the queue).
    if (planningOnly) await stack.source.stop();
    const controllerPids = stack.controllerProcesses?.pids ?? [];
    const cpu0 = sampleComponentCpu(sim.pid, controllerPids);
    const c0 = await counters(sim);
    const wire0 = (await sim.stats()).graph;
    // Planning only: the bench's own reads of the discovery record are not counted.
    counting = !planningOnly;
    const started = await invocation({ kind: "start", time: new Date().toISOString() });
    const jobId = started.jobId;
    const discovery = () => stack.app.state.getDiscovery(jobId);
    let full: RunFigures | undefined;
    if (planningOnly) {
      for (let d = await discovery(); d?.done !== true; d = await discovery()) {
        await invocation({ kind: "continue", task: { kind: "discover", jobId, piece: d?.piece ?? 0 } });
      }
    } else {
      const report = await stack.waitForJob(jobId, { refreshMs: 2000 });
      full = figures(report, c0, await counters(sim), SCALE_STREAMS);
    }
    counting = false;
    const cpuSeconds = cpuBetween(cpu0, sampleComponentCpu(sim.pid, controllerPids));
    // The streams' state requests sent by the controller processes, counted there.
    const fromControllers = await stack.controllerProcesses?.stopControllers();
    for (const [name, n] of Object.entries(fromControllers?.stateRequests ?? {})) {
      state.backupAndFinalizing += n;
      state.byCommand[name] = (state.byCommand[name] ?? 0) + n;
    }
    for (const [site, n] of Object.entries(fromControllers?.stateRequestSites ?? {}))
      state.bySite[site] = (state.bySite[site] ?? 0) + n;
    // The index tasks, as controllers run them: each an invocation of the controller's timeout,
    // handing on near its deadline, until the index is built.
    const pieces: IndexPieceFigures[] = [];
    let indexInvocations = 0;
    // This process's CPU over the build (it runs here alone after the job: the emulators idle).
    const indexCpu0 = process.cpuUsage();
    const index = planningOnly
      ? undefined
      : await measure(async () => {
          for (;;) {
            indexInvocations++;
            const started = Date.now();
            const outcome = await indexAfterJob(stack.app.archive.store, {
              lease: stack.app.state,
              remainingMs: () => CONTROLLER_TIMEOUT_SECONDS * 1000 - (Date.now() - started),
              deadlineMarginMs: CONTROLLER_MARGIN_MS,
              ...(INDEX_PIECE_MAILBOXES !== undefined ? { mailboxesPerPiece: INDEX_PIECE_MAILBOXES } : {}),
              onPiece: (f) => pieces.push(f),
            });
            if (outcome.status !== "continued") return outcome;
          }
        });
    if (index) index.cost.invocations = indexInvocations;
    const indexCpu = process.cpuUsage(indexCpu0);
    const indexPieces = index
      ? summarizePieces(pieces, indexInvocations, (indexCpu.user + indexCpu.system) / 1e6)
      : null;
    if (index) {
      progress(
        `index after the job: ${index.cost.seconds} s, ${index.cost.s3Requests} S3 requests, ${pieces.length} pieces (largest ${indexPieces?.largestPieceSeconds} s), ${indexInvocations} invocations`,
      );
    }
    state.total = state.planning + state.backupAndFinalizing;
    const c1 = await counters(sim);
    const wire1 = (await sim.stats()).graph;
    const job = await stack.app.state.getJob(jobId);
    const seconds = (from: string | undefined, to: string | undefined) =>
      from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : 0;
    const planningSeconds = seconds(job?.createdAt, job?.discoveredAt);
    const most = (pick: (i: CoordinatorInvocationFigures) => number) => Math.max(...invocations.map(pick));
    const longestPieceSeconds = most((i) => i.longestPieceMs) / 1000;
    const largestPiece = most((i) => i.largestPiece);
    const liveHeapAfterPieces = invocations.map((i) => i.liveHeapAfterPieces);

    // A full run's streams start on the first piece, so its requests mix discovery's and the
    // backup's: it counts discovery at the rate the planning-only runs measured.
    const batches = wire1.batches - wire0.batches;
    const batched = wire1.batchedRequests - wire0.batchedRequests;
    const discoveryRequests = planningOnly
      ? c1.requests - c0.requests - batches
      : Math.round(PLANNING_ONLY_DISCOVERY_REQUESTS_PER_MAILBOX * content.works.length);
    // The directory's first page comes before any probe; every other discovery request (pages,
    // probes, folder listings) is spread over the mailboxes backed up (they are alike here).
    const perMailbox = (discoveryRequests - 1) / Math.max(1, content.works.length);
    const withDiscovery: WorkEstimate[] = content.works.map((w) => ({
      requests: w.requests + perMailbox,
      serialSeconds: w.serialSeconds + perMailbox * service.perRequestSeconds,
    }));
    const backupLb = lowerBound(content.works, SCALE_STREAMS, planLimits);
    const lb = service.perRequestSeconds + lowerBound(withDiscovery, SCALE_STREAMS, planLimits);
    return {
      mailboxes: content.works.length,
      folders: content.folders,
      items: content.items,
      planningSeconds,
      firstStreamsSeconds: seconds(job?.createdAt, job?.plannedAt),
      coordinatorInvocations: invocations.length,
      longestInvocationSeconds: most((i) => i.seconds),
      longestInitSeconds: most((i) => i.initSeconds),
      pieces: invocations.reduce((n, i) => n + i.pieces, 0),
      largestPiece,
      longestPieceSeconds,
      coordinatorPeakHeapBytes: most((i) => i.peakHeapBytes),
      coordinatorPeakRssBytes: most((i) => i.peakRssBytes),
      coordinatorHeapGrowthBytes: most((i) => i.heapGrowthBytes),
      coordinatorHeapLimitBytes: most((i) => i.heapLimitBytes),
      liveHeapAfterPieces,
      liveHeapGrowthPerPieceBytes: growthPerPiece(liveHeapAfterPieces),
      discoveryRequests,
      discoveryRoundTrips: planningOnly ? c1.requests - c0.requests - batched : null,
      stateRequests: state,
      stateRequestsPerMailbox: state.total / Math.max(1, content.works.length),
      planningStateRequestsPerMailbox: state.planning / Math.max(1, content.works.length),
      backupLowerBoundSeconds: backupLb,
      lowerBoundSeconds: lb,
      makespanOverLowerBound: full && lb > 0 ? full.makespanSeconds / lb : null,
      largestPiecePerInvocation: Math.floor(
        ((COORDINATOR_TIMEOUT_SECONDS - DEADLINE_MARGIN_MS / 1000) / Math.max(1e-9, longestPieceSeconds)) *
          largestPiece,
      ),
      full: full ?? null,
      cpuSeconds,
      finalizing: finalizing
        ? {
            ...finalizing,
            pieces: finalizingPieces(pieceEvents, COORDINATOR_TIMEOUT_SECONDS - DEADLINE_MARGIN_MS / 1000),
          }
        : null,
      indexAfterJob: index?.cost ?? null,
      indexPieces,
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarizePieces(
  pieces: readonly IndexPieceFigures[],
  invocations: number,
  cpuSeconds: number,
): IndexPieceSummary {
  const seconds = pieces.reduce((n, p) => n + p.ms, 0) / 1000;
  const rows = pieces.reduce((n, p) => n + p.rows, 0);
  const mailboxes = pieces.reduce((n, p) => n + p.mailboxes, 0);
  const perSecond = (n: number) => Math.round((n / Math.max(1e-9, seconds)) * 10) / 10;
  return {
    pieces: pieces.length,
    invocations,
    largestPieceSeconds: Math.max(0, ...pieces.map((p) => p.ms)) / 1000,
    mailboxesPerPiece: Math.max(0, ...pieces.map((p) => p.mailboxes)),
    rowsPerPiece: Math.max(0, ...pieces.map((p) => p.rows)),
    rowsPerSecond: perSecond(rows),
    mailboxesPerSecond: perSecond(mailboxes),
    cpuSeconds,
    cpuMillisecondsPerMailbox: Math.round((cpuSeconds / Math.max(1, mailboxes)) * 1e4) / 10,
    mailboxesPerInvocation: Math.floor(
      (CONTROLLER_TIMEOUT_SECONDS - CONTROLLER_MARGIN_MS / 1000) * (mailboxes / Math.max(1e-9, seconds)),
    ),
  };
}

/** Per component: CPU seconds per mailbox at the largest size over the smallest (1.0 = linear). */
function cpuGrowth(first: ScaleRow, last: ScaleRow): ComponentCpu | null {
  if (!first.cpuSeconds || !last.cpuSeconds) return null; // rows of runs before this was counted
  const per = (row: ScaleRow, key: keyof ComponentCpu) => (row.cpuSeconds[key] ?? 0) / row.mailboxes;
  const ratio = (key: keyof ComponentCpu) => per(last, key) / Math.max(1e-9, per(first, key));
  return {
    harness: ratio("harness"),
    controllers: ratio("controllers"),
    endedChildren: ratio("endedChildren"),
    simulator: ratio("simulator"),
    dynamodb: ratio("dynamodb"),
  };
}

/** The largest live-heap growth per piece of an invocation that ran two pieces or more. */
function growthPerPiece(invocations: readonly number[][]): number | null {
  const slopes = invocations
    .filter((live) => live.length >= 2)
    .map((live) => ((live.at(-1) as number) - (live[0] as number)) / (live.length - 1));
  return slopes.length > 0 ? Math.max(...slopes) : null;
}

export async function benchScale(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  sizes: readonly number[] = SCALE_SIZES,
  /** After each size, with the figures so far (a long run leaves its rows if interrupted). */
  onRow?: (row: ScaleRow, sofar: ScaleFigures) => void,
  /** Only the coordinator's invocations (discovery and planning) of each size, not the backup. */
  planningOnly = false,
  coordinatorHeapMiB = COORDINATOR_HEAP_MIB,
): Promise<ScaleFigures> {
  const rows: ScaleRow[] = [];
  for (const size of sizes) {
    const row = await benchScaleOne(size, planningOnly, coordinatorHeapMiB, ca, caDir);
    rows.push(row);
    onRow?.(row, scaleFigures(rows, coordinatorHeapMiB));
  }
  return scaleFigures(rows, coordinatorHeapMiB);
}

/** The section's figures from the rows measured so far (smallest size first). */
export function scaleFigures(rows: readonly ScaleRow[], coordinatorHeapMiB: number): ScaleFigures {
  const first = rows[0];
  const last = rows.at(-1);
  const per = (row: ScaleRow, value: number) => value / row.mailboxes;
  const growth =
    first && last && last !== first
      ? {
          planningSeconds:
            per(last, last.planningSeconds) / Math.max(1e-9, per(first, first.planningSeconds)),
          stateRequests: last.stateRequestsPerMailbox / Math.max(1e-9, first.stateRequestsPerMailbox),
          coordinatorHeap:
            per(last, last.coordinatorPeakHeapBytes) /
            Math.max(1e-9, per(first, first.coordinatorPeakHeapBytes)),
          coordinatorPeakHeapAbsolute:
            last.coordinatorPeakHeapBytes / Math.max(1, first.coordinatorPeakHeapBytes),
          cpuSeconds: cpuGrowth(first, last),
          makespan:
            last.full && first.full
              ? per(last, last.full.makespanSeconds) / Math.max(1e-9, per(first, first.full.makespanSeconds))
              : null,
        }
      : null;
  return {
    latencyMs: SCALE_LATENCY.baseMs ?? 0,
    limits: SCALE_LIMITS,
    streams: SCALE_STREAMS,
    coordinatorTimeoutSeconds: COORDINATOR_TIMEOUT_SECONDS,
    deadlineMarginMs: DEADLINE_MARGIN_MS,
    pieceMailboxes: PIECE_MAILBOXES,
    coordinatorHeapMiB,
    controllerProcesses: controllerProcessesFor(SCALE_STREAMS),
    rows: [...rows],
    growth,
  };
}
