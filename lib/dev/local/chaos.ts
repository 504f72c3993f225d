/**
 * Chaos runs: a local backup killed (SIGKILL) again and again at chosen points — while planning,
 * while units run, while finalizing — each time followed by a fresh process that picks up what
 * is left (lib/dev/local/chaos-child.ts), until a last process runs without a kill. The e2e test
 * (test/e2e/chaos.test.ts) and the benchmark (bench/chaos.ts) drive it and then compare the
 * archive with the simulator's ground truth.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { environmentForAwsEndpoints } from "../../config/aws-endpoints.js";
import { simulatorTenantEnv } from "./simulator-env.js";
import { DEFAULT_WAIT_TIME_SECONDS } from "./sqs-event-source.js";
import type { LocalStack } from "./stack.js";

const CHILD = fileURLToPath(new URL("./chaos-child.ts", import.meta.url));

/** Where a process of the run is killed. */
export type KillPoint =
  /** From inside, at the `at`-th state-table request of planning (see chaos-child.ts). */
  | { phase: "planning"; at: number }
  /** From inside, at the `at`-th sync state promoted by finalization. */
  | { phase: "finalizing"; at: number }
  /** From outside, `afterMs` after the process started working on its job. */
  | { phase: "running"; afterMs: number }
  /** Not at all: the process runs until its job closes. */
  | { phase: "none" };

export interface ChildRun {
  point: KillPoint;
  pid: number;
  /** killed: ended by SIGKILL; closed: its job closed first (a kill point it never reached). */
  outcome: "killed" | "closed";
  jobId?: string;
  status?: string;
}

export interface ChaosOutcome {
  children: ChildRun[];
  /** Processes ended by SIGKILL. */
  kills: number;
  /** Kills by the phase they were aimed at. */
  killsByPhase: Record<KillPoint["phase"], number>;
}

export interface ChaosOptions {
  /** The stack whose simulator, emulators, state table and queue the processes use. */
  stack: LocalStack;
  /** The local archive folder of `stack`. */
  archivePath: string;
  schedule: KillPoint[];
  /** More MAILSTREAM_* values for the processes (page size, streams …). */
  env?: Record<string, string>;
  /** Longest life of one process, ms; past it the run fails. Default 120 000. */
  childTimeoutMs?: number;
  onChild?: (run: ChildRun) => void;
}

/** The MAILSTREAM_* environment that points a process at `stack`. */
export function stackEnvironment(stack: LocalStack, archivePath: string): Record<string, string> {
  return {
    ...simulatorTenantEnv(stack.sim),
    MAILSTREAM_ARCHIVE: "local",
    MAILSTREAM_ARCHIVE_PATH: archivePath,
    MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: String(stack.app.config.archive.packThresholdBytes),
    MAILSTREAM_ARCHIVE_COMPRESSION: stack.app.config.archive.compression,
    MAILSTREAM_STATE_TABLE: stack.app.config.stateTable,
    MAILSTREAM_STREAM_QUEUE_URL: stack.queue.url,
    MAILSTREAM_STREAMS_MAX: String(stack.app.config.streams.max),
    MAILSTREAM_PAGE_SIZE: String(stack.app.config.pageSize),
    MAILSTREAM_PAGE_HOLD_SECONDS: String(stack.app.config.controller.pageHoldSeconds),
    ...environmentForAwsEndpoints(stack.emulators.endpoints),
  };
}

/** Runs one process per kill point, in order; the stack's own event source must be stopped. */
export async function runChaos(options: ChaosOptions): Promise<ChaosOutcome> {
  const children: ChildRun[] = [];
  const killsByPhase: ChaosOutcome["killsByPhase"] = { planning: 0, running: 0, finalizing: 0, none: 0 };
  for (const point of options.schedule) {
    const run = await runChild(options, point);
    children.push(run);
    if (run.outcome === "killed") {
      killsByPhase[point.phase]++;
      // The queue (in this process) keeps a killed child's long poll open until its wait ends,
      // and hands it the first message sent meanwhile: the next child's sweep re-sends a
      // discovery or a stream at once, and that message would go to the dead poll and stay
      // invisible for the queue's visibility timeout (960 s), the job waiting on it. A Lambda's
      // pollers do not die with its invocation; here the next child starts once the poll ended.
      await new Promise((resolve) => setTimeout(resolve, DEFAULT_WAIT_TIME_SECONDS * 1000 + 500));
    }
    options.onChild?.(run);
  }
  return { children, kills: children.filter((c) => c.outcome === "killed").length, killsByPhase };
}

async function runChild(options: ChaosOptions, point: KillPoint): Promise<ChildRun> {
  const inside = point.phase === "planning" || point.phase === "finalizing";
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: {
      ...process.env,
      ...stackEnvironment(options.stack, options.archivePath),
      ...options.env,
      MAILSTREAM_CHAOS_KILL: inside ? `${point.phase}:${point.at}` : "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid ?? -1;
  let stderr = "";
  let jobId: string | undefined;
  let status: string | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  child.stderr?.on("data", (d) => {
    stderr = `${stderr}${String(d)}`.slice(-4000);
  });
  let buffered = "";
  child.stdout?.on("data", (d) => {
    buffered += String(d);
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      let event: { event?: string; jobId?: string; status?: string };
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      if (event.jobId) jobId = event.jobId;
      if (event.status) status = event.status;
      if (event.event === "working" && point.phase === "running") {
        killTimer = setTimeout(() => child.kill("SIGKILL"), point.afterMs);
      }
    }
  });
  let timedOut = false;
  const timeout = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.childTimeoutMs ?? 120_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once("exit", (c, s) => resolve([c, s])),
  );
  clearTimeout(timeout);
  if (killTimer) clearTimeout(killTimer);
  if (timedOut) {
    throw new Error(
      `chaos: process ${pid} (${point.phase}) did not end within ${options.childTimeoutMs ?? 120_000} ms: ${stderr}`,
    );
  }
  if (signal === "SIGKILL" && point.phase !== "none") {
    return { point, pid, outcome: "killed", ...(jobId ? { jobId } : {}) };
  }
  if (code !== 0) {
    throw new Error(
      `chaos: process ${pid} (${point.phase}) ended with ${signal ?? `exit ${code}`}: ${stderr}`,
    );
  }
  return { point, pid, outcome: "closed", ...(jobId ? { jobId } : {}), ...(status ? { status } : {}) };
}

/**
 * A schedule of `kills` kill points drawn from `random` (uniform in [0, 1)): planning, running
 * and finalizing kills mixed, then one process without a kill that brings the last job home.
 */
export function chaosSchedule(
  kills: number,
  random: () => number,
  limits: { planningRequests: number; promotedStates: number; runningMs: number },
): KillPoint[] {
  const points: KillPoint[] = [];
  for (let i = 0; i < kills; i++) {
    const draw = random();
    if (draw < 0.2)
      points.push({ phase: "planning", at: 1 + Math.floor(random() * limits.planningRequests) });
    else if (draw < 0.35)
      points.push({ phase: "finalizing", at: 1 + Math.floor(random() * limits.promotedStates) });
    else points.push({ phase: "running", afterMs: Math.floor(random() * limits.runningMs) });
  }
  points.push({ phase: "none" });
  return points;
}
