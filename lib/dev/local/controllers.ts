/**
 * The local stack's controllers in K child processes (lib/dev/local/controller-child.ts), each
 * with its own event loop, app and event source polling the stream queue with its share of the
 * streams' concurrency: as on Lambda, where every controller has a process of its own, a
 * controller's CPU no longer waits behind the others' and the emulators'.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "../../app/logger.js";
import type {
  ControllerChildMessage,
  ControllerChildSpec,
  ControllerParentMessage,
  DelegatedArgs,
} from "./controller-child.js";

const CHILD = fileURLToPath(new URL("./controller-child.ts", import.meta.url));

/** What the children did, summed: sent when they stop. */
export interface ControllerProcessFigures {
  /** State-table requests by command (the children's DynamoDB clients). */
  stateRequests: Record<string, number>;
  /** By `command site` (lib/dev/local/state-request-site.ts), when `countStateRequestSites`. */
  stateRequestSites: Record<string, number>;
  invocations: number;
}

export interface ControllerProcesses {
  /** The children's process ids (their CPU is counted by bench/process-cpu.ts). */
  readonly pids: number[];
  /** Stops every child (running invocations end first); what they did. Safe to call twice. */
  stop(): Promise<ControllerProcessFigures>;
}

/** `streams` split over `processes` shares as even as can be (the first ones one more). */
export function concurrencyShares(streams: number, processes: number): number[] {
  if (!Number.isInteger(processes) || processes < 1 || processes > streams) {
    throw new RangeError(
      `controllerProcesses: expected an integer 1–${streams} (the streams), found ${processes}`,
    );
  }
  return Array.from(
    { length: processes },
    (_, i) => Math.floor(streams / processes) + (i < streams % processes ? 1 : 0),
  );
}

interface Child {
  pid: number;
  stopped: Promise<ControllerProcessFigures>;
  stop(): void;
}

/** How long a child may take to start (Node, tsx's compile of the app, its clients), ms. */
const START_TIMEOUT_MS = 60_000;

/** Runs a child's delegated app call in this process. */
export type DelegatedCallRunner = (call: DelegatedArgs) => Promise<unknown>;

function startChild(spec: ControllerChildSpec, logger: Logger, onCall: DelegatedCallRunner): Promise<Child> {
  // tsx compiles the child's TypeScript, as the chaos and coordinator children do.
  const child = fork(CHILD, [JSON.stringify(spec)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr = `${stderr}${String(d)}`.slice(-4000);
  });
  let figures: ControllerProcessFigures | undefined;
  let stopAsked = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      // A controller process that ends on its own takes its share of the streams with it: say so
      // where the run is watched (its tasks come back after their visibility timeout).
      if (!stopAsked) {
        const what = `controller process ${child.pid} ended unasked (${signal ?? `exit ${code}`}): ${stderr.trim()}`;
        logger.error("controller.process.ended", { pid: child.pid, code, signal, stderr: stderr.trim() });
        process.stderr.write(`${what}\n`);
      }
      resolve(code);
    }),
  );
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`controller process: expected it ready within ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`controller process: expected it ready, found it ended (exit ${code}): ${stderr}`));
    });
    child.on("message", (message: ControllerChildMessage) => {
      if (message.kind === "log") logger[message.level](message.event, message.fields);
      else if (message.kind === "call") {
        const answer = (reply: ControllerParentMessage) => {
          if (child.connected) child.send(reply);
        };
        onCall(message.call).then(
          (value) => answer({ kind: "result", id: message.id, value }),
          (error: unknown) =>
            answer({
              kind: "result",
              id: message.id,
              error: {
                name: error instanceof Error ? error.name : "Error",
                message: error instanceof Error ? error.message : String(error),
              },
            }),
        );
      } else if (message.kind === "stopped") figures = message;
      else if (message.kind === "ready") {
        clearTimeout(timer);
        resolve({
          pid: child.pid ?? -1,
          stop: () => {
            stopAsked = true;
            if (child.connected) child.send({ kind: "stop" });
          },
          stopped: exited.then((code) => {
            if (!figures) {
              throw new Error(
                `controller process ${child.pid}: expected its figures at stop, found exit ${code}: ${stderr}`,
              );
            }
            return figures;
          }),
        });
      }
    });
  });
}

export interface ControllerProcessOptions {
  /** One child's spec, less its share of the streams. */
  spec: Omit<ControllerChildSpec, "maxConcurrency">;
  streams: number;
  processes: number;
  logger: Logger;
  /** Runs the calls the children delegate (`spec.delegate`). Default: none expected (refused). */
  onCall?: DelegatedCallRunner;
}

/** Starts the children and resolves once every one polls the queue. */
export async function startControllerProcesses(
  options: ControllerProcessOptions,
): Promise<ControllerProcesses> {
  const shares = concurrencyShares(options.streams, options.processes);
  const started = await Promise.allSettled(
    shares.map((maxConcurrency) =>
      startChild(
        { ...options.spec, maxConcurrency },
        options.logger,
        options.onCall ??
          (async (call) => {
            throw new Error(`controller process: expected no delegated call, found ${call.method}`);
          }),
      ),
    ),
  );
  const children = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  let stopping: Promise<ControllerProcessFigures> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const child of children) child.stop();
      const all = await Promise.all(children.map((c) => c.stopped));
      const stateRequests: Record<string, number> = {};
      const stateRequestSites: Record<string, number> = {};
      for (const figures of all) {
        for (const [name, n] of Object.entries(figures.stateRequests))
          stateRequests[name] = (stateRequests[name] ?? 0) + n;
        for (const [site, n] of Object.entries(figures.stateRequestSites))
          stateRequestSites[site] = (stateRequestSites[site] ?? 0) + n;
      }
      return { stateRequests, stateRequestSites, invocations: all.reduce((n, f) => n + f.invocations, 0) };
    })();
    return stopping;
  };
  if (failed) {
    await stop().catch(() => undefined);
    throw failed.reason;
  }
  return { pids: children.map((c) => c.pid), stop };
}
