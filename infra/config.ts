/**
 * The deployment configuration: what an operator chooses when deploying mailstream with the CDK.
 * It is validated at synth time so that `cdk synth` / `cdk deploy` stop with a message naming
 * the field, the value found and what was expected, before anything reaches CloudFormation.
 *
 * It comes from CDK context (see {@link readDeploymentConfig}): either the `mailstream` object in
 * cdk.json (an obvious example) or a JSON file named with `-c mailstream:configFile=<path>`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "../lib/errors.js";
import { schedulePeriodSeconds, scheduleProblem } from "./schedule.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const STAGE = /^[a-z][a-z0-9-]{0,19}$/;
const ARCHIVE_PREFIX = /^([A-Za-z0-9_.-]+\/)*$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/-]{1,512}$/;
/** Principals that may assume the restore role: an account (its root) or a role or user in it. */
const PRINCIPAL_ARN =
  /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[A-Za-z0-9+=,.@_/-]+|user\/[A-Za-z0-9+=,.@_/-]+)$/;
const BUCKET_ARN = /^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ACCOUNT = /^\d{12}$/;

/**
 * The configuration format this release reads. Version 2 turned Object Lock on by default; a
 * configuration without `configVersion` was written for mailstream 0.1, where leaving
 * `objectLock` out meant no Object Lock, and S3 cannot add Object Lock to that bucket in place.
 */
export const CONFIG_VERSION = 2;

/** Object Lock when the configuration leaves it out: GOVERNANCE (liftable by the break-glass role), 90 days. */
export const DEFAULT_OBJECT_LOCK = { mode: "governance", days: 90 } as const;

const CONFIG_VERSION_EXPECTED =
  `expected ${CONFIG_VERSION}, the configuration format of this release, which turns Object Lock on by default. ` +
  `A new deployment: add "configVersion": ${CONFIG_VERSION}. ` +
  `A deployment made with mailstream 0.1: add "configVersion": ${CONFIG_VERSION} and, if it had no "objectLock", ` +
  `"objectLock": "off" to keep its archive bucket (S3 cannot add Object Lock to it in place; the safe migration ` +
  `to a locked archive is in docs/deploy.md, "Upgrading from mailstream 0.1")`;
/** The tenant id of the example configuration in cdk.json: deploying it reaches no tenant. */
export const EXAMPLE_TENANT_ID = "00000000-0000-0000-0000-000000000000";

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const int = (min: number, max: number) =>
  z
    .number({ error: `expected an integer from ${min} to ${max}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, { error: `expected an integer from ${min} to ${max}` })
    .max(max, { error: `expected an integer from ${min} to ${max}` });

const str = (pattern: RegExp, expected: string) =>
  z.string({ error: `expected ${expected}` }).regex(pattern, { error: `expected ${expected}` });

const mailboxRule = z
  .string({ error: 'expected an address, "@domain" or "group:<name>"' })
  .regex(/^(@[^\s@]+|group:.+|[^\s@]+@[^\s@]+)$/, {
    error: 'expected an address, "@domain" or "group:<name>"',
  });

const functionSizing = (defaults: { memoryMb: number; timeoutSeconds: number }) =>
  z
    .strictObject({
      memoryMb: int(128, 10_240).default(defaults.memoryMb),
      timeoutSeconds: int(10, 900).default(defaults.timeoutSeconds),
    })
    .default(defaults);

export const deploymentConfigSchema = z
  .strictObject({
    /** The configuration format: {@link CONFIG_VERSION}. Required (see its documentation for why). */
    configVersion: z.literal(CONFIG_VERSION, { error: CONFIG_VERSION_EXPECTED }),
    /**
     * Deployment name: stack `Mailstream-<stage>`; several stages live side by side in one
     * account and region. Lower case letters, digits and `-`, 1–20 characters, starting with a letter.
     */
    stage: str(STAGE, "1-20 lower-case letters, digits or '-', starting with a letter"),
    /** Entra tenant id (GUID) or its primary domain (e.g. `contoso.onmicrosoft.com`). Required. */
    tenantId: z
      .string({ error: "expected a GUID or a domain name" })
      .refine((v) => GUID.test(v) || DOMAIN.test(v), { error: "expected a GUID or a domain name" }),
    /** Application (client) id of the Entra app registration (GUID). Required. */
    clientId: str(GUID, "a GUID (the app registration's Application (client) ID)"),
    /**
     * ARN of the Secrets Manager secret holding `{"clientSecret":"…"}` or
     * `{"certificatePem":"…","privateKeyPem":"…"}`. Required. Only the ARN reaches the functions.
     */
    secretArn: str(
      SECRET_ARN,
      "the complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)",
    ),
    /** ARN of the customer-managed KMS key that encrypts the secret, when it is not the AWS-managed one. */
    secretKmsKeyArn: str(KMS_KEY_ARN, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)").optional(),
    /** Graph endpoint for national clouds. Default: unset (the functions use `https://graph.microsoft.com/v1.0`). */
    graphBaseUrl: z.url({ protocol: /^https$/, error: "expected an https:// URL" }).optional(),
    /** Login authority for national clouds. Default: unset (`https://login.microsoftonline.com/<tenantId>`). */
    authority: z.url({ protocol: /^https$/, error: "expected an https:// URL" }).optional(),
    /** When backups start: EventBridge `rate(…)` or `cron(…)`. Default `rate(4 hours)`. */
    schedule: z
      .string({ error: "expected a schedule expression" })
      .superRefine((v, ctx) => {
        const problem = scheduleProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .default("rate(4 hours)"),
    /**
     * Hours without a successful job before the "no successful job" alarm fires. Default: two
     * schedule periods for a `rate(…)` schedule; required for a `cron(…)` schedule. 1–168.
     */
    noSuccessAlarmHours: int(1, 168).optional(),
    /** How often the sweep re-sends stale streams and finalizes jobs. Default `rate(5 minutes)`. */
    sweepSchedule: z
      .string({ error: "expected a schedule expression" })
      .superRefine((v, ctx) => {
        const problem = scheduleProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .default("rate(5 minutes)"),
    streams: z
      .strictObject({
        /**
         * Most streams (controller invocations) at once: the SQS event source's maximum
         * concurrency. 2–1000 (Lambda's bounds for that setting). Default 16.
         */
        max: int(2, 1000).default(16),
        /** Concurrent Graph requests per mailbox, across streams. 1–4 (Outlook's limit). Default 4. */
        perMailboxConcurrency: int(1, 4).default(4),
        /**
         * Units (mailboxes, or folder groups of a big one) a stream runs at once, each within its
         * own mailbox's requests, so that a controller waiting on Graph for one mailbox serves
         * others in the same invocation; the planner counts each as a lane. 1–8. Default 1.
         */
        unitsPerStream: int(1, 8).default(1),
        /**
         * Reserve `max` concurrent executions for the controller, so other functions of the account
         * can never starve the streams (the account keeps at least 100 unreserved). Default true.
         */
        reserveConcurrency: z.boolean({ error: "expected true or false" }).default(true),
      })
      .default({ max: 16, perMailboxConcurrency: 4, unitsPerStream: 1, reserveConcurrency: true }),
    /** Delta page size (`Prefer: odata.maxpagesize`), items. 10–1000. Default 100. */
    pageSize: int(10, 1000).default(100),
    /**
     * What is kept of mail: `fidelity` (export streams), `mime` (`.eml`), `both`. Calendars,
     * contacts, tasks, notes and archives are always export streams. Default `fidelity`.
     */
    mailContent: z
      .enum(["fidelity", "mime", "both"], { error: "expected one of fidelity, mime, both" })
      .default("fidelity"),
    /**
     * Users per discovery piece (one directory page): a piece probes, lists and plans them in one
     * go, the coordinator's first invocation runs pieces and controllers run the rest. 1–999.
     * Default 999.
     */
    discoveryPieceMailboxes: int(1, 999).default(999),
    /** Mailboxes to back up (address, `@domain`, `group:<name>`). Default: all. */
    include: z.array(mailboxRule).default([]),
    /** Mailboxes to leave out, same forms as `include`. Default: none. */
    exclude: z.array(mailboxRule).default([]),
    /** Key prefix inside the archive bucket, ending in `/`. Default: none (bucket root). */
    archivePrefix: str(ARCHIVE_PREFIX, 'a key prefix ending in "/" (e.g. "mail/"), or ""').default(""),
    retention: z
      .strictObject({
        /** Days job records stay in the state table before their TTL removes them. 1–3650. Default 90. */
        jobRecordDays: int(1, 3650).default(90),
        /**
         * Days a deleted or overwritten archive object version is kept before lifecycle removes it
         * (current objects are never expired: a blob may be referenced by every later snapshot).
         * 1–36500. Default 90.
         */
        noncurrentVersionDays: int(1, 36_500).default(90),
        /** Days after which message blobs move to S3 Standard-IA. 30–36500. Default 30. */
        infrequentAccessAfterDays: int(30, 36_500).default(30),
        /**
         * Days after which message blobs move to Glacier Instant Retrieval; 0 disables. Must be at
         * least 30 days after the Standard-IA transition. 0 or 60–36500. Default 180.
         */
        glacierInstantRetrievalAfterDays: int(0, 36_500).default(180),
        /** Days CloudWatch Logs keeps function logs; one of CloudWatch's allowed values. Default 90. */
        logDays: z
          .number()
          .refine((v) => (LOG_RETENTION_DAYS as readonly number[]).includes(v), {
            error: `expected one of ${LOG_RETENTION_DAYS.join(", ")}`,
          })
          .default(90),
      })
      .default({
        jobRecordDays: 90,
        noncurrentVersionDays: 90,
        infrequentAccessAfterDays: 30,
        glacierInstantRetrievalAfterDays: 180,
        logDays: 90,
      }),
    /**
     * S3 Object Lock default retention of every object version in the archive (write once, read
     * many): `{mode, days}`, or `"off"` for an archive bucket created without Object Lock (0.1's
     * default), which keeps it that way. `governance` can be lifted by the break-glass role,
     * `compliance` by nobody (recommended for production). Default: governance, 90 days.
     * On or off is fixed when the bucket is created; mode and days can change later (new objects).
     */
    objectLock: z
      .union(
        [
          z.literal("off"),
          z.strictObject({
            mode: z.enum(["governance", "compliance"], { error: 'expected "governance" or "compliance"' }),
            /** Retention of each object version, days. 1–36500. */
            days: int(1, 36_500),
          }),
        ],
        { error: 'expected {"mode": "governance"|"compliance", "days": 1-36500} or "off"' },
      )
      .default(DEFAULT_OBJECT_LOCK),
    /**
     * ARN of the IAM role allowed to do what the archive's policies refuse everyone else: delete
     * object versions, bypass governance retention, change the bucket's lifecycle, Object Lock,
     * replication, encryption or policy, disable the key or schedule its deletion. Use it only in
     * an emergency (e.g. a court-ordered erasure). Default: none (only CloudFormation deployments
     * may change the bucket's configuration; nobody may delete versions or touch the key).
     */
    breakGlassRoleArn: str(ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)").optional(),
    /**
     * A copy of every archived object in a bucket of another account (an air-gapped copy): its
     * bucket ARN, account and KMS key. The destination bucket (with Object Lock and versioning) and
     * its key are set up in that account (docs/deploy.md). Delete markers are not replicated.
     * Default: none.
     */
    replication: z
      .strictObject({
        /** ARN of the destination bucket. */
        bucketArn: str(BUCKET_ARN, "an S3 bucket ARN (arn:aws:s3:::<bucket>)"),
        /** The destination bucket's account (12 digits): it becomes the owner of the copies. */
        account: str(ACCOUNT, "a 12-digit AWS account id"),
        /** ARN of the KMS key the copies are encrypted with, in the destination's region. */
        kmsKeyArn: str(KMS_KEY_ARN, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"),
        /** Storage class of the copies. Default `STANDARD_IA` (rarely read). */
        storageClass: z
          .enum(["STANDARD", "STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"], {
            error: 'expected "STANDARD", "STANDARD_IA", "GLACIER_IR" or "DEEP_ARCHIVE"',
          })
          .default("STANDARD_IA"),
      })
      .optional(),
    /**
     * A restore role for the `mailstream` CLI, separate from the functions: it reads the archive
     * and the restore app's credential, nothing else. Default: none (no restore role).
     */
    restore: z
      .strictObject({
        /** Application (client) id of the separate restore app (it has Mail.ReadWrite; the backup app never does). */
        clientId: str(GUID, "a GUID (the restore app's Application (client) ID)"),
        /** ARN of the Secrets Manager secret with the restore app's credential. */
        secretArn: str(
          SECRET_ARN,
          "the complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)",
        ),
        /** ARN of the customer-managed KMS key of that secret, when it is not the AWS-managed one. */
        secretKmsKeyArn: str(
          KMS_KEY_ARN,
          "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ).optional(),
        /**
         * Who may assume the role: account roots, roles or users. Default: this account's root, i.e.
         * any principal of the account that an IAM policy allows `sts:AssumeRole` on it.
         */
        trustedPrincipalArns: z
          .array(str(PRINCIPAL_ARN, "an IAM principal ARN (root, role or user)"))
          .default([]),
      })
      .optional(),
    /** AWS X-Ray active tracing of the three functions. Default false. */
    tracing: z.boolean({ error: "expected true or false" }).default(false),
    /** E-mail address subscribed to the alarm topic (the recipient must confirm). Default: none. */
    alarmEmail: str(EMAIL, "an e-mail address").optional(),
    /** Controller sizing. Default 512 MB (chosen from measurement), 900 s (see docs/deploy.md, "Sizing"). */
    controller: functionSizing({ memoryMb: 512, timeoutSeconds: 900 }),
    /** Coordinator sizing. Default 512 MB, 900 s. */
    coordinator: functionSizing({ memoryMb: 512, timeoutSeconds: 900 }),
    /** Sweep sizing. Default 256 MB, 120 s. */
    sweep: functionSizing({ memoryMb: 256, timeoutSeconds: 120 }),
    /** Seconds without a heartbeat after which the sweep re-sends a stream. 60–3600. Default 300. */
    heartbeatStaleSeconds: int(60, 3600).default(300),
    /**
     * Milliseconds before the Lambda deadline at which a controller checkpoints and continues.
     * 5000–300000. Default 60000. A finalization keeps at most a quarter of the time its
     * invocation had when it began (lib/backup/deadline.ts).
     */
    deadlineMarginMs: int(5000, 300_000).default(60_000),
    /** Function log level. Default `info`. */
    logLevel: z
      .enum(["debug", "info", "warn", "error"], { error: 'expected "debug", "info", "warn" or "error"' })
      .default("info"),
  })
  .superRefine((c, ctx) => {
    if (c.noSuccessAlarmHours === undefined && schedulePeriodSeconds(c.schedule) === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["noSuccessAlarmHours"],
        message: "expected an integer from 1 to 168 when the schedule is a cron(…) expression",
      });
    }
    const glacier = c.retention.glacierInstantRetrievalAfterDays;
    if (glacier !== 0 && glacier < c.retention.infrequentAccessAfterDays + 30) {
      ctx.addIssue({
        code: "custom",
        path: ["retention", "glacierInstantRetrievalAfterDays"],
        message: `expected 0 or at least infrequentAccessAfterDays + 30 (${c.retention.infrequentAccessAfterDays + 30}), as S3 requires`,
      });
    }
    if (c.deadlineMarginMs >= c.controller.timeoutSeconds * 1000) {
      ctx.addIssue({
        code: "custom",
        path: ["deadlineMarginMs"],
        message: `expected less than controller.timeoutSeconds × 1000 (${c.controller.timeoutSeconds * 1000})`,
      });
    }
  });

/** The validated deployment configuration, defaults applied. */
export type DeploymentConfig = z.output<typeof deploymentConfigSchema>;
/** What an operator writes (defaults optional). */
export type DeploymentConfigInput = z.input<typeof deploymentConfigSchema>;

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/**
 * Validates a raw deployment configuration. Throws one {@link ConfigError} listing every bad
 * field as `<path>: <expectation>, found <value>`; its `field` is the first bad field.
 */
export function parseDeploymentConfig(raw: unknown): DeploymentConfig {
  const result = deploymentConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)";
    const found =
      issue.code === "unrecognized_keys"
        ? `unknown field(s) ${issue.keys.join(", ")}`
        : `found ${describe(valueAt(raw, issue.path))}`;
    return { path, text: `${path}: ${issue.message.replace(/^Invalid input: /, "")}, ${found}` };
  });
  const first = problems[0]!;
  const message = problems.length === 1 ? first.text : `\n  - ${problems.map((p) => p.text).join("\n  - ")}`;
  throw new ConfigError(`deployment.${first.path}`, message);
}

/** Where {@link readDeploymentConfig} looks in CDK context. */
export const CONTEXT_KEYS = {
  /** An inline configuration object (cdk.json holds the example under this key). */
  inline: "mailstream",
  /** A path to a JSON file with the configuration; takes precedence over the inline object. */
  file: "mailstream:configFile",
} as const;

/** Minimal view of a construct node's context lookup, so this module needs no CDK import. */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/**
 * Reads the deployment configuration from CDK context: the JSON file named by
 * `-c mailstream:configFile=<path>` if given, else the `mailstream` object, and validates it.
 */
export function readDeploymentConfig(context: ContextSource, cwd = process.cwd()): DeploymentConfig {
  const file = context.tryGetContext(CONTEXT_KEYS.file);
  if (file !== undefined) {
    if (typeof file !== "string" || file === "") {
      throw new ConfigError(CONTEXT_KEYS.file, `expected a path to a JSON file, found ${describe(file)}`);
    }
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), "utf8");
    } catch (e) {
      throw new ConfigError(
        CONTEXT_KEYS.file,
        `expected a readable JSON file, found none at "${file}" (${String(e)})`,
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(
        CONTEXT_KEYS.file,
        `expected JSON in "${file}", found text that does not parse (${String(e)})`,
      );
    }
    return parseDeploymentConfig(raw);
  }
  let inline = context.tryGetContext(CONTEXT_KEYS.inline);
  // `-c mailstream='{"…"}'` arrives as a string.
  if (typeof inline === "string") {
    try {
      inline = JSON.parse(inline);
    } catch {
      throw new ConfigError(CONTEXT_KEYS.inline, `expected a JSON object, found ${describe(inline)}`);
    }
  }
  if (inline === undefined) {
    throw new ConfigError(
      CONTEXT_KEYS.inline,
      `expected a deployment configuration in context "${CONTEXT_KEYS.inline}" (cdk.json) or a file given with -c ${CONTEXT_KEYS.file}=<path>, found neither`,
    );
  }
  return parseDeploymentConfig(inline);
}

/** Seconds without a successful job after which the "no successful job" alarm fires. */
export function noSuccessWindowSeconds(config: DeploymentConfig): number {
  if (config.noSuccessAlarmHours !== undefined) return config.noSuccessAlarmHours * 3600;
  return 2 * schedulePeriodSeconds(config.schedule)!;
}
