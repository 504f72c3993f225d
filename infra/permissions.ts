/**
 * Every permission of the stack's roles, statement by statement: each function gets only the
 * actions it uses, on only the resources it uses them on, and the deployment key only through the
 * service that uses it (`kms:ViaService`). test/infra/rehearsal.test.ts runs a whole job through
 * the bundled functions and checks every AWS call they make against these statements, the bucket
 * policy and the key policy; docs/deploy.md's table is tested against them.
 */
import { Aws } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { ARCHIVE_LAYOUT } from "./archive-layout.js";
import type { DeploymentConfig } from "./config.js";

/**
 * DynamoDB actions each function's use of the state store (lib/state) needs. lib/state sends Get,
 * Query, Put and Update commands and TransactWrite, which IAM authorizes per item as the
 * Put/Update it holds (discovery's pieces and a whole plan are written that way), and BatchGet:
 * whoever finalizes a job (all three) reads a page of its mailboxes' units by key
 * (lib/state/report-pages.ts); the sweep only reads and updates (re-sends, finalization). Nothing
 * scans, batch-writes or deletes (old job records expire by TTL). test/infra/rehearsal.test.ts
 * shows each one used.
 */
export const STATE_ACTIONS = {
  coordinator: [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
  ],
  controller: [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
  ],
  sweep: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
} as const;

/** What the Lambda service does with the controller's role to feed it from the queue. */
export const EVENT_SOURCE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];

/** The resources the roles are granted on. */
export interface PermissionResources {
  config: DeploymentConfig;
  key: kms.IKey;
  archive: s3.IBucket;
  staging: s3.IBucket;
  table: { tableArn: string };
  queue: sqs.IQueue;
  /** The asynchronous functions' failure destination. */
  failures: sqs.IQueue;
}

/** The deployment key, used only through `service` (s3, sqs, dynamodb) in this region. */
export function keyVia(sid: string, key: kms.IKey, service: string, actions: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions,
    resources: [key.keyArn],
    conditions: { StringEquals: { "kms:ViaService": `${service}.${Aws.REGION}.amazonaws.com` } },
  });
}

/**
 * Reading an Entra app's secret, and its own key when it has one (only through Secrets Manager).
 * `app` names the statements: `Read<app>Credentials`, `Decrypt<app>Credentials`.
 */
export function readSecret(
  secretArn: string,
  secretKmsKeyArn: string | undefined,
  app = "Entra",
): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: `Read${app}Credentials`,
      actions: ["secretsmanager:GetSecretValue"],
      resources: [secretArn],
    }),
    ...(secretKmsKeyArn
      ? [
          new iam.PolicyStatement({
            sid: `Decrypt${app}Credentials`,
            actions: ["kms:Decrypt"],
            resources: [secretKmsKeyArn],
            // Only through Secrets Manager, in the secret's own region.
            conditions: {
              StringEquals: { "kms:ViaService": `secretsmanager.${secretArn.split(":")[3]}.amazonaws.com` },
            },
          }),
        ]
      : []),
  ];
}

function objects(bucket: s3.IBucket, prefix: string, ...subs: string[]): string[] {
  return subs.map((sub) => `${bucket.bucketArn}/${prefix}${sub}*`);
}

/** What all three functions do: job records in the state table, stream tasks, manifests and reports. */
function jobRecordStatements(r: PermissionResources, fn: keyof typeof STATE_ACTIONS): iam.PolicyStatement[] {
  const prefix = r.config.archivePrefix;
  return [
    new iam.PolicyStatement({ sid: "State", actions: [...STATE_ACTIONS[fn]], resources: [r.table.tableArn] }),
    // DynamoDB decrypts the table's key with the caller's permission.
    keyVia("KeyForState", r.key, "dynamodb", ["kms:Decrypt"]),
    new iam.PolicyStatement({
      sid: "SendStreamTasks",
      actions: ["sqs:SendMessage"],
      resources: [r.queue.queueArn],
    }),
    // An encrypted queue needs both from a sender (SQS reuses the data key for an hour).
    keyVia("KeyForQueues", r.key, "sqs", ["kms:GenerateDataKey", "kms:Decrypt"]),
    // Finalizing a job writes its report and manifest (puts only; the numbers come from state).
    new iam.PolicyStatement({
      sid: "WriteJobRecords",
      actions: ["s3:PutObject"],
      resources: objects(r.archive, prefix, ARCHIVE_LAYOUT.jobs, ARCHIVE_LAYOUT.reports),
    }),
  ];
}

/** Lambda sends a failed asynchronous invocation to the failure queue with the function's role. */
function failureDestination(r: PermissionResources): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: "SendFailedInvocations",
    actions: ["sqs:SendMessage"],
    resources: [r.failures.queueArn],
  });
}

/**
 * Coordinator: Graph credentials, state, the first task of each stream, the folder tree of each
 * mailbox (catalog/…/folders.jsonl), and finalizing (a job with nothing to do is finalized at
 * once, and the sweep it runs on every tick finalizes stuck jobs).
 */
export function coordinatorStatements(r: PermissionResources): iam.PolicyStatement[] {
  const prefix = r.config.archivePrefix;
  return [
    ...readSecret(r.config.secretArn, r.config.secretKmsKeyArn),
    ...jobRecordStatements(r, "coordinator"),
    new iam.PolicyStatement({
      sid: "WriteFolderTrees",
      actions: ["s3:PutObject"],
      resources: objects(r.archive, prefix, ARCHIVE_LAYOUT.catalog),
    }),
    keyVia("KeyForArchive", r.key, "s3", ["kms:GenerateDataKey"]),
    failureDestination(r),
  ];
}

/**
 * Controller: Graph credentials, state, continuation tasks, its queue (through the event source
 * mapping), and the archive: blobs and packs (a HEAD first, which needs GetObject, and ListBucket to answer
 * 404 rather than 403; a mailbox's pack indexes are listed and read), catalog parts, manifests and reports,
 * and the search index after each job (reading the finalized jobs' catalog). Large messages go through the
 * staging bucket (multipart upload, copy to the blob's address, delete).
 */
export function controllerStatements(r: PermissionResources): iam.PolicyStatement[] {
  const prefix = r.config.archivePrefix;
  return [
    ...readSecret(r.config.secretArn, r.config.secretKmsKeyArn),
    ...jobRecordStatements(r, "controller"),
    new iam.PolicyStatement({
      sid: "ConsumeStreamTasks",
      actions: EVENT_SOURCE_ACTIONS,
      resources: [r.queue.queueArn],
    }),
    new iam.PolicyStatement({
      sid: "FindBlobs",
      actions: ["s3:ListBucket"],
      resources: [r.archive.bucketArn],
    }),
    new iam.PolicyStatement({
      sid: "ReadBlobs",
      actions: ["s3:GetObject"],
      resources: objects(r.archive, prefix, ARCHIVE_LAYOUT.blobs),
    }),
    new iam.PolicyStatement({
      sid: "WriteBlobsAndCatalog",
      actions: ["s3:PutObject"],
      resources: objects(r.archive, prefix, ARCHIVE_LAYOUT.blobs, ARCHIVE_LAYOUT.catalog),
    }),
    // The search index after each job (an index task): the finalized jobs (manifests, and the
    // reports that list the archive's mailboxes), the catalog (and snapshots) of the mailboxes
    // the job changed, the index so far; new segments and manifest.
    new iam.PolicyStatement({
      sid: "ReadForTheSearchIndex",
      actions: ["s3:GetObject"],
      resources: objects(
        r.archive,
        prefix,
        ARCHIVE_LAYOUT.jobs,
        ARCHIVE_LAYOUT.reports,
        ARCHIVE_LAYOUT.catalog,
        ARCHIVE_LAYOUT.snapshots,
        ARCHIVE_LAYOUT.searchIndex,
      ),
    }),
    new iam.PolicyStatement({
      sid: "WriteSearchIndex",
      actions: ["s3:PutObject"],
      resources: objects(r.archive, prefix, ARCHIVE_LAYOUT.searchIndex),
    }),
    new iam.PolicyStatement({
      sid: "StageLargeMessages",
      actions: ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
      resources: objects(r.staging, prefix, ARCHIVE_LAYOUT.staging),
    }),
    // Multipart uploads and copies read what they encrypt: Decrypt as well as GenerateDataKey.
    keyVia("KeyForArchive", r.key, "s3", ["kms:GenerateDataKey", "kms:Decrypt"]),
  ];
}

/** Sweep: state, re-sending stale streams, finalizing jobs. No Graph, no secret. */
export function sweepStatements(r: PermissionResources): iam.PolicyStatement[] {
  return [
    ...jobRecordStatements(r, "sweep"),
    keyVia("KeyForArchive", r.key, "s3", ["kms:GenerateDataKey"]),
    failureDestination(r),
  ];
}

/**
 * The restore role (for the `mailstream` CLI, never a function): reads the archive (list, get,
 * decrypt through S3) and the restore app's secret. It writes nothing to AWS.
 */
export function restoreStatements(
  r: Pick<PermissionResources, "config" | "key" | "archive">,
  restore: NonNullable<DeploymentConfig["restore"]>,
): iam.PolicyStatement[] {
  const prefix = r.config.archivePrefix;
  return [
    ...readSecret(restore.secretArn, restore.secretKmsKeyArn, "Restore"),
    new iam.PolicyStatement({
      sid: "ListArchive",
      actions: ["s3:ListBucket"],
      resources: [r.archive.bucketArn],
    }),
    new iam.PolicyStatement({
      sid: "ReadArchive",
      actions: ["s3:GetObject"],
      resources: [`${r.archive.bucketArn}/${prefix}*`],
    }),
    keyVia("KeyForArchive", r.key, "s3", ["kms:Decrypt"]),
  ];
}

/**
 * S3 replication of the archive to the air-gapped copy: read every version (with its retention
 * and legal hold), write it to the destination owned by the destination account, re-encrypted
 * with the destination's key. Delete markers are not replicated, so no ReplicateDelete.
 */
export function replicationStatements(
  r: Pick<PermissionResources, "config" | "key" | "archive">,
  replication: NonNullable<DeploymentConfig["replication"]>,
): iam.PolicyStatement[] {
  const prefix = r.config.archivePrefix;
  const destinationRegion = replication.kmsKeyArn.split(":")[3]!;
  return [
    new iam.PolicyStatement({
      sid: "ReadReplicationConfiguration",
      actions: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
      resources: [r.archive.bucketArn],
    }),
    new iam.PolicyStatement({
      sid: "ReadVersionsToReplicate",
      actions: [
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
      ],
      resources: [`${r.archive.bucketArn}/${prefix}*`],
    }),
    new iam.PolicyStatement({
      sid: "WriteReplicas",
      actions: ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
      resources: [`${replication.bucketArn}/${prefix}*`],
    }),
    keyVia("DecryptSourceVersions", r.key, "s3", ["kms:Decrypt"]),
    new iam.PolicyStatement({
      sid: "EncryptReplicas",
      actions: ["kms:Encrypt"],
      resources: [replication.kmsKeyArn],
      conditions: { StringEquals: { "kms:ViaService": `s3.${destinationRegion}.amazonaws.com` } },
    }),
  ];
}
