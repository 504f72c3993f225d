/**
 * What S3 replication does with the replication role for every object version written to the
 * archive during a rehearsal (S3 does it, so no code records it): read the replication
 * configuration, read the version with its ACL, tags, retention and legal hold, decrypt it through
 * S3, write the replica to the other account's bucket under the destination's ownership and
 * encrypt it with the destination's key. The source side is decided against the stack's bucket
 * and key policies; the destination side against the policies docs/deploy.md tells the other
 * account to set ({@link destinationPolicies}).
 */
import type { DeploymentConfig } from "../../../infra/config.js";
import type { IamRequest } from "./iam-requests.js";
import type { RecordedCall } from "./lambda-emulator.js";
import type { LocalDeployment, PolicyDocument } from "./local-deployment.js";

/** The destination bucket's and key's policies, as docs/deploy.md ("The air-gapped copy") gives them. */
export function destinationPolicies(
  roleArn: string,
  replication: NonNullable<DeploymentConfig["replication"]>,
): { bucket: PolicyDocument; key: PolicyDocument } {
  const principal = { AWS: roleArn };
  return {
    bucket: {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "ReplicateFromMailstream",
          Effect: "Allow",
          Principal: principal,
          Action: ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
          Resource: `${replication.bucketArn}/*`,
        },
        {
          Sid: "VersioningCheck",
          Effect: "Allow",
          Principal: principal,
          Action: ["s3:GetBucketVersioning", "s3:PutBucketVersioning"],
          Resource: replication.bucketArn,
        },
      ],
    },
    key: {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "EncryptReplicasFromMailstream",
          Effect: "Allow",
          Principal: principal,
          Action: "kms:Encrypt",
          Resource: "*",
        },
      ],
    },
  };
}

const CREATES = new Set(["PutObjectCommand", "CopyObjectCommand", "CompleteMultipartUploadCommand"]);

/** The replication role's requests for the archive objects `calls` created. */
export function replicationRequests(
  deployment: LocalDeployment,
  config: DeploymentConfig,
  calls: RecordedCall[],
): IamRequest[] {
  const replication = config.replication;
  if (!replication) return [];
  const role = [...deployment.roles.values()].find((r) => r.logicalId.startsWith("ArchiveReplicationRole"));
  if (!role) throw new Error("the template has no replication role");
  const archive = [...deployment.buckets.values()].find((b) => b.logicalId.startsWith("ArchiveBucket"))!;
  const key = [...deployment.keys.values()][0]!;
  const { account, region } = deployment.pseudo;
  const destination = destinationPolicies(role.arn, replication);
  const destinationAccount = replication.account;
  const destinationRegion = replication.kmsKeyArn.split(":")[3]!;
  const created = calls.filter(
    (c) => c.service === "S3" && CREATES.has(c.command) && c.input.Bucket === archive.name && c.outcome?.ok,
  );
  const call = (key: string): RecordedCall => ({
    seq: -1,
    fn: "ReplicationRole",
    roleArn: role.arn,
    by: "S3 replication",
    service: "S3",
    command: "Replicate",
    input: { Bucket: archive.name, Key: key },
  });
  const source = (c: RecordedCall, action: string, resource: string, context = {}): IamRequest => ({
    call: c,
    action,
    resource,
    context,
    resourceAccount: account,
    ...(archive.policy ? { resourcePolicy: archive.policy } : {}),
  });
  return created.flatMap((created) => {
    const objectKey = String(created.input.Key);
    const c = call(objectKey);
    const objectArn = `${archive.arn}/${objectKey}`;
    return [
      source(c, "s3:GetReplicationConfiguration", archive.arn),
      source(c, "s3:ListBucket", archive.arn),
      ...[
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
      ].map((action) => source(c, action, objectArn)),
      {
        call: c,
        via: "s3.amazonaws.com",
        action: "kms:Decrypt",
        resource: key.arn,
        context: {
          "kms:ViaService": `s3.${region}.amazonaws.com`,
          "kms:CallerAccount": account,
          "kms:EncryptionContext:aws:s3:arn": archive.bucketKey ? archive.arn : objectArn,
        },
        resourceAccount: account,
        resourcePolicy: key.policy,
      },
      ...["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"].map((action) => ({
        call: c,
        action,
        resource: `${replication.bucketArn}/${objectKey}`,
        context: {},
        resourceAccount: destinationAccount,
        resourcePolicy: destination.bucket,
      })),
      {
        call: c,
        via: "s3.amazonaws.com",
        action: "kms:Encrypt",
        resource: replication.kmsKeyArn,
        context: {
          "kms:ViaService": `s3.${destinationRegion}.amazonaws.com`,
          "kms:CallerAccount": account,
          "kms:EncryptionContext:aws:s3:arn": `${replication.bucketArn}/${objectKey}`,
        },
        resourceAccount: destinationAccount,
        resourcePolicy: destination.key,
      },
    ];
  });
}
