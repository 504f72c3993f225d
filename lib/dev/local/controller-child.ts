/**
 * A share of the local stack's controllers in a process of their own (lib/dev/local/controllers.ts
 * starts it with `fork`): its own `BackupApp` and AWS clients, configured with the same values the
 * stack gives its in-process app, and its own `LocalSqsEventSource` polling the stream queue with
 * its share of the streams' concurrency. On Lambda every controller has a process and CPU of its
 * own; in one Node process 16–64 controllers share one event loop, which bounded the benchmark.
 *
 * Messages (IPC): the child sends `ready` once it polls, `log` lines when asked to forward them,
 * and `stopped` with its state-table requests by command after a `stop` (its running invocations
 * ended first); it exits when the parent goes away (the IPC channel closes). A child started with
 * `keepAlive` stays after `stop` (its app, clients and event source closed) and serves the next
 * `start` with a new spec (another stack's table, queue and archive) in the same process, whose
 * compiled code is then warm, as a harness process running the controllers itself is warm after
 * its first run (lib/dev/local/controllers.ts `ControllerProcessPool`).
 */
import { type BackupApp, type BackupAppOptions, createBackupApp } from "../../app/backup-app.js";
import { type Logger, type LogLevel, silentLogger } from "../../app/logger.js";
import { createAwsClients } from "../../aws/clients.js";
import { awsEndpointsFromConfig } from "../../config/aws-endpoints.js";
import { loadConfig } from "../../config/index.js";
import type { DiscoveryTask } from "../../queue/stream-task.js";
import { LocalSqsEventSource } from "./sqs-event-source.js";
import { stateRequestSite } from "./state-request-site.js";

/** What the parent gives one child (one JSON argument). */
export interface ControllerChildSpec {
  /** The configuration's MAILSTREAM_* values, exactly as the stack gives its in-process app. */
  configEnv: Record<string, string>;
  configFile?: string;
  /** This child's share of the streams: its event source's maximum concurrency. */
  maxConcurrency: number;
  /** What `getRemainingTimeInMillis` counts down from, ms. */
  functionTimeoutMs: number;
  /** Data-only app options (functions cannot cross a process boundary). */
  planLimits?: BackupAppOptions["planLimits"];
  graphPolicy?: BackupAppOptions["graphPolicy"];
  messageRetry?: BackupAppOptions["messageRetry"];
  /** Send the app's log lines to the parent (its logger writes them). Default false. */
  forwardLogs?: boolean;
  /** App calls handed to the parent's app over IPC (see `ServicesOptions.delegateToHarness`). */
  delegate?: DelegatedCall[];
  /** Count the state requests by call site too (a stack trace each). Default false. */
  countStateRequestSites?: boolean;
  /**
   * Stay after `stop`, for the next `start` message (a pool's warm child). Default false: the
   * child ends once its figures are sent.
   */
  keepAlive?: boolean;
}

/** App calls a controller process may hand to the harness's app. */
export type DelegatedCall = "finalize" | "continueDiscovery";

/** A delegated call's arguments: the invocation's remaining time as a number (ms at the call). */
export type DelegatedArgs =
  | { method: "finalize"; jobId: string; remainingMs?: number }
  | { method: "continueDiscovery"; task: DiscoveryTask; remainingMs: number };

export type ControllerChildMessage =
  | { kind: "ready" }
  | { kind: "log"; level: LogLevel; event: string; fields: Record<string, unknown> }
  | { kind: "call"; id: number; call: DelegatedArgs }
  | {
      kind: "stopped";
      stateRequests: Record<string, number>;
      /** By `command site` (stateRequestSite), when counted. */
      stateRequestSites: Record<string, number>;
      invocations: number;
    };

export type ControllerParentMessage =
  | { kind: "start"; spec: ControllerChildSpec }
  | { kind: "stop" }
  | { kind: "result"; id: number; value?: unknown; error?: { name: string; message: string } };

const send = (message: ControllerChildMessage, sent?: () => void) =>
  process.send?.(message, undefined, {}, () => sent?.());

/** A logger whose lines go to the parent over IPC. */
function forwardingLogger(base: Record<string, unknown> = {}): Logger {
  const emit =
    (level: LogLevel) =>
    (event: string, fields: Record<string, unknown> = {}) =>
      send({ kind: "log", level, event, fields: { ...base, ...fields } });
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => forwardingLogger({ ...base, ...fields }),
  };
}

/** Delegated calls waiting for the parent's answer, by id. */
const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let calls = 0;

function settle(message: Extract<ControllerParentMessage, { kind: "result" }>): void {
  const call = waiting.get(message.id);
  waiting.delete(message.id);
  if (!call) return;
  if (!message.error) {
    call.resolve(message.value);
    return;
  }
  const error = new Error(message.error.message);
  error.name = message.error.name;
  call.reject(error);
}

function callParent(call: DelegatedArgs): Promise<unknown> {
  const id = ++calls;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    send({ kind: "call", id, call });
  });
}

/**
 * The app's `finalize` / `continueDiscovery` run by the parent's app: the controller's handler
 * calls them through `app` (lib/app/backup-app.ts), so a harness that wraps the parent's sees
 * every call, as when the controllers ran beside it.
 */
function delegateCalls(app: BackupApp, delegate: readonly DelegatedCall[]): void {
  if (delegate.includes("finalize")) {
    app.finalize = async (jobId, remainingMs) =>
      (await callParent({
        method: "finalize",
        jobId,
        ...(remainingMs ? { remainingMs: remainingMs() } : {}),
      })) as Awaited<ReturnType<BackupApp["finalize"]>>;
  }
  if (delegate.includes("continueDiscovery")) {
    app.continueDiscovery = async (task, remainingMs) =>
      (await callParent({ method: "continueDiscovery", task, remainingMs: remainingMs() })) as Awaited<
        ReturnType<BackupApp["continueDiscovery"]>
      >;
  }
}

/** One stack's controllers in this process: its app, clients and event source, and their stop. */
async function startSession(spec: ControllerChildSpec): Promise<() => Promise<void>> {
  const config = loadConfig({ ...(spec.configFile ? { file: spec.configFile } : {}), env: spec.configEnv });
  const clients = createAwsClients(awsEndpointsFromConfig(config));
  // The stack's figures count state requests by command (bench/scale.ts): counted here, sent at stop.
  const stateRequests: Record<string, number> = {};
  const stateRequestSites: Record<string, number> = {};
  clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "unknown");
      stateRequests[name] = (stateRequests[name] ?? 0) + 1;
      if (spec.countStateRequestSites) {
        const site = `${name} ${stateRequestSite()}`;
        stateRequestSites[site] = (stateRequestSites[site] ?? 0) + 1;
      }
      return next(args);
    },
    { step: "initialize", name: "controllerChildStateRequests" },
  );
  const logger = spec.forwardLogs ? forwardingLogger() : silentLogger;
  const app = await createBackupApp({
    config,
    clients,
    logger,
    ...(spec.planLimits ? { planLimits: spec.planLimits } : {}),
    ...(spec.graphPolicy ? { graphPolicy: spec.graphPolicy } : {}),
    ...(spec.messageRetry ? { messageRetry: spec.messageRetry } : {}),
  });
  delegateCalls(app, spec.delegate ?? []);
  const queueUrl = config.streamQueueUrl;
  if (!queueUrl) throw new Error("controller-child: expected MAILSTREAM_STREAM_QUEUE_URL, found none");
  const source = new LocalSqsEventSource({
    sqs: clients.sqs,
    queueUrl,
    handler: (event, context) => app.handleSqsEvent(event, context),
    batchSize: 1,
    maxConcurrency: spec.maxConcurrency,
    functionTimeoutMs: spec.functionTimeoutMs,
    onInvocationError: (error) =>
      logger.error("controller.invocation.failed", {
        error: error instanceof Error ? error.message : String(error),
      }),
  });
  source.start();
  return async () => {
    await source.stop();
    app.close();
    clients.destroy();
    // Once the figures are on their way: then a child that is not kept ends (the channel closes).
    send({ kind: "stopped", stateRequests, stateRequestSites, invocations: source.invocations }, () => {
      if (!spec.keepAlive) process.disconnect();
    });
  };
}

async function main(first: ControllerChildSpec): Promise<void> {
  let stopSession: (() => Promise<void>) | undefined = await startSession(first);
  process.on("message", (message: ControllerParentMessage) => {
    if (message.kind === "result") settle(message);
    else if (message.kind === "stop") {
      const stop = stopSession;
      stopSession = undefined;
      void stop?.();
    } else if (message.kind === "start" && !stopSession) {
      // A kept child's next stack (the parent sends it only after this one's `stopped`).
      startSession(message.spec).then(
        (stop) => {
          stopSession = stop;
          send({ kind: "ready" });
        },
        (error: unknown) => {
          process.stderr.write(
            `controller-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
          );
          process.exit(1);
        },
      );
    }
  });
  // The parent ended (or stopped us): nothing more will come.
  process.on("disconnect", () => process.exit(0));
  send({ kind: "ready" });
}

main(JSON.parse(process.argv[2] ?? "{}") as ControllerChildSpec).catch((error: unknown) => {
  process.stderr.write(
    `controller-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
