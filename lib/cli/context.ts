/**
 * What an archive command works on: the archive (a local folder or an S3 bucket) and, when one
 * is reachable, the state table (for live job status). Chosen from, in order: `--archive`
 * (a folder or `s3://bucket/prefix`), the MAILSTREAM_ARCHIVE* environment variables, or the
 * local runtime's data folder (`--data`, default `.mailstream`).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalObjectStore, type ObjectStore, S3ObjectStore } from "../archive/index.js";
import { type AwsClients, createAwsClients } from "../aws/clients.js";
import { ConfigError } from "../errors.js";
import { StateStore } from "../state/index.js";

export interface CliContextOptions {
  /** `--data`: the local runtime's data folder. Default `.mailstream`. */
  data?: string;
  /** `--archive`: a folder, or `s3://bucket[/prefix]`. */
  archive?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface CliContext {
  /** Human-readable place of the archive, for messages. */
  readonly where: string;
  readonly archive: ObjectStore;
  /** The state table, when reachable (AWS, or a local run in progress). */
  readonly state: StateStore | undefined;
  readonly clients: AwsClients | undefined;
  close(): void;
}

/** Written by the local runtime while it runs, so that `status` can reach its state table. */
export interface LocalRuntimeFile {
  pid: number;
  dynamodbEndpoint: string;
  tableName: string;
}

export const RUNTIME_FILE = "runtime.json";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function s3Context(bucket: string, prefix: string | undefined, env: CliContextOptions["env"]): CliContext {
  const clients = createAwsClients({
    ...(env?.AWS_REGION ? { region: env.AWS_REGION } : {}),
    ...(env?.MAILSTREAM_S3_ENDPOINT ? { s3: env.MAILSTREAM_S3_ENDPOINT } : {}),
    ...(env?.MAILSTREAM_DYNAMODB_ENDPOINT ? { dynamodb: env.MAILSTREAM_DYNAMODB_ENDPOINT } : {}),
  });
  const archive = new S3ObjectStore({ client: clients.s3, bucket, ...(prefix ? { prefix } : {}) });
  const table = env?.MAILSTREAM_STATE_TABLE;
  return {
    where: `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
    archive,
    state: table ? new StateStore({ ddb: clients.ddb, tableName: table }) : undefined,
    clients,
    close: () => clients.destroy(),
  };
}

function localContext(path: string, state: StateStore | undefined, clients?: AwsClients): CliContext {
  if (!existsSync(path)) {
    throw new ConfigError(
      "archive",
      `expected an archive folder at ${path}, found nothing (run \`npm start\` for a local backup, or point --archive / MAILSTREAM_ARCHIVE_PATH at an archive)`,
    );
  }
  return {
    where: path,
    archive: new LocalObjectStore(path),
    state,
    clients,
    close: () => clients?.destroy(),
  };
}

export function openCliContext(options: CliContextOptions = {}): CliContext {
  const env = options.env ?? process.env;
  if (options.archive) {
    const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(options.archive);
    if (m) return s3Context(m[1]!, m[2]?.replace(/\/+$/, "") || undefined, env);
    return localContext(resolve(options.archive), undefined);
  }
  if (env.MAILSTREAM_ARCHIVE === "s3" || env.MAILSTREAM_ARCHIVE_BUCKET) {
    const bucket = env.MAILSTREAM_ARCHIVE_BUCKET;
    if (!bucket) {
      throw new ConfigError(
        "archive.bucket (MAILSTREAM_ARCHIVE_BUCKET)",
        "expected an S3 bucket name, found nothing",
      );
    }
    return s3Context(bucket, env.MAILSTREAM_ARCHIVE_PREFIX, env);
  }
  if (env.MAILSTREAM_ARCHIVE_PATH) return localContext(resolve(env.MAILSTREAM_ARCHIVE_PATH), undefined);

  const dataDir = resolve(options.data ?? ".mailstream");
  let state: StateStore | undefined;
  let clients: AwsClients | undefined;
  const runtimeFile = join(dataDir, RUNTIME_FILE);
  if (existsSync(runtimeFile)) {
    const running = JSON.parse(readFileSync(runtimeFile, "utf8")) as LocalRuntimeFile;
    if (isAlive(running.pid)) {
      clients = createAwsClients({ dynamodb: running.dynamodbEndpoint });
      state = new StateStore({ ddb: clients.ddb, tableName: running.tableName });
    }
  }
  return localContext(join(dataDir, "archive"), state, clients);
}
