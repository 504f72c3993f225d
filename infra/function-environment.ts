/**
 * The environment of each function (names fixed in lib/config/env.ts): only what that function
 * reads, so no function's environment names a resource its role cannot use. Never a secret: the
 * coordinator and the controller get the secret's ARN and read it at run time; the sweep never
 * calls Graph and gets neither the tenant nor the secret.
 */
import type { DeploymentConfig } from "./config.js";
import { STAGE_ENV } from "./metrics.js";

/** The deployed names the environments point at (tokens in the template). */
export interface FunctionResources {
  bucket: string;
  stagingBucket: string;
  keyArn: string;
  table: string;
  queueUrl: string;
}

export type FunctionName = "coordinator" | "controller" | "sweep";

export function functionEnvironments(
  config: DeploymentConfig,
  resources: FunctionResources,
): Record<FunctionName, Record<string, string>> {
  // Every function keeps job records (state table, TTL), may finalize a job (manifest and report
  // in the archive) and sends stream tasks.
  const jobRecords: Record<string, string> = {
    [STAGE_ENV]: config.stage,
    MAILSTREAM_LOG_LEVEL: config.logLevel,
    MAILSTREAM_STATE_TABLE: resources.table,
    MAILSTREAM_JOB_RECORD_TTL_DAYS: String(config.retention.jobRecordDays),
    MAILSTREAM_STREAM_QUEUE_URL: resources.queueUrl,
    MAILSTREAM_ARCHIVE: "s3",
    MAILSTREAM_ARCHIVE_BUCKET: resources.bucket,
    MAILSTREAM_ARCHIVE_KMS_KEY_ID: resources.keyArn,
    ...(config.archivePrefix ? { MAILSTREAM_ARCHIVE_PREFIX: config.archivePrefix } : {}),
  };
  const graph: Record<string, string> = {
    MAILSTREAM_TENANT_ID: config.tenantId,
    MAILSTREAM_CLIENT_ID: config.clientId,
    MAILSTREAM_CREDENTIALS_SOURCE: "secretsManager",
    MAILSTREAM_SECRET_ARN: config.secretArn,
    MAILSTREAM_PER_MAILBOX_CONCURRENCY: String(config.streams.perMailboxConcurrency),
    MAILSTREAM_PAGE_SIZE: String(config.pageSize),
    ...(config.graphBaseUrl ? { MAILSTREAM_GRAPH_BASE_URL: config.graphBaseUrl } : {}),
    ...(config.authority ? { MAILSTREAM_AUTHORITY: config.authority } : {}),
  };
  const staleness = { MAILSTREAM_HEARTBEAT_STALE_SECONDS: String(config.heartbeatStaleSeconds) };
  // Discovery and planning: the coordinator runs a job's first pieces, controllers its
  // continuations, and both must select and plan alike (a continuation that lacked the rules
  // would back up excluded mailboxes).
  const discovery = {
    MAILSTREAM_STREAMS_MAX: String(config.streams.max),
    // The planner counts a stream's units as lanes; the controller runs that many at once.
    MAILSTREAM_UNITS_PER_STREAM: String(config.streams.unitsPerStream),
    MAILSTREAM_MAIL_CONTENT: config.mailContent,
    MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: String(config.discoveryPieceMailboxes),
    ...(config.include.length > 0 ? { MAILSTREAM_INCLUDE: config.include.join(",") } : {}),
    ...(config.exclude.length > 0 ? { MAILSTREAM_EXCLUDE: config.exclude.join(",") } : {}),
  };
  return {
    // Plans (streams, concurrency, page size, content mode), discovers (include/exclude), sweeps on every tick.
    coordinator: {
      ...jobRecords,
      ...graph,
      ...staleness,
      ...discovery,
    },
    // Backs up units until its deadline margin (and runs discovery continuations); large
    // messages go through the staging bucket.
    controller: {
      ...jobRecords,
      ...graph,
      ...discovery,
      MAILSTREAM_ARCHIVE_STAGING_BUCKET: resources.stagingBucket,
      MAILSTREAM_DEADLINE_MARGIN_MS: String(config.deadlineMarginMs),
    },
    sweep: { ...jobRecords, ...staleness },
  };
}
