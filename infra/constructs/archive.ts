import { createHash } from "node:crypto";
import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { SEARCH_INDEX_EXPIRY_DAYS } from "../../lib/catalog-index/search-index/index-retention.js";
import { ARCHIVE_LAYOUT } from "../archive-layout.js";
import type { DeploymentConfig } from "../config.js";

export interface ArchiveProps {
  stage: string;
  /** Customer-managed key for every object (SSE-KMS with an S3 Bucket Key). */
  key: kms.IKey;
  /** Key prefix of the archive inside the bucket (`""` or ending in `/`). */
  prefix: string;
  retention: DeploymentConfig["retention"];
  objectLock: DeploymentConfig["objectLock"];
  replication: DeploymentConfig["replication"];
  /**
   * Principals that may still change the bucket's configuration (lifecycle, Object Lock,
   * replication, encryption, policy): the break-glass role and CloudFormation's execution role.
   */
  configurers: string[];
  /** The break-glass role, the only principal that may delete versions or bypass governance retention. */
  breakGlassRoleArn: string | undefined;
}

/** Bucket-configuration actions that only a deployment or the break-glass role may take. */
export const PROTECTED_BUCKET_ACTIONS = [
  "s3:PutLifecycleConfiguration",
  "s3:PutBucketObjectLockConfiguration",
  "s3:PutReplicationConfiguration",
  "s3:PutEncryptionConfiguration",
  "s3:PutBucketVersioning",
  "s3:PutBucketPolicy",
  "s3:DeleteBucketPolicy",
];

/** Object actions that only the break-glass role may take: the archive is append-only. */
export const PROTECTED_OBJECT_ACTIONS = [
  "s3:DeleteObject",
  "s3:DeleteObjectVersion",
  "s3:BypassGovernanceRetention",
];

/**
 * The archive bucket (message blobs, catalog, job reports), the bucket its server access logs go
 * to and the staging bucket of large uploads. The archive and its logs are kept when the stack is
 * deleted: tearing down mailstream never deletes a backup.
 *
 * The archive is append-only: versioned, Object Lock by default, and its bucket policy refuses
 * (to everyone but the break-glass role) deleting objects or versions and bypassing governance
 * retention; changing its lifecycle, Object Lock, replication, encryption or policy outside a
 * CloudFormation deployment; SSE-C and keys other than the deployment's; and a blob write that is
 * not conditional (`If-None-Match`), so a blob can never be overwritten.
 */
export class Archive extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  /**
   * Large messages are uploaded here first and copied to their content address in the archive
   * once hashed: under Object Lock a staged copy in the archive would be kept (and billed) for the
   * whole retention. Not versioned, no Object Lock; anything left expires after a day.
   */
  readonly stagingBucket: s3.Bucket;
  /** Fails a CloudFormation update that would replace the archive bucket (see {@link ArchiveSettingsGuard}). */
  readonly guard: ArchiveSettingsGuard;
  /** The role S3 replicates with, when replication is configured. */
  readonly replicationRole: iam.Role | undefined;

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

    this.replicationRole = props.replication
      ? new iam.Role(this, "ReplicationRole", {
          assumedBy: new iam.ServicePrincipal("s3.amazonaws.com"),
          description: "mailstream: S3 replication of the archive to the air-gapped copy",
        })
      : undefined;

    // Message content lives in both buckets: the same encryption and access settings.
    const holdsMail = (logPrefix: string) => ({
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      // One data key per bucket instead of one KMS call per object: cuts KMS request cost by
      // orders of magnitude for millions of small messages.
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: logPrefix,
    });

    this.bucket = new s3.Bucket(this, "Bucket", {
      ...holdsMail("archive/"),
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(objectLock !== "off"
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention:
              objectLock.mode === "compliance"
                ? s3.ObjectLockRetention.compliance(Duration.days(objectLock.days))
                : s3.ObjectLockRetention.governance(Duration.days(objectLock.days)),
          }
        : {}),
      ...(props.replication && this.replicationRole
        ? {
            replicationRole: this.replicationRole,
            replicationRules: [
              {
                id: "air-gapped-copy",
                destination: s3.Bucket.fromBucketAttributes(this, "ReplicaBucket", {
                  bucketArn: props.replication.bucketArn,
                  account: props.replication.account,
                }),
                kmsKey: undefined,
                priority: 0,
                filter: { prefix },
                sseKmsEncryptedObjects: true,
                // Deletes stay in this account: a delete marker here hides nothing there.
                deleteMarkerReplication: false,
                accessControlTransition: true,
                storageClass: new s3.StorageClass(props.replication.storageClass),
              },
            ],
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
          // mailstream 0.1 staged large uploads in the archive: its leftovers are debris.
          id: "expire-staging",
          prefix: `${prefix}${ARCHIVE_LAYOUT.staging}`,
          expiration: Duration.days(2),
          noncurrentVersionExpiration: Duration.days(1),
        },
        {
          // The search index is derived data, rebuilt from the catalog at will: superseded
          // segments and the manifests of older jobs expire (nothing else may delete them). A
          // build rewrites every live segment well before this age (SEGMENT_REWRITE_AFTER_DAYS);
          // under Object Lock the expired version stays until its retention ends.
          id: "expire-search-index",
          prefix: `${prefix}${ARCHIVE_LAYOUT.searchIndex}`,
          expiration: Duration.days(SEARCH_INDEX_EXPIRY_DAYS),
        },
        {
          // What the retention policy allows to go: versions deleted or replaced (only the
          // break-glass role can), after the retention period (Object Lock still wins).
          id: "expire-noncurrent-versions",
          noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
          expiredObjectDeleteMarker: true,
        },
      ],
    });
    if (props.replication) {
      // The copies are encrypted with the destination's key (the L2 wants an IKey object).
      const cfn = this.bucket.node.defaultChild as s3.CfnBucket;
      cfn.addPropertyOverride(
        "ReplicationConfiguration.Rules.0.Destination.EncryptionConfiguration.ReplicaKmsKeyID",
        props.replication.kmsKeyArn,
      );
    }

    this.stagingBucket = new s3.Bucket(this, "Staging", {
      ...holdsMail("staging/"),
      // Holds only uploads in flight (message copies): nothing to keep when the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: "expire-staging",
          expiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });

    this.vaultPolicy(this.bucket, props);
    this.refuseForeignEncryption(this.stagingBucket, key);

    this.guard = new ArchiveSettingsGuard(this, "SettingsGuard", {
      stage: props.stage,
      objectLock: objectLock !== "off",
      prefix,
    });
    // CloudFormation updates the guard first: a refused change stops there, before the bucket.
    this.bucket.node.addDependency(this.guard);
  }

  /** The archive's bucket policy: append-only, the deployment's key only, write-once blobs. */
  private vaultPolicy(bucket: s3.Bucket, props: ArchiveProps): void {
    const exceptFor = (arns: string[]) =>
      arns.length > 0 ? { ArnNotEquals: { "aws:PrincipalArn": arns } } : {};
    const breakGlass = props.breakGlassRoleArn ? [props.breakGlassRoleArn] : [];
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AppendOnly",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: PROTECTED_OBJECT_ACTIONS,
        resources: [bucket.arnForObjects("*")],
        conditions: exceptFor(breakGlass),
      }),
    );
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "ConfigurationOnlyByDeployment",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: PROTECTED_BUCKET_ACTIONS,
        resources: [bucket.bucketArn],
        conditions: exceptFor(props.configurers),
      }),
    );
    this.refuseForeignEncryption(bucket, props.key);
    const blobs = bucket.arnForObjects(`${props.prefix}${ARCHIVE_LAYOUT.blobs}*`);
    // A blob is created only where nothing is: S3 answers 412 to a second write of the key.
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "WriteOnceBlobs",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ["s3:PutObject"],
        resources: [blobs],
        conditions: {
          Null: { "s3:if-none-match": "true", "s3:x-amz-copy-source": "true" },
          Bool: { "s3:ObjectCreationOperation": "true" },
        },
      }),
    );
    // Large blobs are copied from the staging bucket (the copy carries If-None-Match too), never
    // from anywhere else.
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "BlobsCopiedOnlyFromStaging",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ["s3:PutObject"],
        resources: [blobs],
        conditions: {
          Null: { "s3:x-amz-copy-source": "false" },
          StringNotLike: {
            "s3:x-amz-copy-source": [
              `${this.stagingBucket.bucketName}/*`,
              `/${this.stagingBucket.bucketName}/*`,
            ],
          },
        },
      }),
    );
  }

  /** SSE-C and any key but the deployment's are refused; requests without a header get the bucket default. */
  private refuseForeignEncryption(bucket: s3.Bucket, key: kms.IKey): void {
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "RefuseCustomerProvidedKeys",
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ["s3:PutObject"],
        resources: [bucket.arnForObjects("*")],
        conditions: { Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" } },
      }),
    );
    // A header that names another encryption or another key is refused. Each needs a statement of
    // its own ("present and different"): a request without the header (an UploadPart, or a put
    // that leaves encryption to the bucket default) gets the deployment's key anyway.
    const refuseOther = (sid: string, header: string, value: string) =>
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ["s3:PutObject"],
          resources: [bucket.arnForObjects("*")],
          conditions: { Null: { [header]: "false" }, StringNotEquals: { [header]: value } },
        }),
      );
    refuseOther("OnlySseKms", "s3:x-amz-server-side-encryption", "aws:kms");
    refuseOther("OnlyTheDeploymentKey", "s3:x-amz-server-side-encryption-aws-kms-key-id", key.keyArn);
  }
}

export interface ArchiveSettingsGuardProps {
  stage: string;
  objectLock: boolean;
  prefix: string;
}

/**
 * Makes CloudFormation refuse, instead of carry out, an update that would strand the archive:
 * turning Object Lock on or off (S3 allows it only when a bucket is created, so CloudFormation
 * would replace the bucket) or moving the archive prefix (the state table's delta tokens would
 * point at mail the new prefix never got).
 *
 * It is an IAM managed policy attached to nothing, with a fixed name and a path that encodes the
 * two settings. A path cannot change in place and a named resource cannot be replaced, so a
 * change fails this resource's update; the archive bucket depends on it, so CloudFormation rolls
 * back before it touches the bucket. docs/deploy.md ("Changing Object Lock or the prefix") names
 * the safe migration.
 */
export class ArchiveSettingsGuard extends Construct {
  readonly resource: iam.CfnManagedPolicy;
  /** The path that encodes the settings, e.g. `/mailstream/archive/objectlock-on/prefix-root/`. */
  readonly path: string;

  constructor(scope: Construct, id: string, props: ArchiveSettingsGuardProps) {
    super(scope, id);
    const prefixPart = props.prefix
      ? `prefix-${createHash("sha256").update(props.prefix).digest("hex").slice(0, 16)}`
      : "prefix-root";
    this.path = `/mailstream/archive/objectlock-${props.objectLock ? "on" : "off"}/${prefixPart}/`;
    this.resource = new iam.CfnManagedPolicy(this, "Resource", {
      // IAM names are global to the account: the region keeps same-named stages apart.
      managedPolicyName: `mailstream-${props.stage}-${Aws.REGION}-archive-settings`,
      path: this.path,
      description:
        "Attached to nothing: its fixed name and its path (the archive's Object Lock and prefix) make CloudFormation " +
        "refuse an update that would replace the mailstream archive bucket. See docs/deploy.md.",
      policyDocument: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "ArchiveSettingsGuard",
            Effect: "Deny",
            // Nothing of this stack: the bucket depends on this policy, so it cannot name the bucket.
            Action: "s3:PutBucketObjectLockConfiguration",
            Resource: `arn:${Aws.PARTITION}:s3:::mailstream-archive-settings-guard-${props.stage}`,
          },
        ],
      },
    });
  }
}
