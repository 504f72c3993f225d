import { z } from "zod";
import {
  AUTHORITY_METADATA_FIELDS,
  isAuthorityMetadata,
  isDomain,
  isGuid,
  isHttpsUrl,
  isHttpUrl,
  isMailboxRule,
  isScheduleExpression,
} from "./checks.js";

/**
 * The one schema for everything mailstream reads at start-up. Every rule carries the
 * "expected …" text that {@link loadConfig} puts in a ConfigError beside the field, its
 * environment variable and the value found. Objects are strict: a misspelt field in a config
 * file is an error, not silently ignored.
 */

function integer(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function text(expected: string, check: (value: string) => boolean) {
  const error = `expected ${expected}`;
  return z.string({ error }).refine(check, { error });
}

const nonEmpty = (what: string) => text(what, (v) => v.trim().length > 0);

const mailboxRules = z
  .array(text("a mailbox rule (an address, @domain or group:<name>)", isMailboxRule), {
    error: "expected a list of mailbox rules (addresses, @domain or group:<name>)",
  })
  .default([]);

export const DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0";
export const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com";

export const tenantSchema = z.strictObject({
  /** Entra ID tenant: a GUID or a verified domain such as `contoso.onmicrosoft.com`. Required. */
  tenantId: text("a tenant GUID or domain name", (v) => isGuid(v) || isDomain(v)),
  /** Application (client) id of the Entra app registration: a GUID. Required. */
  clientId: text("an application (client) id GUID", isGuid),
  /** Microsoft Graph base URL, https only. Default `https://graph.microsoft.com/v1.0`. */
  graphBaseUrl: text("an https:// URL", isHttpsUrl)
    .transform((v) => v.replace(/\/+$/, ""))
    .default(DEFAULT_GRAPH_BASE_URL),
  /** Login authority, https only. Default `https://login.microsoftonline.com/<tenantId>`. */
  authority: text("an https:// URL", isHttpsUrl).optional(),
  /**
   * OpenID metadata as a JSON string (MSAL `authorityMetadata`) so that MSAL skips discovery:
   * needs `authorization_endpoint`, `token_endpoint`, `issuer`, `jwks_uri`. A config file may
   * give an object; it is turned into the string. Default: none (MSAL discovers).
   */
  authorityMetadata: z
    .preprocess(
      (v) => (typeof v === "object" && v !== null ? JSON.stringify(v) : v),
      text(`a JSON object naming ${AUTHORITY_METADATA_FIELDS.join(", ")}`, isAuthorityMetadata),
    )
    .optional(),
  /** Hosts (`host[:port]`) MSAL may trust without discovery, e.g. `localhost:8443`. Default none. */
  knownAuthorities: z.array(nonEmpty("a host name"), { error: "expected a list of host names" }).optional(),
});

const secretsManagerCredentials = z.strictObject({
  source: z.literal("secretsManager"),
  /** ARN of the Secrets Manager secret holding `{"clientSecret"}` or a certificate. */
  secretArn: text("a Secrets Manager secret ARN", (v) => /^arn:aws[a-z-]*:secretsmanager:/.test(v)),
});

const envCredentials = z
  .strictObject({
    source: z.literal("env"),
    /** Client secret (MAILSTREAM_CLIENT_SECRET). Secret: never printed. */
    clientSecret: nonEmpty("a client secret").optional(),
    /** Certificate, PEM (MAILSTREAM_CLIENT_CERT_PEM). */
    certificatePem: text("a PEM certificate", (v) => v.includes("-----BEGIN CERTIFICATE-----")).optional(),
    /** Private key of the certificate, PEM (MAILSTREAM_CLIENT_KEY_PEM). Secret: never printed. */
    privateKeyPem: text("a PEM private key", (v) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(v)).optional(),
  })
  .superRefine((value, ctx) => {
    const hasCertificate = value.certificatePem !== undefined || value.privateKeyPem !== undefined;
    if (value.clientSecret === undefined && !hasCertificate) {
      ctx.addIssue({
        code: "custom",
        path: ["clientSecret"],
        message: "expected a client secret, or a certificate and its private key",
      });
    }
    if (value.clientSecret !== undefined && hasCertificate) {
      ctx.addIssue({
        code: "custom",
        path: ["certificatePem"],
        message: "expected either a client secret or a certificate, not both",
      });
    }
    for (const half of ["certificatePem", "privateKeyPem"] as const) {
      if (hasCertificate && value[half] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [half],
          message: "expected both a certificate and its private key",
        });
      }
    }
  });

/** How the app proves its identity to Entra ID. Env secrets are for local runs only. */
export const credentialsSchema = z.discriminatedUnion("source", [secretsManagerCredentials, envCredentials], {
  error: 'expected source "secretsManager" or "env"',
});

const compression = z.enum(["gzip", "none"], { error: "expected gzip or none" });

/** Where backups go. */
export const archiveSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({
      kind: z.literal("s3"),
      /** Bucket name (3..63 lowercase letters, digits, dots, hyphens). */
      bucket: text("an S3 bucket name", (v) => /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v)),
      /** Key prefix inside the bucket, without a leading `/`. Default: none. */
      prefix: text("a key prefix without a leading /", (v) => !v.startsWith("/"))
        .transform((v) => v.replace(/\/+$/, ""))
        .optional(),
      /** KMS key id or ARN for SSE-KMS. Default: the bucket's default encryption. */
      kmsKeyId: nonEmpty("a KMS key id or ARN").optional(),
      /**
       * Bucket for the temporary uploads of large messages (`staging/…`), so that the archive
       * bucket holds only what is archived (under Object Lock, every version written there is
       * kept for the whole retention). Default: the archive bucket itself.
       */
      stagingBucket: text("an S3 bucket name", (v) =>
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v),
      ).optional(),
      /**
       * Item bodies smaller than this go into packs of several MiB (one PUT per pack instead of
       * a PUT and a HEAD per item; docs/archive-format.md "Packs"), bytes, 0..16 MiB; 0 stores
       * every body as an object of its own. Default 131072 (128 KiB, Standard-IA's minimum
       * billable object size).
       */
      packThresholdBytes: integer(0, 16 * 1024 * 1024).default(128 * 1024),
      /**
       * `gzip`: an item body (packed or of its own) is stored gzip-compressed when that saves at
       * least `compressionMinSavingPercent` of its bytes (MIME text does; attachments mostly do
       * not); its address stays the SHA-256 of the exact bytes, checked after decompression
       * (docs/archive-format.md "Compression"). `none`: every body as it is. Default `gzip`.
       */
      compression: compression.default("gzip"),
      /** The share of its bytes compression must save for a body to be kept compressed, percent, 1..90. Default 10. */
      compressionMinSavingPercent: integer(1, 90).default(10),
    }),
    z.strictObject({
      kind: z.literal("local"),
      /** Folder of the local archive (created when missing). */
      path: nonEmpty("a folder path"),
      /**
       * As for S3, bytes, 0..16 MiB. Default 0: a local archive keeps every message a plain
       * `.eml` file.
       */
      packThresholdBytes: integer(0, 16 * 1024 * 1024).default(0),
      /** As for S3. Default `none`: a local archive keeps every message a plain `.eml` file. */
      compression: compression.default("none"),
      /** As for S3, percent, 1..90. Default 10. */
      compressionMinSavingPercent: integer(1, 90).default(10),
    }),
  ],
  { error: 'expected kind "s3" or "local"' },
);

const endpoint = text("an http:// or https:// URL", isHttpUrl).optional();

export const awsSchema = z
  .strictObject({
    /** AWS region. Default `us-east-1` (Lambda sets AWS_REGION). */
    region: text("an AWS region such as eu-west-1", (v) => /^[a-z]{2}(-[a-z]+)+-\d+$/.test(v)).default(
      "us-east-1",
    ),
    /** Local emulator endpoints; unset on AWS. */
    endpoints: z.strictObject({ s3: endpoint, sqs: endpoint, dynamodb: endpoint }).prefault({}),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    tenant: tenantSchema,
    credentials: credentialsSchema,
    archive: archiveSchema,
    /** DynamoDB state table name (3..255 of `[A-Za-z0-9_.-]`). Default `mailstream-state`. */
    stateTable: text("a DynamoDB table name", (v) => /^[A-Za-z0-9_.-]{3,255}$/.test(v)).default(
      "mailstream-state",
    ),
    /** SQS URL of the stream queue. Required by the coordinator; default none. */
    streamQueueUrl: text("an SQS queue URL", isHttpUrl).optional(),
    aws: awsSchema,
    /** EventBridge schedule, `rate(…)` or `cron(…)`. Default `rate(1 day)`. */
    schedule: text("an EventBridge rate(…) or cron(…) expression", isScheduleExpression).default(
      "rate(1 day)",
    ),
    streams: z
      .strictObject({
        /** Most streams running at once (Lambda concurrency of the controller). 1..1000, default 16. */
        max: integer(1, 1000).default(16),
        /** Most concurrent Graph requests per mailbox across all streams. 1..4, default 4. */
        perMailboxConcurrency: integer(1, 4).default(4),
        /**
         * Units (mailboxes, or folder groups of a big one) a stream runs at once, each within its
         * own mailbox's requests: a controller waiting on Graph for one mailbox serves others in
         * the same invocation. The planner counts each as a lane of the schedule. 1..8, default 1.
         */
        unitsPerStream: integer(1, 8).default(1),
        /**
         * Graph requests the app may send one mailbox per budget window (Outlook: 10,000 per
         * 10 minutes). The gateway paces every mailbox to it instead of meeting 429s, and the
         * planner counts it in its estimates. 1..1000000, default 10000.
         */
        perMailboxBudget: integer(1, 1_000_000).default(10_000),
        /** Length of that budget window, s. 1..86400, default 600 (10 minutes). */
        budgetWindowSeconds: integer(1, 86_400).default(600),
        /**
         * Added to the budget window on the client's side, ms, so that network delay cannot move
         * requests the client counted in one window into the service's next one. 0..60000,
         * default 1000.
         */
        budgetMarginMs: integer(0, 60_000).default(1_000),
      })
      .prefault({}),
    /** Delta page size (`Prefer: odata.maxpagesize`), items. 10..1000, default 100. */
    pageSize: integer(10, 1000).default(100),
    /**
     * What is kept of mail (MAILSTREAM_MAIL_CONTENT). `fidelity` (default): each message's export
     * stream through the mailbox import/export API (20 items per request, every property, exact
     * restore); `mime`: a byte-exact `.eml` per message (one request each); `both`: the two.
     * Calendar, contacts, tasks, notes and the in-place archive are always export streams.
     */
    mailContent: z
      .enum(["fidelity", "mime", "both"], { error: "expected one of fidelity, mime, both" })
      .default("fidelity"),
    retention: z
      .strictObject({
        /** Days job/stream/unit records live before DynamoDB TTL removes them. 1..3650, default 90. */
        jobRecordDays: integer(1, 3650).default(90),
      })
      .prefault({}),
    mailboxes: z
      .strictObject({
        /** Mailboxes to back up: addresses, `@domain`, `group:<name>`. Empty (default): all. */
        include: mailboxRules,
        /** Mailboxes to leave out; wins over include. Default none. */
        exclude: mailboxRules,
      })
      .prefault({}),
    discovery: z
      .strictObject({
        /**
         * Users per discovery piece (one directory page, `$top` on `/users`): each piece probes
         * them, lists their folders and plans them, so this bounds one piece's time and memory
         * whatever the tenant's size. 1..999, default 999.
         */
        pieceMailboxes: integer(1, 999).default(999),
        /**
         * Requests per `$batch` of discovery: a piece's mailbox probes and mailbox ids
         * (`settings/exchange`) go out this many to a round trip, each counted against its own
         * mailbox's limits; 1 sends every one as a request of its own (no batching). 1..20, default 20.
         */
        batchSize: integer(1, 20).default(20),
        /**
         * A stream that finds no pending unit while discovery is still adding units comes back
         * after this long instead of finishing, s. 1..900, default 5.
         */
        streamWaitSeconds: integer(1, 900).default(5),
      })
      .prefault({}),
    searchIndex: z
      .strictObject({
        /**
         * Whether each finalized job sends an index task that brings the search index up to
         * date (run by a controller, apart from the job: it never delays or fails one). `off`:
         * the index is built only by `mailstream index`. One of on, off; default on.
         */
        afterJob: z.enum(["on", "off"], { error: "expected one of on, off" }).default("on"),
        /**
         * Mailboxes per piece of an index task's build at most: after each piece a checkpoint,
         * and near the deadline the task hands on (a piece also ends at about 250,000 rows).
         * A crash loses one piece's work. 1..100000, default 2000.
         */
        mailboxesPerPiece: integer(1, 100_000).default(2_000),
      })
      .prefault({}),
    controller: z
      .strictObject({
        /**
         * Time kept free before the Lambda deadline to checkpoint and continue, ms. 5000..600000,
         * default 60000. A finalization keeps at most a quarter of the time its invocation had when
         * it began (lib/backup/deadline.ts): a 30 s invocation keeps 7.5 s.
         */
        deadlineMarginMs: integer(5_000, 600_000).default(60_000),
        /** A stream heartbeat older than this is stale (re-sent by the sweep), s. 60..86400, default 900. */
        heartbeatStaleSeconds: integer(60, 86_400).default(900),
        /**
         * A job whose discovery made no progress this long (no piece begun or committed) lost
         * its continuation (a Lambda invocation lasts 15 minutes at most): the sweep re-sends
         * it, and after three re-sends without progress closes the job `failed` (a job still
         * `planning` is finalized with a manifest that covers its folder lists), s. 60..86400,
         * default 1200.
         */
        planningStaleSeconds: integer(60, 86_400).default(1_200),
        /**
         * Longest time one failing operation (a Graph request, a message download, a state-table
         * write) is retried with backoff before it is recorded as failed and the job goes on, s.
         * 0..3600, default 300 (5 minutes). Never past the invocation's deadline: what is still
         * failing then goes on in the stream's next task.
         */
        retryBudgetSeconds: integer(0, 3_600).default(300),
        /**
         * A folder whose delta round found no change keeps its committed sync state (no state
         * write, nothing in the catalog) while that state is younger than this; an older one is
         * replaced by the round's new delta link, so that the sync state the service keeps for the
         * folder stays recent. Hours, 0..720; 0 writes every round's link. Default 24.
         */
        syncStateRefreshHours: integer(0, 720).default(24),
        /**
         * Longest time a unit holds its stored pages back before writing their catalog parts
         * (and the pack holding their small bodies), so that a pack fills over many pages (or up
         * to 64 pages, or a full pack, whichever comes first): one pack write instead of one per
         * page. A crash re-reads at most this much. Seconds, 0..600; 0 writes every page at once.
         * Default 20.
         */
        pageHoldSeconds: integer(0, 600).default(20),
        /**
         * Most first item delta pages of a unit's folders sent together in one `$batch`: those
         * whose requests hold one of the unit's request slots at the same moment (a batch of k
         * holds k of the unit's slots and min(k, 4) of the mailbox's; none waits for others), so
         * that a mailbox of many one-page folders costs fewer HTTP exchanges (CPU on both
         * sides). Pages, 1..4 (Outlook runs 4 inner requests of a batch at a time); 1 sends
         * every page alone. Default 4.
         */
        firstPageBatch: integer(1, 4).default(4),
        /**
         * Large items (above 4 MiB, exported alone and streamed into the archive) one controller
         * streams at once, across all the units it runs (`streams.unitsPerStream`); the others
         * wait for their turn before their request is sent. Each one streaming holds up to ≈ 35 MiB
         * (its multipart part buffers, network, decoding and gzip buffers, and their garbage),
         * so this, not the units per stream, sets what large items add to a controller's memory
         * (docs/deploy.md, "Sizing"). 1..8, default 1.
         */
        largeItemsAtOnce: integer(1, 8).default(1),
      })
      .prefault({}),
    /**
     * Deployment stage (MAILSTREAM_STAGE): the `Stage` dimension of every metric, so that
     * side-by-side deployments never mix their numbers. 1..64 of `[A-Za-z0-9_-]`, default `local`.
     */
    stage: text("a stage name of 1 to 64 letters, digits, '_' or '-'", (v) =>
      /^[A-Za-z0-9_-]{1,64}$/.test(v),
    ).default("local"),
    /** Log level. One of debug, info, warn, error; default info. */
    logLevel: z
      .enum(["debug", "info", "warn", "error"], { error: "expected one of debug, info, warn, error" })
      .default("info"),
  })
  .transform((config) => ({
    ...config,
    tenant: {
      ...config.tenant,
      authority: (config.tenant.authority ?? `${DEFAULT_AUTHORITY_HOST}/${config.tenant.tenantId}`).replace(
        /\/+$/,
        "",
      ),
    },
  }));

/**
 * The configuration of a process that never calls Microsoft Graph (the sweep): everything but the
 * tenant and its credential, so that it needs neither the secret nor the permission to read it.
 */
export const stateConfigSchema = configSchema.in.omit({ tenant: true, credentials: true });

/** What {@link configSchema} accepts (the shape of a config file). */
export type MailstreamConfigInput = z.input<typeof configSchema>;
/** The validated configuration, defaults applied (without the redaction helpers). */
export type MailstreamConfigData = z.output<typeof configSchema>;
export type CredentialsConfig = MailstreamConfigData["credentials"];
/** The validated configuration without tenant and credential ({@link stateConfigSchema}). */
export type StateConfigData = z.output<typeof stateConfigSchema>;
export type ArchiveConfig = MailstreamConfigData["archive"];
