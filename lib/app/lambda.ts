/**
 * What the three Lambda handlers share: reading their events and building their app once per
 * container (configuration from the environment, JSON logs and EMF metrics on stdout). The
 * coordinator and the controller build the backup app (with the Entra credential from Secrets
 * Manager); the sweep builds only what it uses, with neither the tenant nor the secret.
 * The handlers themselves only call into here and lib/.
 */
import { z } from "zod";
import type { JobTrigger } from "../backup/ports.js";
import { loadConfig, loadStateConfig } from "../config/index.js";
import { FatalError } from "../errors.js";
import {
  type BackupApp,
  type BackupAppOptions,
  createBackupApp,
  createSweepApp,
  type SweepApp,
} from "./backup-app.js";
import { createJsonLogger, type Logger } from "./logger.js";
import { createEmfMetrics } from "./metrics.js";

/** An event a handler cannot act on; retrying it would fail the same way. */
export class InvalidEventError extends FatalError {
  constructor(handler: string, expected: string, found: unknown) {
    super(`${handler} event: expected ${expected}, found ${describe(found)}`);
  }
}

const MAX_SHOWN_CHARS = 200;

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}… (${text.length} chars)` : text;
}

const scheduledEventSchema = z.object({
  "detail-type": z.literal("Scheduled Event"),
  id: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
});

const onDemandSchema = z.strictObject({
  kind: z.literal("on-demand"),
  requestId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .optional(),
});

export const COORDINATOR_EVENT_EXPECTED =
  'an EventBridge "Scheduled Event" (with "id" and an ISO "time") or an on-demand request {"kind":"on-demand","requestId"?:"<1-128 of A-Z a-z 0-9 . _ : ->"}';

/**
 * The job trigger an invocation of the coordinator asks for. A scheduled tick keeps the event's
 * own time, so EventBridge's at-least-once redelivery lands on the same job. An on-demand request
 * runs at the invocation time; without a requestId it is named by the invocation's request id, so
 * its job record says which invocation started it.
 */
export function parseCoordinatorEvent(
  event: unknown,
  context: { awsRequestId?: string } = {},
  now: () => Date = () => new Date(),
): JobTrigger {
  const scheduled = scheduledEventSchema.safeParse(event);
  if (scheduled.success) {
    return {
      kind: "schedule",
      time: new Date(scheduled.data.time).toISOString(),
      eventId: scheduled.data.id,
    };
  }
  const onDemand = onDemandSchema.safeParse(event);
  if (onDemand.success) {
    const requestId = onDemand.data.requestId ?? context.awsRequestId;
    return { kind: "on-demand", time: now().toISOString(), ...(requestId ? { requestId } : {}) };
  }
  throw new InvalidEventError("coordinator", COORDINATOR_EVENT_EXPECTED, event);
}

/** The SQS event shape the controller needs: a list of records with ids and bodies. */
const sqsEventSchema = z.object({
  Records: z.array(z.object({ messageId: z.string(), body: z.string() }).passthrough()),
});

export function assertSqsEvent(event: unknown): void {
  if (!sqsEventSchema.safeParse(event).success) {
    throw new InvalidEventError(
      "controller",
      'an SQS event {"Records":[{"messageId":"…","body":"…"},…]}',
      event,
    );
  }
}

export interface LambdaRuntime<App = BackupApp> {
  app: App;
  logger: Logger;
}

let runtime: Promise<LambdaRuntime> | undefined;
let sweepRuntimeCache: Promise<LambdaRuntime<SweepApp>> | undefined;

/**
 * The backup app of this container (coordinator, controller), built on first use from
 * `process.env` and reused by later invocations (clients, tokens and the credential stay warm).
 * A failed build is not cached, so the next invocation tries again (e.g. after the secret is fixed).
 */
export function lambdaRuntime(
  overrides: Partial<Omit<BackupAppOptions, "config" | "logger">> = {},
): Promise<LambdaRuntime> {
  runtime ??= buildRuntime(overrides).catch((error: unknown) => {
    runtime = undefined;
    throw error;
  });
  return runtime;
}

/**
 * The sweep's app of this container: state, archive and queue from `process.env`, without the
 * tenant and without reading the Entra secret (the sweep never calls Graph). Cached like
 * {@link lambdaRuntime}.
 */
export function sweepRuntime(): Promise<LambdaRuntime<SweepApp>> {
  sweepRuntimeCache ??= Promise.resolve()
    .then(() => {
      const config = loadStateConfig();
      const logger = createJsonLogger(config.logLevel, undefined, { stage: config.stage });
      const app = createSweepApp({ config, logger, metrics: createEmfMetrics({ stage: config.stage }) });
      logger.info("runtime.ready", { stage: config.stage });
      return { app, logger };
    })
    .catch((error: unknown) => {
      sweepRuntimeCache = undefined;
      throw error;
    });
  return sweepRuntimeCache;
}

async function buildRuntime(overrides: Partial<Omit<BackupAppOptions, "config" | "logger">>) {
  const config = loadConfig();
  const logger = createJsonLogger(config.logLevel, undefined, { stage: config.stage });
  const app = await createBackupApp({
    config,
    logger,
    metrics: createEmfMetrics({ stage: config.stage }),
    ...overrides,
  });
  logger.info("runtime.ready", { stage: config.stage });
  return { app, logger };
}

/** Drops this container's apps (closing their clients): for tests that rebuild them with another environment. */
export async function resetLambdaRuntime(): Promise<void> {
  const current = runtime;
  const currentSweep = sweepRuntimeCache;
  runtime = undefined;
  sweepRuntimeCache = undefined;
  if (current) (await current.catch(() => undefined))?.app.close();
  if (currentSweep) (await currentSweep.catch(() => undefined))?.app.close();
}

/** An error as a log field: name and message, never a stack full of paths or a secret. */
export function errorFields(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: "Error", message: String(error) };
}
