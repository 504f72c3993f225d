import type { AwsEndpoints } from "../../aws/clients.js";
import { EMULATOR_CREDENTIALS } from "../../aws/clients.js";
import { startDynamoDbLocal } from "./dynamodb-local.js";

/**
 * Local stand-ins for the AWS services mailstream uses, for tests and the embedded runtime:
 * fauxqs 2.4 (S3 + SQS, in this process) and DynamoDB Local (a JVM child process).
 *
 * Emulator quirks that code and tests must not trip over (measured on fauxqs 2.4.1; 1.9 had the same):
 * - fauxqs S3 answers 413 to a single request body over about 11 MiB: upload large objects
 *   with multipart (`@aws-sdk/lib-storage` `Upload`, 5–10 MiB parts).
 * - fauxqs S3 ignores `IfNoneMatch` / `IfMatch` on PutObject: "create only if absent" is not
 *   enforced locally, so write-once logic must not rely on S3 conditional writes alone.
 * - fauxqs S3 lists keys in locale order, not in UTF-8 byte order as S3 does: do not rely on
 *   listing order for keys that differ in case or punctuation.
 * - fauxqs SQS queue URLs name the host `sqs.<region>.localhost`; clients must keep the
 *   configured endpoint (createAwsClients does), which the SDK then prefers over the URL's host.
 * - DynamoDB Local accepts a TTL specification but never deletes expired items.
 */
export interface EmulatorOptions {
  /** Directory for DynamoDB Local's database files; undefined keeps it in memory. */
  dynamoDbPath?: string;
  /** Directory for emulator logs (`dynamodb-local.log`). Default: no log files. */
  logDir?: string;
  /** DynamoDB Local's heap limit, MiB (see DynamoDbLocalOptions.heapMib). Default 512. */
  dynamoDbHeapMib?: number;
}

export interface RunningEmulators {
  /** Endpoints for {@link createAwsClients}; region `us-east-1`, static emulator credentials. */
  endpoints: AwsEndpoints;
  /** Stops both emulators. Safe to call twice. */
  stop(): Promise<void>;
}

export const EMULATOR_REGION = "us-east-1";

/**
 * fauxqs 2 imports `node:sqlite` (for its optional persistence, unused here) and Node 22 prints
 * "SQLite is an experimental feature" on every start. That warning tells a user of the local
 * runtime nothing, so it alone is dropped while fauxqs loads; every other warning still prints.
 */
async function loadFauxqs(): Promise<typeof import("fauxqs").startFauxqs> {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (text.includes("SQLite is an experimental feature")) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return (await import("fauxqs")).startFauxqs;
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** Starts fauxqs and DynamoDB Local on free ports (in parallel) and resolves once both answer. */
export async function startEmulators(opts: EmulatorOptions = {}): Promise<RunningEmulators> {
  const startFauxqs = await loadFauxqs();
  const [fauxqs, dynamo] = await Promise.allSettled([
    startFauxqs({ port: 0, logger: false, defaultRegion: EMULATOR_REGION }),
    startDynamoDbLocal({ dbPath: opts.dynamoDbPath, logDir: opts.logDir, heapMib: opts.dynamoDbHeapMib }),
  ]);
  if (fauxqs.status === "rejected" || dynamo.status === "rejected") {
    if (fauxqs.status === "fulfilled") await fauxqs.value.stop();
    if (dynamo.status === "fulfilled") await dynamo.value.stop();
    throw fauxqs.status === "rejected" ? fauxqs.reason : (dynamo as PromiseRejectedResult).reason;
  }
  // fauxqs reports 127.0.0.1; keep it (not `localhost`, which may resolve to ::1 first).
  const s3AndSqs = `http://127.0.0.1:${fauxqs.value.port}`;
  let stopped: Promise<void> | undefined;
  return {
    endpoints: {
      region: EMULATOR_REGION,
      s3: s3AndSqs,
      sqs: s3AndSqs,
      dynamodb: dynamo.value.endpoint,
      credentials: { ...EMULATOR_CREDENTIALS },
    },
    stop() {
      stopped ??= Promise.all([fauxqs.value.stop(), dynamo.value.stop()]).then(() => undefined);
      return stopped;
    },
  };
}
