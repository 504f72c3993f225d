/**
 * The simulated tenant in a process of its own, for the benchmark: Graph is another machine for a
 * real controller, so the simulator must not take CPU from the controllers' event loop. The
 * parent passes the tenant spec, latency and limits as one JSON argument; this process prints one
 * JSON line (connection values) and serves until its stdin closes (the parent ended) or SIGTERM.
 * Statistics, ground truth and mutation rounds go through the admin endpoints (`/_admin/…`).
 * The tenant's content as the work model counts it (`content`) is computed here, beside the
 * tenant, and sent as one line on stdout for each request line on stdin: the benchmark then needs
 * no ground truth of its own (20,000 mailboxes' ground truth is hundreds of MB of JSON).
 * `BENCH_SIM_EVENT_LOOP=1` reports the seconds in which its event loop ran late (stderr).
 */

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { simulatorTenantEnv } from "../lib/dev/local/simulator-env.js";
import { reexecTrustingCa } from "../lib/dev/local/trust-ca.js";
import type { GroundTruth } from "../lib/dev/sim/model.js";
import {
  ensureSimulatorCa,
  type LatencyOptions,
  type LimitOptions,
  type ServedStats,
  startSimulator,
} from "../lib/dev/sim/server/index.js";
import { generateTenant, type TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { type MutationOptions, type MutationSummary, mutateTenant } from "../lib/dev/sim/tenant/mutate.js";
import { realContent, type ServiceModel } from "./figures.js";
import { HARNESS_NODE_FLAGS } from "./settings.js";

export interface SimProcessSpec {
  tenant: TenantSpec;
  latency?: LatencyOptions;
  limits?: LimitOptions;
  ca: { certPem: string; keyPem: string };
  certDir: string;
}

/** What the child prints: everything `startLocalServices` needs as tenant configuration. */
export interface SimProcessInfo {
  baseUrl: string;
  adminUrl: string;
  tenantEnv: Record<string, string>;
}

/** The simulator child as the benchmark drives it. */
export interface SimProcess {
  info: SimProcessInfo;
  /** The simulator's process id (its CPU is counted by the scale section). */
  pid: number | undefined;
  stats(): Promise<ServedStats>;
  groundTruth(): Promise<GroundTruth>;
  /** `realContent` of the whole tenant, computed in the simulator's process (addresses left out). */
  content(service: ServiceModel): Promise<TenantContent>;
  mutate(options: Partial<MutationOptions>): Promise<MutationSummary>;
  close(): Promise<void>;
}

async function adminJson<T>(adminUrl: string, path: string, body?: unknown): Promise<T> {
  // A fresh connection per admin call: the benchmark calls between runs, seconds apart, and a
  // kept-alive socket the simulator is closing at that moment fails the call ("fetch failed").
  const headers: Record<string, string> = { connection: "close" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${adminUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).catch((error: unknown) => {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
    throw new Error(`simulator ${path}: expected an answer, found no connection${cause}`);
  });
  if (!response.ok) throw new Error(`simulator ${path}: expected 200, found ${response.status}`);
  return (await response.json()) as T;
}

export type TenantContent = Omit<ReturnType<typeof realContent>, "addresses">;

/** The simulator's heap limit, MiB. */
const SIM_HEAP_MB = 10_240;

/** Starts the simulator child and waits for its connection line. */
export async function startSimProcess(spec: SimProcessSpec): Promise<SimProcess> {
  // A heap limit given to the benchmark is not the simulator's: it holds the whole tenant
  // (20,000 mailboxes need more than V8's default of about 4 GiB here), so it gets SIM_HEAP_MB.
  const heapLimit = /--max-old-space-size=\S+/;
  const nodeOptions = process.env.NODE_OPTIONS?.replace(heapLimit, "").trim();
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv.filter((a) => !heapLimit.test(a)),
      `--max-old-space-size=${SIM_HEAP_MB}`,
      fileURLToPath(import.meta.url),
      JSON.stringify(spec),
    ],
    {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, NODE_OPTIONS: nodeOptions ?? "" },
    },
  );
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise<string>((resolve) => lines.once("line", resolve)),
    exited.then((code) => {
      throw new Error(`simulator process: expected a connection line, found exit ${code}`);
    }),
  ]);
  const info = JSON.parse(first) as SimProcessInfo;
  // One content request at a time: each answer is the next line.
  let contentQueue: Promise<unknown> = Promise.resolve();
  const content = (service: ServiceModel) => {
    const answer = contentQueue.then(async () => {
      const line = Promise.race([
        new Promise<string>((resolve) => lines.once("line", resolve)),
        exited.then((code) => {
          throw new Error(`simulator process: expected the tenant's content, found exit ${code}`);
        }),
      ]);
      child.stdin.write(`${JSON.stringify(service)}\n`);
      return JSON.parse(await line) as TenantContent;
    });
    contentQueue = answer.catch(() => {});
    return answer;
  };
  return {
    info,
    pid: child.pid,
    stats: () => adminJson<ServedStats>(info.adminUrl, "/_admin/stats"),
    groundTruth: () => adminJson<GroundTruth>(info.adminUrl, "/_admin/ground-truth"),
    content,
    mutate: (options) => adminJson<MutationSummary>(info.adminUrl, "/_admin/mutate", options),
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}

/** Delays of the event loop worth a line: a loop this late holds the answers due meanwhile. */
const LATE_LOOP_MS = 30;

/**
 * `BENCH_SIM_EVENT_LOOP=1`: for each second in which the simulator's event loop ran a callback
 * more than {@link LATE_LOOP_MS} late, one line on stderr with its delays' p50, p99 and maximum
 * (`monitorEventLoopDelay`, 5 ms resolution).
 */
function reportLateEventLoop(): void {
  const delays = monitorEventLoopDelay({ resolution: 5 });
  delays.enable();
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  setInterval(() => {
    if (delays.count > 0 && delays.max > LATE_LOOP_MS * 1e6) {
      process.stderr.write(
        `simulator event loop ${new Date().toISOString()}: delay p50 ${ms(delays.percentile(50))} p99 ${ms(delays.percentile(99))} max ${ms(delays.max)} ms\n`,
      );
    }
    delays.reset();
  }, 1000).unref();
}

async function serve(spec: SimProcessSpec): Promise<void> {
  const store = generateTenant(spec.tenant);
  const sim = await startSimulator({
    store,
    ca: spec.ca,
    certDir: spec.certDir,
    ...(spec.latency ? { latency: spec.latency } : {}),
    ...(spec.limits ? { limits: spec.limits } : {}),
    onMutate: (request, s) => mutateTenant(s, request as MutationOptions),
  });
  const info: SimProcessInfo = {
    baseUrl: sim.baseUrl,
    adminUrl: sim.baseUrl.replace(/\/v1\.0$/, ""),
    tenantEnv: {
      ...simulatorTenantEnv(sim),
    },
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  if (process.env.BENCH_SIM_EVENT_LOOP === "1") reportLateEventLoop();
  const requests = createInterface({ input: process.stdin });
  requests.on("line", (line) => {
    const service = JSON.parse(line) as ServiceModel;
    void store.groundTruth().then((truth) => {
      const { addresses: _, ...content } = realContent(truth, service);
      process.stdout.write(`${JSON.stringify(content)}\n`);
    });
  });
  await new Promise<void>((resolve) => {
    requests.on("close", resolve);
    process.on("SIGTERM", resolve);
  });
  await sim.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  serve(JSON.parse(process.argv[2] ?? "{}") as SimProcessSpec).catch((error: unknown) => {
    process.stderr.write(
      `sim-process: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}

/**
 * The benchmarks' simulator CA (made once, in `<tmpdir>/mailstream-bench-ca`), this process run
 * again trusting it first: Node trusts extra CAs only from NODE_EXTRA_CA_CERTS at start.
 */
export async function trustBenchCa(): Promise<{ ca: { certPem: string; keyPem: string }; caDir: string }> {
  const caDir = join(tmpdir(), "mailstream-bench-ca");
  mkdirSync(caDir, { recursive: true });
  const sim = await ensureSimulatorCa(caDir);
  await reexecTrustingCa(sim.caCertPath, caDir, HARNESS_NODE_FLAGS);
  return { ca: { certPem: sim.caCertPem, keyPem: sim.caKeyPem }, caDir };
}
