/**
 * The `MAILSTREAM_*` environment variables and where each lands in the configuration. This table
 * is the single source for reading the environment and for naming the variable in errors.
 */
export type EnvValueKind = "string" | "integer" | "list" | "pem";

export interface EnvVariable {
  name: string;
  /** Dotted path in the configuration. */
  path: string;
  kind: EnvValueKind;
  /** The value is a secret: never shown in messages or JSON. */
  secret?: boolean;
}

export const ENV_VARIABLES: readonly EnvVariable[] = [
  { name: "MAILSTREAM_TENANT_ID", path: "tenant.tenantId", kind: "string" },
  { name: "MAILSTREAM_CLIENT_ID", path: "tenant.clientId", kind: "string" },
  { name: "MAILSTREAM_GRAPH_BASE_URL", path: "tenant.graphBaseUrl", kind: "string" },
  { name: "MAILSTREAM_AUTHORITY", path: "tenant.authority", kind: "string" },
  { name: "MAILSTREAM_AUTHORITY_METADATA", path: "tenant.authorityMetadata", kind: "string" },
  { name: "MAILSTREAM_KNOWN_AUTHORITIES", path: "tenant.knownAuthorities", kind: "list" },
  { name: "MAILSTREAM_CREDENTIALS_SOURCE", path: "credentials.source", kind: "string" },
  { name: "MAILSTREAM_SECRET_ARN", path: "credentials.secretArn", kind: "string" },
  { name: "MAILSTREAM_CLIENT_SECRET", path: "credentials.clientSecret", kind: "string", secret: true },
  { name: "MAILSTREAM_CLIENT_CERT_PEM", path: "credentials.certificatePem", kind: "pem", secret: true },
  { name: "MAILSTREAM_CLIENT_KEY_PEM", path: "credentials.privateKeyPem", kind: "pem", secret: true },
  { name: "MAILSTREAM_ARCHIVE", path: "archive.kind", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_BUCKET", path: "archive.bucket", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_PREFIX", path: "archive.prefix", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_PATH", path: "archive.path", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_KMS_KEY_ID", path: "archive.kmsKeyId", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_STAGING_BUCKET", path: "archive.stagingBucket", kind: "string" },
  { name: "MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES", path: "archive.packThresholdBytes", kind: "integer" },
  { name: "MAILSTREAM_ARCHIVE_COMPRESSION", path: "archive.compression", kind: "string" },
  {
    name: "MAILSTREAM_ARCHIVE_COMPRESSION_MIN_SAVING_PERCENT",
    path: "archive.compressionMinSavingPercent",
    kind: "integer",
  },
  { name: "MAILSTREAM_STATE_TABLE", path: "stateTable", kind: "string" },
  { name: "MAILSTREAM_STREAM_QUEUE_URL", path: "streamQueueUrl", kind: "string" },
  { name: "AWS_REGION", path: "aws.region", kind: "string" },
  { name: "MAILSTREAM_S3_ENDPOINT", path: "aws.endpoints.s3", kind: "string" },
  { name: "MAILSTREAM_SQS_ENDPOINT", path: "aws.endpoints.sqs", kind: "string" },
  { name: "MAILSTREAM_DYNAMODB_ENDPOINT", path: "aws.endpoints.dynamodb", kind: "string" },
  { name: "MAILSTREAM_SCHEDULE", path: "schedule", kind: "string" },
  { name: "MAILSTREAM_STREAMS_MAX", path: "streams.max", kind: "integer" },
  { name: "MAILSTREAM_PER_MAILBOX_CONCURRENCY", path: "streams.perMailboxConcurrency", kind: "integer" },
  { name: "MAILSTREAM_PER_MAILBOX_BUDGET", path: "streams.perMailboxBudget", kind: "integer" },
  { name: "MAILSTREAM_BUDGET_WINDOW_SECONDS", path: "streams.budgetWindowSeconds", kind: "integer" },
  { name: "MAILSTREAM_BUDGET_MARGIN_MS", path: "streams.budgetMarginMs", kind: "integer" },
  { name: "MAILSTREAM_PAGE_SIZE", path: "pageSize", kind: "integer" },
  { name: "MAILSTREAM_MAIL_CONTENT", path: "mailContent", kind: "string" },
  { name: "MAILSTREAM_JOB_RECORD_TTL_DAYS", path: "retention.jobRecordDays", kind: "integer" },
  { name: "MAILSTREAM_INCLUDE", path: "mailboxes.include", kind: "list" },
  { name: "MAILSTREAM_EXCLUDE", path: "mailboxes.exclude", kind: "list" },
  { name: "MAILSTREAM_HEARTBEAT_STALE_SECONDS", path: "controller.heartbeatStaleSeconds", kind: "integer" },
  { name: "MAILSTREAM_DEADLINE_MARGIN_MS", path: "controller.deadlineMarginMs", kind: "integer" },
  { name: "MAILSTREAM_PLANNING_STALE_SECONDS", path: "controller.planningStaleSeconds", kind: "integer" },
  { name: "MAILSTREAM_DISCOVERY_PIECE_MAILBOXES", path: "discovery.pieceMailboxes", kind: "integer" },
  { name: "MAILSTREAM_DISCOVERY_BATCH_SIZE", path: "discovery.batchSize", kind: "integer" },
  { name: "MAILSTREAM_DISCOVERY_STREAM_WAIT_SECONDS", path: "discovery.streamWaitSeconds", kind: "integer" },
  { name: "MAILSTREAM_SEARCH_INDEX_AFTER_JOB", path: "searchIndex.afterJob", kind: "string" },
  {
    name: "MAILSTREAM_SEARCH_INDEX_MAILBOXES_PER_PIECE",
    path: "searchIndex.mailboxesPerPiece",
    kind: "integer",
  },
  { name: "MAILSTREAM_RETRY_BUDGET_SECONDS", path: "controller.retryBudgetSeconds", kind: "integer" },
  { name: "MAILSTREAM_SYNC_STATE_REFRESH_HOURS", path: "controller.syncStateRefreshHours", kind: "integer" },
  { name: "MAILSTREAM_PAGE_HOLD_SECONDS", path: "controller.pageHoldSeconds", kind: "integer" },
  { name: "MAILSTREAM_FIRST_PAGE_BATCH", path: "controller.firstPageBatch", kind: "integer" },
  { name: "MAILSTREAM_LARGE_ITEMS_AT_ONCE", path: "controller.largeItemsAtOnce", kind: "integer" },
  { name: "MAILSTREAM_UNITS_PER_STREAM", path: "streams.unitsPerStream", kind: "integer" },
  { name: "MAILSTREAM_LOG_LEVEL", path: "logLevel", kind: "string" },
  { name: "MAILSTREAM_STAGE", path: "stage", kind: "string" },
];

export const CONFIG_FILE_VARIABLE = "MAILSTREAM_CONFIG_FILE";

const BY_PATH = new Map(ENV_VARIABLES.map((v) => [v.path, v]));

/** The environment variable that sets a dotted path, if any. */
export function envVariableFor(path: string): EnvVariable | undefined {
  // List items (`mailboxes.include.2`) are set by their list's variable.
  for (let at = path; at !== ""; at = at.includes(".") ? at.slice(0, at.lastIndexOf(".")) : "") {
    const variable = BY_PATH.get(at);
    if (variable) return variable;
  }
  return undefined;
}

/** Dotted paths whose values are secrets. */
export const SECRET_PATHS: ReadonlySet<string> = new Set(
  ENV_VARIABLES.filter((v) => v.secret).map((v) => v.path),
);

/**
 * Turns one variable's text into the value the schema expects. A value that does not convert is
 * passed on unchanged, so the schema reports it with the text that was found.
 */
export function parseEnvValue(kind: EnvValueKind, raw: string): unknown {
  const trimmed = raw.trim();
  switch (kind) {
    case "string":
      return trimmed;
    case "pem":
      // One-line variables often carry PEM newlines as the two characters "\n".
      return trimmed.includes("\\n") ? trimmed.replaceAll("\\n", "\n") : trimmed;
    case "integer":
      return /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
    case "list":
      if (trimmed.startsWith("[")) {
        try {
          return JSON.parse(trimmed);
        } catch {
          return trimmed;
        }
      }
      return trimmed
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item.length > 0);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/** The configuration fragment given by the environment (empty variables count as unset). */
export function configFromEnv(env: Env): Record<string, unknown> {
  const fragment: Record<string, unknown> = {};
  for (const variable of ENV_VARIABLES) {
    const raw = env[variable.name];
    if (raw === undefined || raw.trim() === "") continue;
    setPath(fragment, variable.path, parseEnvValue(variable.kind, raw));
  }
  return fragment;
}
