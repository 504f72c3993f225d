/**
 * The cdk-nag findings (AwsSolutions and Serverless packs) this stack accepts, each on the
 * narrowest construct and with the reason it is acceptable. Anything not listed here fails
 * `cdk synth`.
 */
import { type CfnResource, Stack, Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { ARCHIVE_LAYOUT } from "./archive-layout.js";
import type { MailstreamStack } from "./mailstream-stack.js";

/** What cdk-nag prints for a resource ARN reference: `<LogicalId.Arn>`. */
function arnRef(resource: IConstruct): string {
  const stack = Stack.of(resource);
  const logicalId = stack.resolve(stack.getLogicalId(resource.node.defaultChild as CfnResource)) as string;
  return `<${logicalId}.Arn>`;
}

/** Why each key prefix a function writes or reads needs a wildcard. */
const PREFIX_REASONS: Record<string, string> = {
  [ARCHIVE_LAYOUT.blobs]:
    "Message blobs are content-addressed (blobs/sha256/<aa>/<bb>/<hash>.eml): the key is the hash of a message " +
    "read at run time. PutObject (which the bucket policy refuses without If-None-Match, so a blob is never " +
    "overwritten) and GetObject (the HEAD that finds a blob already stored) only.",
  [ARCHIVE_LAYOUT.catalog]:
    "Catalog parts and folder trees are keyed by mailbox, job and folder ids known only at run time " +
    "(catalog/mailbox=<id>/job=<id>/…); PutObject, and GetObject for the controller's search index after each job.",
  [ARCHIVE_LAYOUT.jobs]:
    "Job manifests are keyed by a run-time job id (jobs/<jobId>/manifest.json); PutObject, and GetObject for " +
    "the controller's search index after each job.",
  [ARCHIVE_LAYOUT.snapshots]:
    "Compacted mailbox views are keyed by mailbox and job ids (snapshots/mailbox=<id>/job=<id>.jsonl), where the " +
    "controller's search index starts a mailbox's replay; GetObject only.",
  [ARCHIVE_LAYOUT.searchIndex]:
    "The search index is keyed by job and build (index/search/job=<id>.json, index/search/segments/job=<id>/…); " +
    "the controller keeps it current after each job: GetObject and PutObject.",
  [ARCHIVE_LAYOUT.reports]:
    "Job reports are keyed by a run-time job id (reports/<jobId>/report.json); PutObject, and GetObject for " +
    "the controller's search index after each job (the reports list the archive's mailboxes).",
};

export function acknowledgeNagFindings(stack: MailstreamStack): void {
  const prefix = stack.config.archivePrefix;
  const archive = arnRef(stack.archive.bucket);
  const iam5 = (resource: string) => `AwsSolutions-IAM5[Resource::${resource}]`;
  const archivePrefixes = (who: string, ...subs: string[]) =>
    subs.map((sub) => ({
      id: iam5(`${archive}/${prefix}${sub}*`),
      reason: `${who}: ${PREFIX_REASONS[sub]}`,
    }));

  const functions = [stack.coordinator, stack.controller, stack.sweep];
  for (const fn of functions) {
    Validations.of(fn.fn).acknowledge(
      {
        id: "AwsSolutions-L1",
        reason:
          "Pinned to Node.js 22 on purpose: the bundles are built and tested for target node22 (the project's " +
          "runtime); moving to a newer runtime is a deliberate, tested upgrade.",
      },
      {
        id: "Serverless-LambdaLatestVersion",
        reason:
          "Same rule from the Serverless pack: Node.js 22 is the runtime the bundles are built and tested for; " +
          "a newer one is adopted as a tested upgrade, not by the linter.",
      },
    );
    if (stack.config.tracing) {
      Validations.of(fn.role).acknowledge({
        id: iam5("*"),
        reason:
          'X-Ray\'s PutTraceSegments and PutTelemetryRecords take no resource (AWS requires "*"); granted by ' +
          "Lambda's active tracing, only when the configuration turns tracing on.",
      });
    }
  }
  if (!stack.config.tracing) {
    for (const fn of functions) {
      Validations.of(fn.fn).acknowledge({
        id: "Serverless-LambdaTracing",
        reason:
          "X-Ray tracing is an option (tracing: true): off by default, since every job's logs, metrics and report " +
          "already say where time went, and traces add cost per invocation.",
      });
    }
  }

  Validations.of(stack.coordinator.role).acknowledge(
    ...archivePrefixes("Coordinator", ARCHIVE_LAYOUT.catalog, ARCHIVE_LAYOUT.jobs, ARCHIVE_LAYOUT.reports),
  );
  Validations.of(stack.sweep.role).acknowledge(
    ...archivePrefixes("Sweep (finalizing stuck jobs)", ARCHIVE_LAYOUT.jobs, ARCHIVE_LAYOUT.reports),
  );
  Validations.of(stack.controller.role).acknowledge(
    ...archivePrefixes(
      "Controller",
      ARCHIVE_LAYOUT.blobs,
      ARCHIVE_LAYOUT.catalog,
      ARCHIVE_LAYOUT.jobs,
      ARCHIVE_LAYOUT.reports,
      ARCHIVE_LAYOUT.snapshots,
      ARCHIVE_LAYOUT.searchIndex,
    ),
    {
      id: iam5(`${arnRef(stack.archive.stagingBucket)}/${prefix}${ARCHIVE_LAYOUT.staging}*`),
      reason:
        "Controller: staging keys are random (staging/<uuid>.eml) in the staging bucket, which holds nothing but " +
        "uploads in flight; put, read back for the copy, abort and delete there only.",
    },
  );

  if (stack.restoreRole) {
    Validations.of(stack.restoreRole.role).acknowledge({
      id: iam5(`${archive}/${prefix}*`),
      reason:
        "Restore role: a restore or export reads blobs, catalog parts, manifests and snapshots, all keyed by " +
        "run-time ids, anywhere under the archive prefix; GetObject only (the role writes nothing).",
    });
  }
  const replication = stack.config.replication;
  if (replication && stack.archive.replicationRole) {
    Validations.of(stack.archive.replicationRole).acknowledge(
      {
        id: iam5(`${archive}/${prefix}*`),
        reason:
          "S3 replication reads every new object version under the archive prefix (and its retention and legal " +
          "hold), whatever its key.",
      },
      {
        id: iam5(`${replication.bucketArn}/${prefix}*`),
        reason:
          "S3 replication writes each replicated version under the same key in the destination bucket; the " +
          "destination account's bucket policy limits it again.",
      },
    );
  }

  const isDeadLetterQueue = {
    id: "Serverless-SQSRedrivePolicy",
    reason:
      "A dead-letter queue itself (of the stream queue, or of failed invocations and undeliverable events): a " +
      "redrive policy would move what an operator must look at somewhere else. An alarm fires on its first message.",
  };
  Validations.of(stack.streamQueue.deadLetterQueue).acknowledge(isDeadLetterQueue);
  Validations.of(stack.failedInvocations).acknowledge(isDeadLetterQueue);
  for (const fn of [stack.coordinator, stack.sweep]) {
    Validations.of(fn.fn).acknowledge({
      id: "Serverless-LambdaDLQ",
      reason:
        "Failed asynchronous invocations go to an on-failure destination (the FailedInvocations queue, with an " +
        "alarm), which AWS recommends over a DeadLetterConfig because it records the error and the request.",
    });
  }
  Validations.of(stack.controller.fn).acknowledge({
    id: "Serverless-LambdaDLQ",
    reason:
      "The controller is invoked only by its SQS event source, synchronously: a DeadLetterConfig never applies. " +
      "A stream task that fails 5 times moves to the stream queue's dead-letter queue (redrive policy, alarmed).",
  });
  for (const mapping of stack.controller.fn.node
    .findAll()
    .filter((c) => c.node.id.startsWith("SqsEventSource:"))) {
    Validations.of(mapping).acknowledge({
      id: "Serverless-LambdaEventSourceMappingDestination",
      reason:
        "Lambda supports on-failure destinations only for stream and Kafka sources, not SQS: a failing stream task " +
        "goes to the queue's dead-letter queue after 5 receives (redrive policy, alarmed).",
    });
  }

  Validations.of(stack.failedInvocations).acknowledge({
    id: "AwsSolutions-SQS3",
    reason:
      "This queue is itself the dead-letter destination: Lambda's on-failure destination of the coordinator and " +
      "the sweep and EventBridge's dead-letter queue of the schedules and tamper alarms. An alarm fires on its first message.",
  });
}
