import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { ARCHIVE_LAYOUT } from "./archive-layout.js";
import { type DeploymentConfig, noSuccessWindowSeconds } from "./config.js";
import { Archive } from "./constructs/archive.js";
import { CatalogTable } from "./constructs/catalog-table.js";
import { MailstreamFunction } from "./constructs/mailstream-function.js";
import { Operations } from "./constructs/operations.js";
import { StateTable } from "./constructs/state-table.js";
import { StreamQueue } from "./constructs/stream-queue.js";
import { STAGE_ENV } from "./metrics.js";

export interface MailstreamStackProps extends StackProps {
  config: DeploymentConfig;
}

/** The stack name of a stage: one stack per deployment, several side by side. */
export function stackNameFor(stage: string): string {
  return `Mailstream-${stage}`;
}

/**
 * DynamoDB actions the state store (lib/state) uses: Get, Query, Put, Update and BatchWrite (of
 * puts) commands, and TransactWrite, which IAM authorizes per item as the Put/Update it holds.
 * Nothing scans, batch-reads or deletes (old job records expire by TTL).
 */
export const STATE_ACTIONS = [
  "dynamodb:GetItem",
  "dynamodb:Query",
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:BatchWriteItem",
];

/**
 * mailstream in one stack: the archive, the state table, the stream queue, the three functions,
 * their schedules and the operations (alarms, dashboard). See docs/deploy.md.
 */
export class MailstreamStack extends Stack {
  readonly config: DeploymentConfig;
  readonly key: kms.Key;
  readonly archive: Archive;
  readonly state: StateTable;
  readonly streamQueue: StreamQueue;
  readonly catalog: CatalogTable;
  readonly coordinator: MailstreamFunction;
  readonly controller: MailstreamFunction;
  readonly sweep: MailstreamFunction;
  readonly operations: Operations;
  readonly scheduleRule: events.Rule;
  readonly sweepRule: events.Rule;

  constructor(scope: Construct, id: string, props: MailstreamStackProps) {
    super(scope, id, {
      description: `mailstream: Exchange Online backup to S3 (${props.config.stage})`,
      ...props,
    });
    const config = props.config;
    this.config = config;
    const prefix = config.archivePrefix;

    this.key = new kms.Key(this, "Key", {
      description: `mailstream ${config.stage}: archive, state, queue and alarm encryption`,
      enableKeyRotation: true,
      // The archive outlives the stack, and so must the key that decrypts it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowCloudWatchAlarmsToUseTheTopicKey",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": this.account } },
      }),
    );

    // Function logs hold mailbox addresses and subjects of failed items: encrypt them too.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowCloudWatchLogsToUseTheKey",
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncryptFrom",
          "kms:ReEncryptTo",
          "kms:GenerateDataKey",
          "kms:DescribeKey",
        ],
        resources: ["*"],
        conditions: {
          ArnLike: {
            "kms:EncryptionContext:aws:logs:arn": `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*`,
          },
        },
      }),
    );

    this.archive = new Archive(this, "Archive", {
      key: this.key,
      prefix,
      retention: config.retention,
      objectLock: config.objectLock,
    });
    this.state = new StateTable(this, "State", { key: this.key });
    const controllerTimeout = Duration.seconds(config.controller.timeoutSeconds);
    this.streamQueue = new StreamQueue(this, "StreamQueue", { key: this.key, controllerTimeout });
    this.catalog = new CatalogTable(this, "Catalog", {
      stage: config.stage,
      archive: this.archive.bucket,
      prefix,
      key: this.key,
      accessLogBucket: this.archive.accessLogBucket,
    });

    const logRetention = config.retention.logDays as logs.RetentionDays;
    const environment = functionEnvironment(config, {
      bucket: this.archive.bucket.bucketName,
      keyArn: this.key.keyArn,
      table: this.state.table.tableName,
      queueUrl: this.streamQueue.queue.queueUrl,
    });
    this.coordinator = new MailstreamFunction(this, "Coordinator", {
      entry: "functions/coordinator.ts",
      description: `mailstream ${config.stage}: discovers mailboxes, plans a job, starts its streams`,
      memoryMb: config.coordinator.memoryMb,
      timeout: Duration.seconds(config.coordinator.timeoutSeconds),
      environment,
      logRetention,
      logKey: this.key,
    });
    this.controller = new MailstreamFunction(this, "Controller", {
      entry: "functions/controller.ts",
      description: `mailstream ${config.stage}: runs one stream of a job (backs up units)`,
      memoryMb: config.controller.memoryMb,
      timeout: controllerTimeout,
      environment,
      logRetention,
      logKey: this.key,
    });
    this.sweep = new MailstreamFunction(this, "Sweep", {
      entry: "functions/sweep.ts",
      description: `mailstream ${config.stage}: re-sends stale streams, finalizes jobs`,
      memoryMb: config.sweep.memoryMb,
      timeout: Duration.seconds(config.sweep.timeoutSeconds),
      environment,
      logRetention,
      logKey: this.key,
    });

    this.grantPermissions(config);

    this.controller.fn.addEventSource(
      new SqsEventSource(this.streamQueue.queue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: config.streams.max,
      }),
    );

    this.scheduleRule = new events.Rule(this, "BackupSchedule", {
      description: `mailstream ${config.stage}: start a backup job`,
      schedule: events.Schedule.expression(config.schedule),
      targets: [
        new targets.LambdaFunction(this.coordinator.fn, { retryAttempts: 2, maxEventAge: Duration.hours(1) }),
      ],
    });
    this.sweepRule = new events.Rule(this, "SweepSchedule", {
      description: `mailstream ${config.stage}: re-send stale streams, finalize jobs`,
      schedule: events.Schedule.expression(config.sweepSchedule),
      // A missed sweep is replaced by the next one: no retries needed.
      targets: [new targets.LambdaFunction(this.sweep.fn, { retryAttempts: 0 })],
    });

    this.operations = new Operations(this, "Operations", {
      stage: config.stage,
      key: this.key,
      alarmEmail: config.alarmEmail,
      noSuccessWindowSeconds: noSuccessWindowSeconds(config),
      queue: this.streamQueue.queue,
      deadLetterQueue: this.streamQueue.deadLetterQueue,
      functions: { coordinator: this.coordinator.fn, controller: this.controller.fn, sweep: this.sweep.fn },
    });

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output("ArchiveBucketName", this.archive.bucket.bucketName, "S3 bucket holding the archive");
    output("StateTableName", this.state.table.tableName, "DynamoDB state table");
    output("StreamQueueUrl", this.streamQueue.queue.queueUrl, "SQS queue of stream tasks");
    output(
      "DeadLetterQueueUrl",
      this.streamQueue.deadLetterQueue.queueUrl,
      "Stream tasks that failed 3 times",
    );
    output("CoordinatorFunctionName", this.coordinator.fn.functionName, "Invoke to start a job on demand");
    output("AlarmTopicArn", this.operations.topic.topicArn, "SNS topic of the alarms");
    output("KeyArn", this.key.keyArn, "KMS key of the archive, table, queues and topic");
    output("AthenaWorkGroup", this.catalog.workGroup.name, "Athena workgroup for catalog queries");
    output("GlueDatabase", this.catalog.databaseName, "Glue database with the catalog table");
    output(
      "DashboardUrl",
      `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=mailstream-${config.stage}`,
      "CloudWatch dashboard",
    );
  }

  /** Each function gets only the actions it uses, on only the resources it uses them on. */
  private grantPermissions(config: DeploymentConfig): void {
    const prefix = config.archivePrefix;
    const bucketArn = this.archive.bucket.bucketArn;
    const table = this.state.table.tableArn;
    const keyUse = new iam.PolicyStatement({
      sid: "UseDeploymentKey",
      actions: ["kms:Decrypt", "kms:GenerateDataKey"],
      resources: [this.key.keyArn],
    });
    const readSecret = [
      new iam.PolicyStatement({
        sid: "ReadEntraCredentials",
        actions: ["secretsmanager:GetSecretValue"],
        resources: [config.secretArn],
      }),
      ...(config.secretKmsKeyArn
        ? [
            new iam.PolicyStatement({
              sid: "DecryptEntraCredentials",
              actions: ["kms:Decrypt"],
              resources: [config.secretKmsKeyArn],
              // Only through Secrets Manager, in the secret's own region.
              conditions: {
                StringEquals: {
                  "kms:ViaService": `secretsmanager.${config.secretArn.split(":")[3]}.amazonaws.com`,
                },
              },
            }),
          ]
        : []),
    ];
    const sendTasks = new iam.PolicyStatement({
      sid: "SendStreamTasks",
      actions: ["sqs:SendMessage"],
      resources: [this.streamQueue.queue.queueArn],
    });
    const listArchive = new iam.PolicyStatement({
      sid: "ListArchive",
      actions: ["s3:ListBucket"],
      resources: [bucketArn],
      ...(prefix ? { conditions: { StringLike: { "s3:prefix": [`${prefix}*`] } } } : {}),
    });

    // Finalizing a job writes its report and manifest (puts only; the numbers come from state).
    const writeJobRecords = new iam.PolicyStatement({
      sid: "WriteJobRecords",
      actions: ["s3:PutObject"],
      resources: [
        `${bucketArn}/${prefix}${ARCHIVE_LAYOUT.jobs}*`,
        `${bucketArn}/${prefix}${ARCHIVE_LAYOUT.reports}*`,
      ],
    });

    // Coordinator: Graph credentials, state, sending the first task of each stream, the folder
    // tree of each mailbox (catalog/…/folders.jsonl), and finalizing: a job with nothing to do
    // is finalized at once, and the sweep it runs on every tick finalizes stuck jobs.
    for (const s of [
      keyUse,
      ...readSecret,
      sendTasks,
      new iam.PolicyStatement({ sid: "State", actions: STATE_ACTIONS, resources: [table] }),
      new iam.PolicyStatement({
        sid: "WriteFolderTrees",
        actions: ["s3:PutObject"],
        resources: [`${bucketArn}/${prefix}${ARCHIVE_LAYOUT.catalog}*`],
      }),
      writeJobRecords,
    ]) {
      this.coordinator.role.addToPolicy(s);
    }

    // Controller: Graph credentials, state, continuation tasks, and the archive (write blobs and
    // catalog parts; read to check existence, since HeadObject needs GetObject and ListBucket
    // to answer 404; finalizing writes the manifest and report; delete only staging keys).
    for (const s of [
      keyUse,
      ...readSecret,
      sendTasks,
      new iam.PolicyStatement({ sid: "State", actions: STATE_ACTIONS, resources: [table] }),
      listArchive,
      new iam.PolicyStatement({
        sid: "ReadWriteArchive",
        actions: ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        resources: [`${bucketArn}/${prefix}*`],
      }),
      new iam.PolicyStatement({
        sid: "DeleteStagingUploads",
        actions: ["s3:DeleteObject"],
        resources: [`${bucketArn}/${prefix}${ARCHIVE_LAYOUT.staging}*`],
      }),
    ]) {
      this.controller.role.addToPolicy(s);
    }

    // Sweep: state, re-sending tasks, and finalizing jobs (write manifests and reports; it
    // reads nothing from the archive). No Graph credentials.
    for (const s of [
      keyUse,
      sendTasks,
      new iam.PolicyStatement({ sid: "State", actions: STATE_ACTIONS, resources: [table] }),
      writeJobRecords,
    ]) {
      this.sweep.role.addToPolicy(s);
    }
  }
}

/** The environment of every function (names fixed in lib/config). Never a secret: only its ARN. */
export function functionEnvironment(
  config: DeploymentConfig,
  resources: { bucket: string; keyArn: string; table: string; queueUrl: string },
): Record<string, string> {
  const env: Record<string, string> = {
    [STAGE_ENV]: config.stage,
    MAILSTREAM_TENANT_ID: config.tenantId,
    MAILSTREAM_CLIENT_ID: config.clientId,
    MAILSTREAM_CREDENTIALS_SOURCE: "secretsManager",
    MAILSTREAM_SECRET_ARN: config.secretArn,
    MAILSTREAM_ARCHIVE: "s3",
    MAILSTREAM_ARCHIVE_BUCKET: resources.bucket,
    MAILSTREAM_ARCHIVE_KMS_KEY_ID: resources.keyArn,
    MAILSTREAM_STATE_TABLE: resources.table,
    MAILSTREAM_STREAM_QUEUE_URL: resources.queueUrl,
    MAILSTREAM_SCHEDULE: config.schedule,
    MAILSTREAM_STREAMS_MAX: String(config.streams.max),
    MAILSTREAM_PER_MAILBOX_CONCURRENCY: String(config.streams.perMailboxConcurrency),
    MAILSTREAM_PAGE_SIZE: String(config.pageSize),
    MAILSTREAM_JOB_RECORD_TTL_DAYS: String(config.retention.jobRecordDays),
    MAILSTREAM_HEARTBEAT_STALE_SECONDS: String(config.heartbeatStaleSeconds),
    MAILSTREAM_DEADLINE_MARGIN_MS: String(config.deadlineMarginMs),
    MAILSTREAM_LOG_LEVEL: config.logLevel,
  };
  if (config.archivePrefix) env.MAILSTREAM_ARCHIVE_PREFIX = config.archivePrefix;
  if (config.graphBaseUrl) env.MAILSTREAM_GRAPH_BASE_URL = config.graphBaseUrl;
  if (config.authority) env.MAILSTREAM_AUTHORITY = config.authority;
  if (config.include.length > 0) env.MAILSTREAM_INCLUDE = config.include.join(",");
  if (config.exclude.length > 0) env.MAILSTREAM_EXCLUDE = config.exclude.join(",");
  return env;
}
