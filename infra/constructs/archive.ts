import { Duration, RemovalPolicy } from "aws-cdk-lib";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { ARCHIVE_LAYOUT } from "../archive-layout.js";
import type { DeploymentConfig } from "../config.js";

export interface ArchiveProps {
  /** Customer-managed key for every object (SSE-KMS with an S3 Bucket Key). */
  key: kms.IKey;
  /** Key prefix of the archive inside the bucket (`""` or ending in `/`). */
  prefix: string;
  retention: DeploymentConfig["retention"];
  objectLock: DeploymentConfig["objectLock"];
}

/**
 * The archive bucket (message blobs, catalog, job reports) and the bucket its server access
 * logs go to. Both are kept when the stack is deleted: tearing down mailstream never deletes
 * a backup.
 */
export class Archive extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArchiveProps) {
    super(scope, id);
    const { key, prefix, retention, objectLock } = props;

    // Server access logs cannot go to a KMS-CMK-encrypted bucket (the log delivery service
    // cannot use the key), so the log bucket uses SSE-S3.
    this.accessLogBucket = new s3.Bucket(this, "AccessLogs", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: "expire-access-logs",
          expiration: Duration.days(365),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
    });

    const blobTransitions: s3.Transition[] = [
      {
        storageClass: s3.StorageClass.INFREQUENT_ACCESS,
        transitionAfter: Duration.days(retention.infrequentAccessAfterDays),
      },
    ];
    if (retention.glacierInstantRetrievalAfterDays > 0) {
      blobTransitions.push({
        storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
        transitionAfter: Duration.days(retention.glacierInstantRetrievalAfterDays),
      });
    }

    this.bucket = new s3.Bucket(this, "Bucket", {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      // One data key per bucket instead of one KMS call per object: cuts KMS request cost by
      // orders of magnitude for millions of small messages.
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: "archive/",
      removalPolicy: RemovalPolicy.RETAIN,
      ...(objectLock
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention:
              objectLock.mode === "compliance"
                ? s3.ObjectLockRetention.compliance(Duration.days(objectLock.days))
                : s3.ObjectLockRetention.governance(Duration.days(objectLock.days)),
          }
        : {}),
      // Objects under 128 KiB cost more in IA/Glacier IR than in Standard (minimum billable
      // size), and most e-mails are smaller: leave them in Standard.
      transitionDefaultMinimumObjectSize: s3.TransitionDefaultMinimumObjectSize.ALL_STORAGE_CLASSES_128_K,
      lifecycleRules: [
        {
          id: "abort-incomplete-uploads",
          abortIncompleteMultipartUploadAfter: Duration.days(2),
        },
        {
          // Blobs are write-once and referenced by every later snapshot that still holds the
          // message, so current versions never expire; they only move to cheaper classes.
          id: "blobs-to-cheaper-storage",
          prefix: `${prefix}${ARCHIVE_LAYOUT.blobs}`,
          transitions: blobTransitions,
        },
        {
          // Staging keys exist only while a large blob is uploaded; anything left is debris.
          id: "expire-staging",
          prefix: `${prefix}${ARCHIVE_LAYOUT.staging}`,
          expiration: Duration.days(2),
          // A staged upload is a copy of a blob: its old versions need no retention (Object
          // Lock, when on, still holds them until their retention ends).
          noncurrentVersionExpiration: Duration.days(1),
        },
        {
          // What the retention policy allows to go: versions deleted or replaced (compaction,
          // pruning, operator deletes), after the retention period (Object Lock still wins).
          id: "expire-noncurrent-versions",
          noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
          expiredObjectDeleteMarker: true,
        },
      ],
    });
  }
}
