/**
 * What an archive command works on: the archive (a local folder or an S3 bucket) and, when one
 * is reachable, the state table (for live job status). Chosen from, in order: `--archive`
 * (a folder or `s3://bucket/prefix`), the MAILSTREAM_ARCHIVE* environment variables, or the
 * local runtime's data folder (`--data`, default `.mailstream`). The AWS SDK is loaded only when
 * the archive or the state table needs it, so that commands on a local archive start fast.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ObjectStore } from "../archive/store.js";
import type { AwsClients } from "../aws/clients.js";
import { ConfigError } from "../errors.js";
import type { StateStore } from "../state/index.js";
import { UsageError } from "./errors.js";
import type { ArchiveOptions } from "./options.js";

/**
 * A command answers a person at a terminal: a state table that does not answer is reported at
 * once (the AWS SDK has made its own attempts), not retried for the pipeline's budget.
 */
const CLI_STATE_RETRY = { budgetMs: 0 };

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

/** `s3://bucket[/prefix]` split, or undefined when the text is no URL; a URL that is not a usable S3 one is refused. */
export function parseArchiveUrl(text: string): { bucket: string; prefix?: string } | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (!scheme) return undefined;
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
  if (scheme[1] !== "s3" || !m) {
    throw new UsageError(
      `--archive: expected a folder or s3://<bucket>[/<prefix>] with a bucket name (3–63 lowercase letters, digits, dots, hyphens), found "${text}"`,
    );
  }
  const prefix = m[2]?.replace(/^\/+|\/+$/g, "");
  return { bucket: m[1]!, ...(prefix ? { prefix } : {}) };
}

async function s3Context(
  bucket: string,
  prefix: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<CliContext> {
  const [{ createAwsClients }, { S3ObjectStore }, { StateStore }] = await Promise.all([
    import("../aws/clients.js"),
    import("../archive/s3-store.js"),
    import("../state/index.js"),
  ]);
  const clients = createAwsClients({
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    ...(env.MAILSTREAM_S3_ENDPOINT ? { s3: env.MAILSTREAM_S3_ENDPOINT } : {}),
    ...(env.MAILSTREAM_DYNAMODB_ENDPOINT ? { dynamodb: env.MAILSTREAM_DYNAMODB_ENDPOINT } : {}),
  });
  const archive = new S3ObjectStore({ client: clients.s3, bucket, ...(prefix ? { prefix } : {}) });
  const table = env.MAILSTREAM_STATE_TABLE;
  return {
    where: `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
    archive,
    state: table ? new StateStore({ ddb: clients.ddb, tableName: table, retry: CLI_STATE_RETRY }) : undefined,
    clients,
    close: () => clients.destroy(),
  };
}

async function localContext(
  path: string,
  live?: { state: StateStore; clients: AwsClients },
): Promise<CliContext> {
  if (!existsSync(path)) {
    throw new ConfigError(
      "archive",
      `expected an archive folder at ${path}, found nothing (run \`npm start\` for a local backup, or point --archive / MAILSTREAM_ARCHIVE_PATH at an archive)`,
    );
  }
  if (!statSync(path).isDirectory()) {
    throw new ConfigError("archive", `expected an archive folder at ${path}, found a file`);
  }
  const { LocalObjectStore } = await import("../archive/local-store.js");
  return {
    where: path,
    archive: new LocalObjectStore(path),
    state: live?.state,
    clients: live?.clients,
    close: () => live?.clients.destroy(),
  };
}

/** The state table of a local run in progress in the data folder, when there is one. */
async function liveLocalState(
  dataDir: string,
): Promise<{ state: StateStore; clients: AwsClients } | undefined> {
  const runtimeFile = join(dataDir, RUNTIME_FILE);
  if (!existsSync(runtimeFile)) return undefined;
  let running: LocalRuntimeFile;
  try {
    running = JSON.parse(readFileSync(runtimeFile, "utf8")) as LocalRuntimeFile;
  } catch {
    // Half-written by a run that is starting: no live state to read yet.
    return undefined;
  }
  if (!isAlive(running.pid)) return undefined;
  const [{ createAwsClients }, { StateStore }] = await Promise.all([
    import("../aws/clients.js"),
    import("../state/index.js"),
  ]);
  const clients = createAwsClients({ dynamodb: running.dynamodbEndpoint });
  return {
    state: new StateStore({ ddb: clients.ddb, tableName: running.tableName, retry: CLI_STATE_RETRY }),
    clients,
  };
}

export async function openCliContext(options: CliContextOptions = {}): Promise<CliContext> {
  const env = options.env ?? process.env;
  if (options.archive !== undefined) {
    if (options.archive.trim() === "") {
      throw new UsageError('--archive: expected a folder or s3://<bucket>[/<prefix>], found ""');
    }
    const url = parseArchiveUrl(options.archive);
    if (url) return s3Context(url.bucket, url.prefix, env);
    return localContext(resolve(options.archive));
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
  if (env.MAILSTREAM_ARCHIVE_PATH) return localContext(resolve(env.MAILSTREAM_ARCHIVE_PATH));
  const dataDir = resolve(options.data ?? ".mailstream");
  return localContext(join(dataDir, "archive"), await liveLocalState(dataDir));
}

/** Opens the archive, runs the body, closes the context whatever happens. */
export async function withArchive<T>(
  opts: ArchiveOptions,
  body: (ctx: CliContext) => Promise<T>,
): Promise<T> {
  const ctx = await openCliContext({
    ...(opts.data !== undefined ? { data: opts.data } : {}),
    ...(opts.archive !== undefined ? { archive: opts.archive } : {}),
  });
  try {
    return await body(ctx);
  } finally {
    ctx.close();
  }
}
