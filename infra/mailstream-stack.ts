import { CfnOutput, DefaultStackSynthesizer, Duration, Fn, Names, Stack, type StackProps } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { type DeploymentConfig, noSuccessWindowSeconds } from "./config.js";
import { Archive } from "./constructs/archive.js";
import { CatalogTable } from "./constructs/catalog-table.js";
import { createDeploymentKey } from "./constructs/deployment-key.js";
import { MailstreamFunction } from "./constructs/mailstream-function.js";
import { Operations } from "./constructs/operations.js";
import { RestoreRole } from "./constructs/restore-role.js";
import { StateTable } from "./constructs/state-table.js";
import { StreamQueue } from "./constructs/stream-queue.js";
import { TamperAlarms } from "./constructs/tamper-alarms.js";
import { functionEnvironments } from "./function-environment.js";
import {
  controllerStatements,
  coordinatorStatements,
  type PermissionResources,
  replicationStatements,
  restoreStatements,
  sweepStatements,
} from "./permissions.js";

export { STATE_ACTIONS } from "./permissions.js";

export interface MailstreamStackProps extends StackProps {
  config: DeploymentConfig;
}

/** The stack name of a stage: one stack per deployment, several side by side. */
export function stackNameFor(stage: string): string {
  return `Mailstream-${stage}`;
}

/**
 * CloudFormation's execution role of the default CDK bootstrap: deployments may still change the
 * archive's configuration and the key policy, which the policies refuse to everyone else but the
 * break-glass role.
 */
export function deploymentRoleArn(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  // The synthesizer gives a template for Fn::Sub (`arn:${AWS::Partition}:iam::${AWS::AccountId}:…`).
  return Fn.sub(
    synthesizer instanceof DefaultStackSynthesizer
      ? synthesizer.cloudFormationExecutionRoleArn
      : new DefaultStackSynthesizer().cloudFormationExecutionRoleArn,
  );
}

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
  /** Failed asynchronous invocations of the coordinator and the sweep, and undeliverable events. */
  readonly failedInvocations: sqs.Queue;
  readonly catalog: CatalogTable;
  readonly coordinator: MailstreamFunction;
  readonly controller: MailstreamFunction;
  readonly sweep: MailstreamFunction;
  readonly operations: Operations;
  readonly tamperAlarms: TamperAlarms;
  readonly restoreRole: RestoreRole | undefined;
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
    const deployer = deploymentRoleArn(this);
    const breakGlass = config.breakGlassRoleArn;

    this.key = createDeploymentKey(this, "Key", {
      stage: config.stage,
      breakGlassRoleArn: breakGlass,
      deploymentRoleArn: deployer,
    });
    this.archive = new Archive(this, "Archive", {
      stage: config.stage,
      key: this.key,
      prefix,
      retention: config.retention,
      objectLock: config.objectLock,
      replication: config.replication,
      configurers: [deployer, ...(breakGlass ? [breakGlass] : [])],
      breakGlassRoleArn: breakGlass,
    });
    this.state = new StateTable(this, "State", { key: this.key });
    const controllerTimeout = Duration.seconds(config.controller.timeoutSeconds);
    this.streamQueue = new StreamQueue(this, "StreamQueue", { key: this.key, controllerTimeout });
    this.failedInvocations = new sqs.Queue(this, "FailedInvocations", {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      // The maximum: time for an operator to look at a failure before it is gone.
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
    });
    this.catalog = new CatalogTable(this, "Catalog", {
      stage: config.stage,
      archive: this.archive.bucket,
      prefix,
      key: this.key,
      accessLogBucket: this.archive.accessLogBucket,
    });

    const logRetention = config.retention.logDays as logs.RetentionDays;
    const environments = functionEnvironments(config, {
      bucket: this.archive.bucket.bucketName,
      stagingBucket: this.archive.stagingBucket.bucketName,
      keyArn: this.key.keyArn,
      table: this.state.table.tableName,
      queueUrl: this.streamQueue.queue.queueUrl,
    });
    const common = { logRetention, logKey: this.key, tracing: config.tracing };
    this.coordinator = new MailstreamFunction(this, "Coordinator", {
      ...common,
      entry: "functions/coordinator.ts",
      description: `mailstream ${config.stage}: discovers mailboxes, plans a job, starts its streams`,
      memoryMb: config.coordinator.memoryMb,
      timeout: Duration.seconds(config.coordinator.timeoutSeconds),
      environment: environments.coordinator,
      // A retried tick lands on the same job (the trigger is its key).
      asyncFailures: { queue: this.failedInvocations, retryAttempts: 2, maxEventAge: Duration.hours(1) },
    });
    this.controller = new MailstreamFunction(this, "Controller", {
      ...common,
      entry: "functions/controller.ts",
      description: `mailstream ${config.stage}: runs one stream of a job (backs up units)`,
      memoryMb: config.controller.memoryMb,
      timeout: controllerTimeout,
      environment: environments.controller,
      // As many as the event source may run: no other function of the account can starve them.
      ...(config.streams.reserveConcurrency ? { reservedConcurrency: config.streams.max } : {}),
    });
    this.sweep = new MailstreamFunction(this, "Sweep", {
      ...common,
      entry: "functions/sweep.ts",
      description: `mailstream ${config.stage}: re-sends stale streams, finalizes jobs`,
      memoryMb: config.sweep.memoryMb,
      timeout: Duration.seconds(config.sweep.timeoutSeconds),
      environment: environments.sweep,
      // A failed sweep is replaced by the next one: no retries.
      asyncFailures: { queue: this.failedInvocations, retryAttempts: 0, maxEventAge: Duration.minutes(10) },
    });

    const resources: PermissionResources = {
      config,
      key: this.key,
      archive: this.archive.bucket,
      staging: this.archive.stagingBucket,
      table: this.state.table,
      queue: this.streamQueue.queue,
      failures: this.failedInvocations,
    };
    const grant = (role: iam.Role, statements: iam.PolicyStatement[]) => {
      for (const statement of statements) role.addToPolicy(statement);
    };
    grant(this.coordinator.role, coordinatorStatements(resources));
    grant(this.controller.role, controllerStatements(resources));
    grant(this.sweep.role, sweepStatements(resources));
    if (config.replication && this.archive.replicationRole) {
      grant(this.archive.replicationRole, replicationStatements(resources, config.replication));
    }
    this.restoreRole = config.restore
      ? new RestoreRole(this, "Restore", {
          stage: config.stage,
          restore: config.restore,
          statements: restoreStatements(resources, config.restore),
        })
      : undefined;

    // The mapping SqsEventSource would create (same id, so the same logical id), without the
    // grant it adds: every KMS action on the queue's key, without kms:ViaService. The controller's
    // role has exactly what the mapping uses (permissions.ts).
    this.controller.fn.addEventSourceMapping(
      `SqsEventSource:${Names.nodeUniqueId(this.streamQueue.queue.node)}`,
      {
        eventSourceArn: this.streamQueue.queue.queueArn,
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: config.streams.max,
      },
    );

    this.scheduleRule = new events.Rule(this, "BackupSchedule", {
      description: `mailstream ${config.stage}: start a backup job`,
      schedule: events.Schedule.expression(config.schedule),
      targets: [
        new targets.LambdaFunction(this.coordinator.fn, {
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
          deadLetterQueue: this.failedInvocations,
        }),
      ],
    });
    this.sweepRule = new events.Rule(this, "SweepSchedule", {
      description: `mailstream ${config.stage}: re-send stale streams, finalize jobs`,
      schedule: events.Schedule.expression(config.sweepSchedule),
      // A missed sweep is replaced by the next one: no retries needed.
      targets: [
        new targets.LambdaFunction(this.sweep.fn, {
          retryAttempts: 0,
          deadLetterQueue: this.failedInvocations,
        }),
      ],
    });

    this.operations = new Operations(this, "Operations", {
      stage: config.stage,
      key: this.key,
      alarmEmail: config.alarmEmail,
      noSuccessWindowSeconds: noSuccessWindowSeconds(config),
      queue: this.streamQueue.queue,
      deadLetterQueue: this.streamQueue.deadLetterQueue,
      failedInvocations: this.failedInvocations,
      functions: { coordinator: this.coordinator.fn, controller: this.controller.fn, sweep: this.sweep.fn },
    });
    this.tamperAlarms = new TamperAlarms(this, "TamperAlarms", {
      stage: config.stage,
      key: this.key,
      archive: this.archive.bucket,
      topic: this.operations.topic,
      deadLetterQueue: this.failedInvocations,
    });

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output("ArchiveBucketName", this.archive.bucket.bucketName, "S3 bucket holding the archive");
    output(
      "StagingBucketName",
      this.archive.stagingBucket.bucketName,
      "S3 bucket of large uploads in flight",
    );
    output("StateTableName", this.state.table.tableName, "DynamoDB state table");
    output("StreamQueueUrl", this.streamQueue.queue.queueUrl, "SQS queue of stream tasks");
    output(
      "DeadLetterQueueUrl",
      this.streamQueue.deadLetterQueue.queueUrl,
      "Stream tasks that failed 5 times",
    );
    output(
      "FailedInvocationsQueueUrl",
      this.failedInvocations.queueUrl,
      "Failed coordinator and sweep invocations, undeliverable schedule and alarm events",
    );
    output("CoordinatorFunctionName", this.coordinator.fn.functionName, "Invoke to start a job on demand");
    output("AlarmTopicArn", this.operations.topic.topicArn, "SNS topic of the alarms");
    output("KeyArn", this.key.keyArn, "KMS key of the archive, table, queues and topic");
    if (this.restoreRole)
      output("RestoreRoleArn", this.restoreRole.role.roleArn, "Assume to restore or export");
    output("AthenaWorkGroup", this.catalog.workGroup.name, "Athena workgroup for catalog queries");
    output("GlueDatabase", this.catalog.databaseName, "Glue database with the catalog table");
    output(
      "DashboardUrl",
      `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=mailstream-${config.stage}`,
      "CloudWatch dashboard",
    );
  }
}
