/**
 * A share of the local stack's controllers in a process of their own (lib/dev/local/controllers.ts
 * starts it with `fork`): its own `BackupApp` and AWS clients, configured with the same values the
 * stack gives its in-process app, and its own `LocalSqsEventSource` polling the stream queue with
 * its share of the streams' concurrency. On Lambda every controller has a process and CPU of its
 * own; in one Node process 16–64 controllers share one event loop, which bounded the benchmark.
 *
 * Messages (IPC): the child sends `ready` once it polls, `log` lines when asked to forward them,
 * and `stopped` with its state-table requests by command after a `stop` (its running invocations
 * ended first); it exits when the parent goes away (the IPC channel closes).
 */
import { type BackupAppOptions, createBackupApp } from "../../app/backup-app.js";
import { type Logger, type LogLevel, silentLogger } from "../../app/logger.js";
import { createAwsClients } from "../../aws/clients.js";
import { awsEndpointsFromConfig } from "../../config/aws-endpoints.js";
import { loadConfig } from "../../config/index.js";
import { LocalSqsEventSource } from "./sqs-event-source.js";

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
}

export type ControllerChildMessage =
  | { kind: "ready" }
  | { kind: "log"; level: LogLevel; event: string; fields: Record<string, unknown> }
  | { kind: "stopped"; stateRequests: Record<string, number>; invocations: number };

export type ControllerParentMessage = { kind: "stop" };

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

async function main(spec: ControllerChildSpec): Promise<void> {
  const config = loadConfig({ ...(spec.configFile ? { file: spec.configFile } : {}), env: spec.configEnv });
  const clients = createAwsClients(awsEndpointsFromConfig(config));
  // The stack's figures count state requests by command (bench/scale.ts): counted here, sent at stop.
  const stateRequests: Record<string, number> = {};
  clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? "unknown");
      stateRequests[name] = (stateRequests[name] ?? 0) + 1;
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
  process.on("message", (message: ControllerParentMessage) => {
    if (message.kind !== "stop") return;
    void source.stop().then(() => {
      app.close();
      clients.destroy();
      // Once the figures are on their way: then the channel closes and the process ends.
      send({ kind: "stopped", stateRequests, invocations: source.invocations }, () => process.disconnect());
    });
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
