/**
 * Peak RSS of one controller Lambda backing up a mailbox that holds a 100 MB message (issue 4:
 * "Controller peak RSS ≤ 200 MB with the 100 MB message").
 *
 * `bench/run.ts` measures one process that holds the whole local stack; this measures the
 * controller alone. This process runs the simulated tenant, the S3/SQS emulator, DynamoDB Local
 * and the coordinator (which plans the job and sends the stream task). Each stream task is
 * received from the queue with Lambda's event shape and handed to a fresh child process that
 * plays one controller invocation: the real handler of `functions/controller.ts`, bundled as the
 * CDK stack bundles it, configured through MAILSTREAM_* variables, archiving to the S3 emulator.
 * The child reports its `process.resourceUsage().maxRSS`; continuation tasks get a child each
 * and the figure is the maximum over them.
 *
 * Run alone: `npx tsx bench/controller-rss.ts [--message-mib=100] [--out=file.json]`
 * `[--function-timeout-ms=900000 --deadline-margin-ms=60000]` (short ones force continuations),
 * `[--job-timeout-ms=180000]` (how long to wait for the job); for diagnosis
 * `--node-flags="--trace-gc" --child-log=/tmp/controller.log` passes flags to the controller
 * process and keeps its output.
 */

import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { LAMBDA_RUNTIME_ENVIRONMENT, lambdaEsbuildOptions } from "../infra/lambda-bundling.js";
import { environmentForAwsEndpoints } from "../lib/config/aws-endpoints.js";
import { simulatorTenantEnv } from "../lib/dev/local/simulator-env.js";
import { LocalSqsEventSource } from "../lib/dev/local/sqs-event-source.js";
import { type LocalStack, startLocalStack } from "../lib/dev/local/stack.js";
import { reexecTrustingCa } from "../lib/dev/local/trust-ca.js";
import { ensureSimulatorCa } from "../lib/dev/sim/server/index.js";
import { generateTenant } from "../lib/dev/sim/tenant/generate.js";
import type { SQSBatchResponse, SQSEvent } from "../lib/queue/lambda-events.js";
import type { ChildInvocation, ChildReport } from "./controller-rss-child.js";
import { rightAlignedTable } from "./table.js";

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(here, "..");
const MiB = 1024 * 1024;

/** The issue's "100 MB message": the same size bench/run.ts uses. */
export const HUNDRED_MB = 100 * MiB;
/** The issue's target for the controller's peak RSS: 200 MB (SI, 190.7 MiB). */
export const TARGET_RSS_BYTES = 200_000_000;

export interface ControllerRssOptions {
  /** Size in bytes of the large message. 4096..157286400 (150 MiB, Exchange Online's limit). Default 100 MiB. */
  messageBytes?: number;
  /** Ordinary messages beside it in the same mailbox (in each mailbox). 0..1000. Default 20. */
  ordinaryMessages?: number;
  /** Mailboxes of the tenant, all in one stream task. 1..16. Default 1. */
  mailboxes?: number;
  /** How many of them (the first ones) hold a `messageBytes` message each. 1..mailboxes. Default 1. */
  largeMailboxes?: number;
  /**
   * The controller's timeout as Lambda's, in ms: what `getRemainingTimeInMillis` starts from.
   * 10 000..900 000, above `deadlineMarginMs`. Default 900 000 (the deployed setting). Shorter
   * values force continuation tasks, each run by a child of its own.
   */
  functionTimeoutMs?: number;
  /**
   * The controller's MAILSTREAM_DEADLINE_MARGIN_MS: it checkpoints and continues this long before
   * the timeout. 5 000..300 000 ms. Default: the configuration's (60 000).
   */
  deadlineMarginMs?: number;
  /**
   * CA that signs the simulator's certificate; this process must already trust it through
   * NODE_EXTRA_CA_CERTS (the child inherits that). Default: the one in `<tmpdir>/mailstream-bench-ca`,
   * which `bench/run.ts` and this script's own entry point trust.
   */
  ca?: { certPem: string; keyPem: string };
  /** Milliseconds to wait for the job to close. Default 180 000. */
  timeoutMs?: number;
  /** Extra Node flags for the controller process, for diagnosis (e.g. `--trace-gc`). Default none. */
  nodeFlags?: string[];
  /** File that receives the controller processes' stdout and stderr (logs, traces). Default: none kept. */
  childLogPath?: string;
  /**
   * More MAILSTREAM_* settings, for the controller and the coordinator alike (e.g.
   * MAILSTREAM_UNITS_PER_STREAM=4: the plan gives a stream 4 units at once, the controller runs
   * them at once). Default none.
   */
  controllerEnv?: Record<string, string>;
}

/** One controller invocation, in its own process. */
export interface InvocationFigures {
  /** The process's own peak resident set (`VmHWM`; `maxRSS` where /proc is missing). */
  maxRssBytes: number;
  /**
   * `process.resourceUsage().maxRSS` × 1024 as the child saw it. Not the controller's figure on
   * Linux: `ru_maxrss` survives `exec`, so it starts at {@link parentRssAtSpawnBytes}.
   */
  resourceUsageMaxRssBytes: number;
  /** This process's resident set when it spawned the child. */
  parentRssAtSpawnBytes: number;
  /** Where {@link maxRssBytes} comes from. */
  peakSource: "VmHWM" | "maxRSS";
  /** Diagnostic peaks of `process.memoryUsage()` sampled every 50 ms. */
  sampledPeaks: ChildReport["sampledPeaks"];
  /** Records the invocation reported failed (partial batch response), or all when it threw. */
  failedRecords: number;
  error?: string;
  wallMs: number;
  /** CPU time of the handler (user + system), ms. */
  cpuMs: number;
  /** cpuMs / the handler's wall time: the share of one vCPU the controller used (Lambda gives memory / 1769 MB). */
  cpuShare: number;
}

export interface ControllerRssResult {
  /** The maximum over the job's controller invocations of each one's own peak RSS: the issue's figure. */
  maxRssBytes: number;
  /** Where the per-invocation peaks come from: `VmHWM` (Linux) or `maxRSS` (elsewhere). */
  peakSource: "VmHWM" | "maxRSS";
  /** The maximum of the children's `process.resourceUsage().maxRSS`, inflated by the fork (see InvocationFigures). */
  resourceUsageMaxRssBytes: number;
  items: number;
  bytes: number;
  /** The job's status: `complete` when every item was stored. */
  status: string;
  messageBytes: number;
  /** Mailboxes of the tenant, and how many of them hold a `messageBytes` message. */
  mailboxes: number;
  largeMailboxes: number;
  /** The MAILSTREAM_* settings given beyond the deployed ones (e.g. units per stream). */
  settings: Record<string, string>;
  invocations: InvocationFigures[];
  /** This (parent) process's peak RSS: simulator, emulators, coordinator; no controller. */
  parentMaxRssBytes: number;
  wallSeconds: number;
}

const BUCKET = "mailstream-controller-rss";

/** Where the controller bundle goes: inside the repository (gitignored) so `@aws-sdk/*` resolves from node_modules, as the Lambda runtime provides it. */
function bundleDir(): string {
  return join(here, "results", "tmp", `controller-rss-${process.pid}`);
}

/**
 * Bundles the child with the settings the CDK stack gives `functions/controller.ts`
 * (infra/lambda-bundling.ts): minified ESM with a `require` banner, a separate source map,
 * `@aws-sdk/*` left out. The target is this Node, not Lambda's Node 22.
 */
async function bundleController(outDir: string): Promise<string> {
  const outfile = join(outDir, "controller.mjs");
  await build({
    entryPoints: [join(here, "controller-rss-child.ts")],
    outfile,
    ...lambdaEsbuildOptions(`node${process.versions.node.split(".")[0]}`),
    tsconfig: join(REPO_ROOT, "tsconfig.json"),
    logLevel: "warning",
  });
  return outfile;
}

/** True when NODE_EXTRA_CA_CERTS (read at this process's start) holds the CA certificate. */
function processTrusts(certPem: string): boolean {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  return Boolean(file && existsSync(file) && readFileSync(file, "utf8").includes(certPem.trim()));
}

/** The Lambda function's environment: configuration only, as the CDK stack sets it. */
function controllerEnvironment(stack: LocalStack, deadlineMarginMs?: number): Record<string, string> {
  const sim = stack.sim;
  return {
    ...(deadlineMarginMs !== undefined ? { MAILSTREAM_DEADLINE_MARGIN_MS: String(deadlineMarginMs) } : {}),
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    // The simulator's self-signed CA; on Lambda, Graph's certificate is public.
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
    ...LAMBDA_RUNTIME_ENVIRONMENT,
    MAILSTREAM_STAGE: "bench",
    ...simulatorTenantEnv(sim),
    MAILSTREAM_ARCHIVE: "s3",
    MAILSTREAM_ARCHIVE_BUCKET: BUCKET,
    MAILSTREAM_STATE_TABLE: stack.app.config.stateTable,
    MAILSTREAM_STREAM_QUEUE_URL: stack.queue.url,
    MAILSTREAM_STREAMS_MAX: String(stack.app.config.streams.max),
    ...environmentForAwsEndpoints(stack.emulators.endpoints),
  };
}

/** Lines of the child's output kept for error messages. */
const TAIL_LINES = 20;

/** Runs one invocation in a child process and collects its report from file descriptor 3. */
async function invokeInChild(
  bundle: string,
  env: Record<string, string>,
  invocation: ChildInvocation,
  diagnosis: Pick<ControllerRssOptions, "nodeFlags" | "childLogPath">,
): Promise<{ report?: ChildReport; code: number; tail: string }> {
  const logPath = diagnosis.childLogPath;
  // Flags on the command line: some (e.g. --trace-gc) are refused in NODE_OPTIONS.
  const child = spawn(process.execPath, [...(diagnosis.nodeFlags ?? []), bundle], {
    cwd: dirname(bundle),
    env,
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  let tail: string[] = [];
  const keep = (chunk: Buffer) => {
    if (logPath) appendFileSync(logPath, chunk);
    tail = [...tail, ...chunk.toString("utf8").split("\n").filter(Boolean)].slice(-TAIL_LINES);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let result = "";
  const resultPipe = child.stdio[3] as NodeJS.ReadableStream;
  resultPipe.on("data", (chunk: Buffer) => {
    result += chunk.toString("utf8");
  });
  child.stdin?.end(JSON.stringify(invocation));
  const code: number = await new Promise((r) => child.on("close", (c, signal) => r(c ?? (signal ? 137 : 1))));
  const line = result.trim();
  return { ...(line ? { report: JSON.parse(line) as ChildReport } : {}), code, tail: tail.join("\n") };
}

function checkOptions(
  o: ControllerRssOptions,
): Required<
  Pick<
    ControllerRssOptions,
    "messageBytes" | "ordinaryMessages" | "functionTimeoutMs" | "timeoutMs" | "mailboxes" | "largeMailboxes"
  >
> {
  const messageBytes = o.messageBytes ?? HUNDRED_MB;
  const ordinaryMessages = o.ordinaryMessages ?? 20;
  const mailboxes = o.mailboxes ?? 1;
  const largeMailboxes = o.largeMailboxes ?? 1;
  const functionTimeoutMs = o.functionTimeoutMs ?? 900_000;
  const bad = (field: string, expected: string, found: unknown) => {
    throw new RangeError(`measureControllerRss ${field}: expected ${expected}, found ${String(found)}`);
  };
  if (!Number.isInteger(messageBytes) || messageBytes < 4096 || messageBytes > 150 * MiB)
    bad("messageBytes", "an integer in 4096..157286400", messageBytes);
  if (!Number.isInteger(ordinaryMessages) || ordinaryMessages < 0 || ordinaryMessages > 1000)
    bad("ordinaryMessages", "an integer in 0..1000", ordinaryMessages);
  if (!Number.isInteger(mailboxes) || mailboxes < 1 || mailboxes > 16)
    bad("mailboxes", "an integer in 1..16", mailboxes);
  if (!Number.isInteger(largeMailboxes) || largeMailboxes < 1 || largeMailboxes > mailboxes)
    bad("largeMailboxes", `an integer in 1..${mailboxes}`, largeMailboxes);
  if (!Number.isInteger(functionTimeoutMs) || functionTimeoutMs < 10_000 || functionTimeoutMs > 900_000)
    bad("functionTimeoutMs", "an integer in 10000..900000", functionTimeoutMs);
  const margin = o.deadlineMarginMs ?? 60_000;
  if (!Number.isInteger(margin) || margin < 5_000 || margin > 300_000)
    bad("deadlineMarginMs", "an integer in 5000..300000", margin);
  if (margin >= functionTimeoutMs)
    bad("functionTimeoutMs", `more than deadlineMarginMs (${margin})`, functionTimeoutMs);
  return {
    messageBytes,
    ordinaryMessages,
    mailboxes,
    largeMailboxes,
    functionTimeoutMs,
    timeoutMs: o.timeoutMs ?? 180_000,
  };
}

/** The default CA of the benchmarks (the one `bench/run.ts` re-executes itself trusting). */
export async function benchCa(): Promise<{ caCertPath: string; certPem: string; keyPem: string }> {
  const dir = join(tmpdir(), "mailstream-bench-ca");
  mkdirSync(dir, { recursive: true });
  const ca = await ensureSimulatorCa(dir);
  return { caCertPath: ca.caCertPath, certPem: ca.caCertPem, keyPem: ca.caKeyPem };
}

/**
 * Backs up one mailbox holding a `messageBytes` message (plus ordinary ones) with the controller
 * in child processes, one per invocation, and returns the peak RSS over them.
 */
export async function measureControllerRss(options: ControllerRssOptions = {}): Promise<ControllerRssResult> {
  const o = checkOptions(options);
  const ca = options.ca ?? (await benchCa());
  if (!processTrusts(ca.certPem)) {
    throw new Error(
      `measureControllerRss: expected this process to trust the simulator CA through NODE_EXTRA_CA_CERTS (read at start), found ${process.env.NODE_EXTRA_CA_CERTS ?? "it unset"}; run it through reexecTrustingCa (lib/dev/local/trust-ca.ts) first`,
    );
  }
  const started = Date.now();
  const outDir = bundleDir();
  mkdirSync(outDir, { recursive: true });
  const store = generateTenant({
    seed: 21,
    shape: "uniform",
    mailboxes: o.mailboxes,
    totalMessages: o.ordinaryMessages * o.mailboxes,
    unlicensedFraction: 0,
    sharedFraction: 0,
    largeFraction: 0,
    largeMessages: Array.from({ length: o.largeMailboxes }, (_, mailbox) => ({
      bytes: o.messageBytes,
      mailbox,
    })),
  });
  let stack: LocalStack | undefined;
  let source: LocalSqsEventSource | undefined;
  try {
    const bundle = await bundleController(outDir);
    stack = await startLocalStack({
      store,
      ca,
      latency: { baseMs: 5 },
      archive: { kind: "s3", bucket: BUCKET },
      streams: 1,
      functionTimeoutMs: o.functionTimeoutMs,
      ...(options.controllerEnv ? { env: options.controllerEnv } : {}),
    });
    // The stack's own event source would run the controller in this process: only children may.
    await stack.source.stop();
    const env = { ...controllerEnvironment(stack, options.deadlineMarginMs), ...options.controllerEnv };
    const invocations: InvocationFigures[] = [];
    // A child that reports nothing makes the measurement worthless: stop waiting for the job.
    let broken: (error: Error) => void = () => {};
    const brokenMeasurement = new Promise<never>((_, reject) => {
      broken = reject;
    });
    brokenMeasurement.catch(() => {});
    const runInChild = async (
      event: SQSEvent,
      context: { awsRequestId: string; getRemainingTimeInMillis(): number },
    ): Promise<SQSBatchResponse> => {
      const t0 = Date.now();
      const parentRssAtSpawnBytes = process.memoryUsage().rss;
      const { report, code, tail } = await invokeInChild(
        bundle,
        env,
        {
          event,
          remainingMs: context.getRemainingTimeInMillis(),
          awsRequestId: context.awsRequestId,
        },
        options,
      );
      if (!report) {
        const error = new Error(
          `controller child: expected a report on fd 3, found exit ${code} and output:\n${tail}`,
        );
        broken(error);
        throw error;
      }
      const failed = report.error ? event.Records.length : (report.response?.batchItemFailures.length ?? 0);
      invocations.push({
        maxRssBytes: report.peakRssBytes ?? report.maxRssBytes,
        resourceUsageMaxRssBytes: report.maxRssBytes,
        parentRssAtSpawnBytes,
        peakSource: report.peakRssBytes === null ? "maxRSS" : "VmHWM",
        sampledPeaks: report.sampledPeaks,
        failedRecords: failed,
        ...(report.error ? { error: `${report.error.name}: ${report.error.message}` } : {}),
        wallMs: Date.now() - t0,
        cpuMs: report.cpuMs,
        cpuShare: report.handlerMs > 0 ? report.cpuMs / report.handlerMs : 0,
      });
      if (report.error)
        throw new Error(`controller handler threw ${report.error.name}: ${report.error.message}`);
      return report.response ?? { batchItemFailures: [] };
    };
    source = new LocalSqsEventSource({
      sqs: stack.clients.sqs,
      queueUrl: stack.queue.url,
      queueArn: stack.queue.arn,
      handler: runInChild,
      batchSize: 1,
      maxConcurrency: 1,
      functionTimeoutMs: o.functionTimeoutMs,
    });
    // The coordinator plans the job and sends its stream task, as on AWS.
    const job = await stack.app.startJob({ kind: "on-demand", time: new Date().toISOString() });
    if (job.status !== "started") {
      throw new Error(`coordinator: expected a started job, found ${job.status}`);
    }
    source.start();
    const report = await Promise.race([
      stack.waitForJob(job.jobId, { refreshMs: 200, timeoutMs: o.timeoutMs, sweepEveryMs: o.timeoutMs }),
      brokenMeasurement,
    ]);
    // The last child finalizes the job before it exits and reports: wait for the invocations in
    // flight, or a job seen complete could race the last report.
    await source.stop();
    if (invocations.length === 0) throw new Error("expected at least one controller invocation, found none");
    return {
      maxRssBytes: Math.max(...invocations.map((i) => i.maxRssBytes)),
      peakSource: invocations.some((i) => i.peakSource === "maxRSS") ? "maxRSS" : "VmHWM",
      resourceUsageMaxRssBytes: Math.max(...invocations.map((i) => i.resourceUsageMaxRssBytes)),
      items: report.totals.items,
      bytes: report.totals.bytes,
      status: report.status,
      messageBytes: o.messageBytes,
      mailboxes: o.mailboxes,
      largeMailboxes: o.largeMailboxes,
      settings: { ...options.controllerEnv },
      invocations,
      parentMaxRssBytes: process.resourceUsage().maxRSS * 1024,
      wallSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    await source?.stop();
    await stack?.stop();
    rmSync(outDir, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

/** A small table: one row per invocation, then the figure against the target. */
export function formatControllerRss(r: ControllerRssResult): string {
  const head = [
    "invocation",
    "peak RSS MiB",
    "maxRSS MiB",
    "parent RSS MiB",
    "heap MiB",
    "external MiB",
    "arrayBuffers MiB",
    "failed",
    "s",
  ];
  const rows = r.invocations.map((inv, i) => [
    String(i + 1),
    mib(inv.maxRssBytes),
    mib(inv.resourceUsageMaxRssBytes),
    mib(inv.parentRssAtSpawnBytes),
    mib(inv.sampledPeaks.heapUsed),
    mib(inv.sampledPeaks.external),
    mib(inv.sampledPeaks.arrayBuffers),
    String(inv.failedRecords),
    (inv.wallMs / 1000).toFixed(1),
  ]);
  const verdict = r.maxRssBytes <= TARGET_RSS_BYTES ? "met" : "not met";
  return [
    rightAlignedTable(head, rows),
    "",
    `controller peak RSS (${r.peakSource}) with ${r.largeMailboxes} × ${mib(r.messageBytes)} MiB message in ${r.mailboxes} mailbox(es)${
      Object.keys(r.settings).length > 0
        ? ` (${Object.entries(r.settings)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")})`
        : ""
    }: ${mib(r.maxRssBytes)} MiB = ${(r.maxRssBytes / 1e6).toFixed(1)} MB (target ≤ 200 MB: ${verdict})`,
    `(maxRSS counts the parent's resident set at fork as well; "parent RSS" is that set when the child was spawned)`,
    `job ${r.status}: ${r.items} items, ${r.bytes} bytes; parent (simulator + emulators + coordinator) peak RSS ${mib(r.parentMaxRssBytes)} MiB; ${r.wallSeconds.toFixed(1)} s`,
  ].join("\n");
}

async function main(): Promise<void> {
  const ca = await benchCa();
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at start: run again trusting the simulator's.
  await reexecTrustingCa(ca.caCertPath, dirname(ca.caCertPath));
  const arg = (name: string) =>
    process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(`--${name}=`.length);
  const mibArg = arg("message-mib");
  const timeoutArg = arg("function-timeout-ms");
  const marginArg = arg("deadline-margin-ms");
  const out = process.argv.find((a) => a.startsWith("--out="))?.slice("--out=".length);
  const childLogPath = process.argv.find((a) => a.startsWith("--child-log="))?.slice("--child-log=".length);
  const nodeFlags = process.argv
    .find((a) => a.startsWith("--node-flags="))
    ?.slice("--node-flags=".length)
    .split(" ")
    .filter(Boolean);
  // `--controller-env=NAME=VALUE`, repeated: settings of the controller (e.g. MAILSTREAM_UNITS_PER_STREAM=4).
  const controllerEnv = process.argv
    .filter((a) => a.startsWith("--controller-env="))
    .map((a) => a.slice("--controller-env=".length))
    .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]);
  const result = await measureControllerRss({
    ca,
    ...(controllerEnv.length > 0 ? { controllerEnv: Object.fromEntries(controllerEnv) } : {}),
    ...(childLogPath ? { childLogPath } : {}),
    ...(timeoutArg ? { functionTimeoutMs: Number(timeoutArg) } : {}),
    ...(marginArg ? { deadlineMarginMs: Number(marginArg) } : {}),
    ...(nodeFlags ? { nodeFlags } : {}),
    ...(mibArg ? { messageBytes: Math.round(Number(mibArg) * MiB) } : {}),
    ...(arg("mailboxes") ? { mailboxes: Number(arg("mailboxes")) } : {}),
    ...(arg("large-mailboxes") ? { largeMailboxes: Number(arg("large-mailboxes")) } : {}),
    ...(arg("job-timeout-ms") ? { timeoutMs: Number(arg("job-timeout-ms")) } : {}),
  });
  process.stdout.write(`${formatControllerRss(result)}\n\n${JSON.stringify(result, null, 2)}\n`);
  // `--also-units-per-stream=K`: then a controller running K units at once, K mailboxes of which
  // `--units-large-mailboxes=L` (default 1; K: the worst case) hold a message of the same size.
  const units = arg("also-units-per-stream");
  let withUnits: ControllerRssResult | undefined;
  if (units) {
    withUnits = await measureControllerRss({
      ca,
      mailboxes: Number(units),
      largeMailboxes: Number(arg("units-large-mailboxes") ?? 1),
      controllerEnv: { ...Object.fromEntries(controllerEnv), MAILSTREAM_UNITS_PER_STREAM: units },
      ...(mibArg ? { messageBytes: Math.round(Number(mibArg) * MiB) } : {}),
    });
    process.stdout.write(`\n${units} units per stream:\n${formatControllerRss(withUnits)}\n`);
  }
  if (out)
    writeFileSync(
      out,
      `${JSON.stringify({ ranAt: new Date().toISOString(), ...result, ...(withUnits ? { unitsPerStream: withUnits } : {}) }, null, 2)}\n`,
    );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `controller-rss: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
