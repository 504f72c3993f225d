/**
 * The local stack's controllers in K child processes (lib/dev/local/controller-child.ts), each
 * with its own event loop, app and event source polling the stream queue with its share of the
 * streams' concurrency: as on Lambda, where every controller has a process of its own, a
 * controller's CPU no longer waits behind the others' and the emulators'.
 */
import { type ChildProcess, fork } from "node:child_process";
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

/**
 * The parent's V8 heap sizing flags, which a child hosting the same controllers needs as much: the
 * benchmark's harness runs with `--max-semi-space-size=64` (bench/settings.ts `HARNESS_NODE_FLAGS`)
 * because one process hosts the streams that a deployment gives a young generation each; a child
 * with V8's default collected its young generation four times as often.
 */
export function inheritedHeapFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.filter((flag) => /^--(max|min)-(semi|old)-space-size(=|$)/.test(flag));
}

/** What one stack gives a child: where its log lines and delegated calls go. */
interface Session {
  logger: Logger;
  onCall: DelegatedCallRunner;
  ready?: { resolve: () => void; reject: (error: Error) => void };
  stopped?: { resolve: (figures: ControllerProcessFigures) => void; reject: (error: Error) => void };
}

/** How long a child may take to start (Node, tsx's compile of the app, its clients), ms. */
const START_TIMEOUT_MS = 60_000;

/** Runs a child's delegated app call in this process. */
export type DelegatedCallRunner = (call: DelegatedArgs) => Promise<unknown>;

/**
 * One controller process: forked with its first stack's spec; `keepAlive` children serve further
 * stacks (`begin`) until `close`.
 */
class ControllerChild {
  readonly pid: number;
  private session: Session;
  private stderr = "";
  private stopAsked = false;
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    session: Session,
  ) {
    this.pid = child.pid ?? -1;
    this.session = session;
    child.stderr?.on("data", (d) => {
      this.stderr = `${this.stderr}${String(d)}`.slice(-4000);
    });
    this.exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code, signal) => {
        // A controller process that ends on its own takes its share of the streams with it: say
        // so where the run is watched (its tasks come back after their visibility timeout).
        if (!this.stopAsked) {
          const what = `controller process ${child.pid} ended unasked (${signal ?? `exit ${code}`}): ${this.stderr.trim()}`;
          this.session.logger.error("controller.process.ended", {
            pid: child.pid,
            code,
            signal,
            stderr: this.stderr.trim(),
          });
          process.stderr.write(`${what}\n`);
        }
        const ended = new Error(
          `controller process ${child.pid}: expected it running, found it ended (exit ${code}): ${this.stderr}`,
        );
        this.session.ready?.reject(ended);
        this.session.stopped?.reject(ended);
        resolve(code);
      }),
    );
    child.on("message", (message: ControllerChildMessage) => this.receive(message));
  }

  /** Forks a child for `spec` and resolves once it polls the queue. */
  static async fork(
    spec: ControllerChildSpec,
    logger: Logger,
    onCall: DelegatedCallRunner,
  ): Promise<ControllerChild> {
    // tsx compiles the child's TypeScript, as the chaos and coordinator children do.
    const forked = fork(CHILD, [JSON.stringify(spec)], {
      execArgv: ["--import", "tsx", ...inheritedHeapFlags()],
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    const child = new ControllerChild(forked, { logger, onCall });
    await child.whenReady();
    return child;
  }

  /** A kept child's next stack: it resolves once the child polls that stack's queue. */
  async begin(spec: ControllerChildSpec, logger: Logger, onCall: DelegatedCallRunner): Promise<void> {
    if (!this.child.connected) {
      throw new Error(
        `controller process ${this.pid}: expected it kept for the next stack, found it ended: ${this.stderr}`,
      );
    }
    this.session = { logger, onCall };
    const ready = this.whenReady();
    this.child.send({ kind: "start", spec } satisfies ControllerParentMessage);
    await ready;
  }

  private whenReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        reject(
          new Error(`controller process: expected it ready within ${START_TIMEOUT_MS} ms: ${this.stderr}`),
        );
      }, START_TIMEOUT_MS);
      this.session.ready = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  private receive(message: ControllerChildMessage): void {
    const session = this.session;
    if (message.kind === "log") session.logger[message.level](message.event, message.fields);
    else if (message.kind === "call") {
      const answer = (reply: ControllerParentMessage) => {
        if (this.child.connected) this.child.send(reply);
      };
      session.onCall(message.call).then(
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
    } else if (message.kind === "stopped") {
      const { kind: _, ...figures } = message;
      session.stopped?.resolve(figures);
    } else if (message.kind === "ready") session.ready?.resolve();
  }

  /**
   * Ends the stack's controllers in the child (running invocations first): what they did. A
   * child not kept then ends; this resolves once it has.
   */
  async stop(keep: boolean): Promise<ControllerProcessFigures> {
    if (!keep) this.stopAsked = true;
    // A child already gone sends no figures (its exit rejected the session's waits before this one).
    if (!this.child.connected) {
      throw new Error(
        `controller process ${this.pid}: expected its figures at stop, found it ended: ${this.stderr}`,
      );
    }
    const figures = new Promise<ControllerProcessFigures>((resolve, reject) => {
      this.session.stopped = { resolve, reject };
    });
    this.child.send({ kind: "stop" } satisfies ControllerParentMessage);
    const result = await figures;
    if (!keep) await this.exited;
    return result;
  }

  /** Ends a kept child (it exits when the channel closes). */
  async close(): Promise<void> {
    this.stopAsked = true;
    if (this.child.connected) this.child.disconnect();
    await this.exited;
  }
}

/** The children's figures, summed. */
function sumFigures(all: readonly ControllerProcessFigures[]): ControllerProcessFigures {
  const stateRequests: Record<string, number> = {};
  const stateRequestSites: Record<string, number> = {};
  for (const figures of all) {
    for (const [name, n] of Object.entries(figures.stateRequests))
      stateRequests[name] = (stateRequests[name] ?? 0) + n;
    for (const [site, n] of Object.entries(figures.stateRequestSites))
      stateRequestSites[site] = (stateRequestSites[site] ?? 0) + n;
  }
  return { stateRequests, stateRequestSites, invocations: all.reduce((n, f) => n + f.invocations, 0) };
}

const refuseCalls: DelegatedCallRunner = async (call) => {
  throw new Error(`controller process: expected no delegated call, found ${call.method}`);
};

export interface ControllerProcessOptions {
  /** One child's spec, less its share of the streams. */
  spec: Omit<ControllerChildSpec, "maxConcurrency">;
  streams: number;
  processes: number;
  logger: Logger;
  /** Runs the calls the children delegate (`spec.delegate`). Default: none expected (refused). */
  onCall?: DelegatedCallRunner;
}

/**
 * Forks a child for each spec at once, resolving once every one polls the queue; when one fails
 * to start, the others are ended (they exit once their channel closes) and its error is thrown.
 */
async function forkChildren(
  specs: readonly ControllerChildSpec[],
  logger: Logger,
  onCall: DelegatedCallRunner,
): Promise<ControllerChild[]> {
  const started = await Promise.allSettled(specs.map((spec) => ControllerChild.fork(spec, logger, onCall)));
  const forked = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(forked.map((c) => c.close()));
    throw failed.reason;
  }
  return forked;
}

/** Starts the children and resolves once every one polls the queue. */
export async function startControllerProcesses(
  options: ControllerProcessOptions,
): Promise<ControllerProcesses> {
  const shares = concurrencyShares(options.streams, options.processes);
  const children = await forkChildren(
    shares.map((maxConcurrency) => ({ ...options.spec, maxConcurrency })),
    options.logger,
    options.onCall ?? refuseCalls,
  );
  let stopping: Promise<ControllerProcessFigures> | undefined;
  const stop = () => {
    stopping ??= Promise.all(children.map((c) => c.stop(false))).then(sumFigures);
    return stopping;
  };
  return { pids: children.map((c) => c.pid), stop };
}

/**
 * K controller processes kept between stacks: a benchmark's runs one after another each get the
 * same children (each run its own app, clients and event source in them), so that the children's
 * compiled code is as warm as the harness process's is when it runs the controllers itself (a
 * process forked per run interprets every function of the controller path again: session 10's
 * A/B started them cold for every run). The streams are split over the K children per stack.
 */
export class ControllerProcessPool {
  private children: ControllerChild[] | undefined;
  private attached = false;

  /** @param processes K ≥ 1, at most each stack's streams. */
  constructor(readonly processes: number) {
    if (!Number.isInteger(processes) || processes < 1) {
      throw new RangeError(`ControllerProcessPool: expected an integer ≥ 1 of processes, found ${processes}`);
    }
  }

  /** The children run this stack's controllers (forked on the first stack) until its `stop`. */
  async attach(options: ControllerProcessOptions): Promise<ControllerProcesses> {
    if (options.processes !== this.processes) {
      throw new RangeError(
        `ControllerProcessPool: expected ${this.processes} processes (the pool's), found ${options.processes}`,
      );
    }
    if (this.attached)
      throw new Error("ControllerProcessPool: expected one stack at a time, found one attached");
    const shares = concurrencyShares(options.streams, this.processes);
    const onCall = options.onCall ?? refuseCalls;
    const specs = shares.map((maxConcurrency) => ({ ...options.spec, maxConcurrency, keepAlive: true }));
    this.attached = true;
    try {
      const children = this.children;
      if (children) await Promise.all(children.map((c, i) => c.begin(specs[i]!, options.logger, onCall)));
      else this.children = await forkChildren(specs, options.logger, onCall);
    } catch (error) {
      this.attached = false;
      throw error;
    }
    const attachedChildren = this.children as ControllerChild[];
    let stopping: Promise<ControllerProcessFigures> | undefined;
    return {
      pids: attachedChildren.map((c) => c.pid),
      stop: () => {
        stopping ??= Promise.all(attachedChildren.map((c) => c.stop(true)))
          .then(sumFigures)
          .finally(() => {
            this.attached = false;
          });
        return stopping;
      },
    };
  }

  /** Ends the children. */
  async close(): Promise<void> {
    const children = this.children ?? [];
    this.children = undefined;
    await Promise.all(children.map((c) => c.close()));
  }
}
