/**
 * The archive as a vault: what its bucket policy and its key's policy refuse, decided by a real
 * IAM policy evaluator (@cloud-copilot/iam-simulate) for an account administrator (who may do
 * anything IAM allows), the break-glass role and CloudFormation's execution role, on the
 * synthesized template. And the pieces around it: the staging bucket, the tamper alarms, the
 * air-gapped copy, the restore role, failure destinations and tracing.
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import type { CfnResource } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { BUCKET_TAMPER_EVENTS, KEY_TAMPER_EVENTS } from "../../infra/constructs/tamper-alarms.js";
import { deploymentRoleArn } from "../../infra/mailstream-stack.js";
import type { PolicyDocument } from "../support/rehearsal/local-deployment.js";
import { nameResources } from "../support/rehearsal/local-deployment.js";
import { type CfnTemplate, resolveIntrinsics } from "../support/rehearsal/template.js";
import { FULL_CONFIG, MINIMAL_CONFIG, type Synthesized, synthesize } from "./fixtures.js";

const ACCOUNT = "111122223333";
const pseudo = { account: ACCOUNT, region: "eu-west-1", partition: "aws" };
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/Administrator`;
const BREAK_GLASS = FULL_CONFIG.breakGlassRoleArn;
const EVERYTHING: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
};

let full: Synthesized;
let minimal: Synthesized;
let template: CfnTemplate;
let resolve: (value: unknown) => unknown;
beforeAll(() => {
  full = synthesize(FULL_CONFIG);
  minimal = synthesize(MINIMAL_CONFIG);
  template = full.template.toJSON() as CfnTemplate;
  const names = nameResources(template, full.stack.stackName, pseudo);
  resolve = (value) => resolveIntrinsics(value, pseudo, (id) => names.get(id));
});

const logicalId = (s: Synthesized, c: IConstruct) =>
  s.stack.resolve(s.stack.getLogicalId(c.node.defaultChild as CfnResource)) as string;
const physical = (c: IConstruct) => resolve({ Ref: logicalId(full, c) }) as string;
const arn = (c: IConstruct) => resolve({ "Fn::GetAtt": [logicalId(full, c), "Arn"] }) as string;
/** CloudFormation's execution role as the template names it, resolved in the rehearsal account. */
const deployerArn = () => resolve(full.stack.resolve(deploymentRoleArn(full.stack))) as string;
const deployer = deployerArn;

function bucketPolicy(bucket: IConstruct): PolicyDocument {
  const policy = Object.values(template.Resources).find(
    (r) =>
      r.Type === "AWS::S3::BucketPolicy" &&
      JSON.stringify(r.Properties?.Bucket) === JSON.stringify({ Ref: logicalId(full, bucket) }),
  );
  return resolve(policy!.Properties!.PolicyDocument) as PolicyDocument;
}

async function decide(
  principal: string,
  action: string,
  resource: string,
  resourcePolicy: PolicyDocument,
  context: Record<string, string> = {},
): Promise<string> {
  const result = await runSimulation(
    {
      request: {
        principal,
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: { "aws:PrincipalArn": principal, "aws:SecureTransport": "true", ...context },
      },
      identityPolicies: [{ name: "everything", policy: EVERYTHING }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy,
    },
    {},
  );
  if (result.resultType !== "single") throw new Error(JSON.stringify(result));
  return result.overallResult;
}

describe("archive bucket policy", () => {
  it("refuses deleting objects or versions and bypassing governance retention to everyone but the break-glass role", async () => {
    const policy = bucketPolicy(full.stack.archive.bucket);
    const object = `${arn(full.stack.archive.bucket)}/mail/blobs/sha256/aa/bb/x.eml`;
    for (const action of ["s3:DeleteObjectVersion", "s3:DeleteObject", "s3:BypassGovernanceRetention"]) {
      expect(await decide(ADMIN, action, object, policy), action).toBe("ExplicitlyDenied");
      // Not even a deployment deletes archived objects.
      expect(await decide(deployer(), action, object, policy), action).toBe("ExplicitlyDenied");
      expect(await decide(BREAK_GLASS, action, object, policy), action).toBe("Allowed");
    }
  });

  it("lets only deployments and the break-glass role change lifecycle, Object Lock, replication, encryption, versioning or the policy", async () => {
    const policy = bucketPolicy(full.stack.archive.bucket);
    const bucket = arn(full.stack.archive.bucket);
    const deployer = deployerArn();
    expect(deployer).toBe(`arn:aws:iam::${ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-eu-west-1`);
    for (const action of [
      "s3:PutLifecycleConfiguration",
      "s3:PutBucketObjectLockConfiguration",
      "s3:PutReplicationConfiguration",
      "s3:PutEncryptionConfiguration",
      "s3:PutBucketVersioning",
      "s3:PutBucketPolicy",
      "s3:DeleteBucketPolicy",
    ]) {
      expect(await decide(ADMIN, action, bucket, policy), action).toBe("ExplicitlyDenied");
      expect(await decide(deployer, action, bucket, policy), action).toBe("Allowed");
      expect(await decide(BREAK_GLASS, action, bucket, policy), action).toBe("Allowed");
    }
    // Without a break-glass role, only deployments.
    const noBreakGlass = synthesize({ ...MINIMAL_CONFIG, stage: "nobg" });
    const statement = noBreakGlass.template
      .toJSON()
      .Resources[
        logicalId(noBreakGlass, noBreakGlass.stack.archive.bucket.policy!)
      ].Properties.PolicyDocument.Statement.find((s: { Sid?: string }) => s.Sid === "AppendOnly");
    expect(statement.Condition).toBeUndefined();
  });

  it("refuses SSE-C, other encryption and other keys; a write without a header gets the deployment's key", async () => {
    const policy = bucketPolicy(full.stack.archive.bucket);
    const keyArn = arn(full.stack.key);
    const part = `${arn(full.stack.archive.bucket)}/mail/catalog/mailbox=m/job=j/folder=f/part-0-0.jsonl`;
    const put = (context: Record<string, string>) => decide(ADMIN, "s3:PutObject", part, policy, context);
    expect(await put({ "s3:x-amz-server-side-encryption-customer-algorithm": "AES256" })).toBe(
      "ExplicitlyDenied",
    );
    expect(await put({ "s3:x-amz-server-side-encryption": "AES256" })).toBe("ExplicitlyDenied");
    expect(
      await put({
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": `arn:aws:kms:eu-west-1:${ACCOUNT}:key/someone-elses`,
      }),
    ).toBe("ExplicitlyDenied");
    expect(
      await put({
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn,
      }),
    ).toBe("Allowed");
    expect(await put({})).toBe("Allowed");
    // The staging bucket holds message copies: the same rules.
    const staging = bucketPolicy(full.stack.archive.stagingBucket);
    const staged = `${arn(full.stack.archive.stagingBucket)}/mail/staging/u.eml`;
    expect(
      await decide(ADMIN, "s3:PutObject", staged, staging, {
        "s3:x-amz-server-side-encryption-customer-algorithm": "AES256",
      }),
    ).toBe("ExplicitlyDenied");
    expect(
      await decide(ADMIN, "s3:PutObject", staged, staging, { "s3:ObjectCreationOperation": "false" }),
    ).toBe("Allowed");
  });

  it("creates a blob only where nothing is (If-None-Match), and copies blobs in only from the staging bucket", async () => {
    const policy = bucketPolicy(full.stack.archive.bucket);
    const blob = `${arn(full.stack.archive.bucket)}/mail/blobs/sha256/aa/bb/x.eml`;
    const put = (context: Record<string, string>) => decide(ADMIN, "s3:PutObject", blob, policy, context);
    expect(await put({ "s3:ObjectCreationOperation": "true" })).toBe("ExplicitlyDenied");
    expect(await put({ "s3:ObjectCreationOperation": "true", "s3:if-none-match": "*" })).toBe("Allowed");
    // The parts of a multipart upload carry no condition; its completion must.
    expect(await put({ "s3:ObjectCreationOperation": "false" })).toBe("Allowed");
    const staging = physical(full.stack.archive.stagingBucket);
    expect(
      await put({
        "s3:ObjectCreationOperation": "true",
        "s3:if-none-match": "*",
        "s3:x-amz-copy-source": `${staging}/mail/staging/u.eml`,
      }),
    ).toBe("Allowed");
    expect(
      await put({
        "s3:ObjectCreationOperation": "true",
        "s3:if-none-match": "*",
        "s3:x-amz-copy-source": "attacker-bucket/forged.eml",
      }),
    ).toBe("ExplicitlyDenied");
    // Other keys (catalog, reports) may be rewritten by a retry.
    const report = `${arn(full.stack.archive.bucket)}/mail/reports/j/report.json`;
    expect(
      await decide(ADMIN, "s3:PutObject", report, policy, { "s3:ObjectCreationOperation": "true" }),
    ).toBe("Allowed");
  });
});

describe("deployment key", () => {
  const keyPolicy = () =>
    resolve(template.Resources[logicalId(full, full.stack.key)]!.Properties!.KeyPolicy) as PolicyDocument;
  const keyArn = () => arn(full.stack.key);

  it("lets only the break-glass role disable it or schedule its deletion, and only deployments change its policy", async () => {
    const deployer = deployerArn();
    for (const action of ["kms:ScheduleKeyDeletion", "kms:DisableKey"]) {
      expect(await decide(ADMIN, action, keyArn(), keyPolicy()), action).toBe("ExplicitlyDenied");
      expect(await decide(deployer, action, keyArn(), keyPolicy()), action).toBe("ExplicitlyDenied");
      expect(await decide(BREAK_GLASS, action, keyArn(), keyPolicy()), action).toBe("Allowed");
    }
    expect(await decide(ADMIN, "kms:PutKeyPolicy", keyArn(), keyPolicy())).toBe("ExplicitlyDenied");
    expect(await decide(deployer, "kms:PutKeyPolicy", keyArn(), keyPolicy())).toBe("Allowed");
    // Everything else stays with the account's IAM policies.
    expect(await decide(ADMIN, "kms:Decrypt", keyArn(), keyPolicy())).toBe("Allowed");
  });

  it("alarms through EventBridge on key and bucket tampering, to the alarm topic", () => {
    const rules = Object.values(template.Resources).filter((r) => r.Type === "AWS::Events::Rule");
    const pattern = (source: string) =>
      rules.find(
        (r) => (r.Properties?.EventPattern as { source?: string[] } | undefined)?.source?.[0] === source,
      )!.Properties as {
        EventPattern: { detail: Record<string, unknown> };
        Targets: Array<{ Arn: unknown; DeadLetterConfig?: unknown }>;
      };
    const kms = pattern("aws.kms");
    expect(kms.EventPattern.detail).toEqual({
      eventSource: ["kms.amazonaws.com"],
      eventName: KEY_TAMPER_EVENTS,
      resources: { ARN: [{ "Fn::GetAtt": [logicalId(full, full.stack.key), "Arn"] }] },
    });
    expect(KEY_TAMPER_EVENTS).toEqual(expect.arrayContaining(["DisableKey", "ScheduleKeyDeletion"]));
    const s3 = pattern("aws.s3");
    expect(s3.EventPattern.detail).toMatchObject({
      eventName: BUCKET_TAMPER_EVENTS,
      requestParameters: { bucketName: [{ Ref: logicalId(full, full.stack.archive.bucket) }] },
    });
    expect(BUCKET_TAMPER_EVENTS).toEqual(
      expect.arrayContaining([
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketLifecycle",
        "DeleteBucketLifecycle",
      ]),
    );
    for (const rule of [kms, s3]) {
      expect(rule.Targets[0]!.Arn).toEqual({ Ref: logicalId(full, full.stack.operations.topic) });
      expect(rule.Targets[0]!.DeadLetterConfig).toEqual({
        Arn: { "Fn::GetAtt": [logicalId(full, full.stack.failedInvocations), "Arn"] },
      });
    }
  });
});

describe("around the archive", () => {
  it("stages large uploads in a bucket of their own: no Object Lock, no versions, everything gone after a day", () => {
    const props = template.Resources[logicalId(full, full.stack.archive.stagingBucket)]!.Properties!;
    expect(props.ObjectLockEnabled).toBeUndefined();
    expect(props.VersioningConfiguration).toBeUndefined();
    expect(props.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: "expire-staging",
          Status: "Enabled",
          ExpirationInDays: 1,
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
      ],
    });
    expect(props.BucketEncryption).toEqual(
      template.Resources[logicalId(full, full.stack.archive.bucket)]!.Properties!.BucketEncryption,
    );
  });

  it("replicates the archive prefix to the other account's bucket with its key, owned by that account, without deletes", () => {
    const props = template.Resources[logicalId(full, full.stack.archive.bucket)]!.Properties!;
    expect(props.ReplicationConfiguration).toEqual({
      Role: { "Fn::GetAtt": [logicalId(full, full.stack.archive.replicationRole!), "Arn"] },
      Rules: [
        {
          Id: "air-gapped-copy",
          Priority: 0,
          Status: "Enabled",
          Filter: { Prefix: "mail/" },
          DeleteMarkerReplication: { Status: "Disabled" },
          SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: "Enabled" } },
          Destination: {
            Bucket: FULL_CONFIG.replication.bucketArn,
            Account: FULL_CONFIG.replication.account,
            StorageClass: "GLACIER_IR",
            AccessControlTranslation: { Owner: "Destination" },
            EncryptionConfiguration: { ReplicaKmsKeyID: FULL_CONFIG.replication.kmsKeyArn },
          },
        },
      ],
    });
    expect(
      minimal.template.toJSON().Resources[logicalId(minimal, minimal.stack.archive.bucket)].Properties
        .ReplicationConfiguration,
    ).toBeUndefined();
  });

  it("has a restore role that reads the archive and the restore app's secret, trusted only by the named principals", () => {
    const role = template.Resources[logicalId(full, full.stack.restoreRole!.role)]!.Properties!;
    expect(role.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Effect: "Allow",
          Action: "sts:AssumeRole",
          Principal: { AWS: FULL_CONFIG.restore.trustedPrincipalArns[0] },
        },
      ],
    });
    const policy = Object.values(template.Resources).find(
      (r) =>
        r.Type === "AWS::IAM::Policy" &&
        JSON.stringify(r.Properties?.Roles) ===
          JSON.stringify([{ Ref: logicalId(full, full.stack.restoreRole!.role) }]),
    )!;
    const statements = (policy.Properties!.PolicyDocument as PolicyDocument).Statement;
    const actions = statements.flatMap((s) => [s.Action ?? []].flat()).sort();
    expect(actions).toEqual([
      "kms:Decrypt",
      "s3:GetObject",
      "s3:ListBucket",
      "secretsmanager:GetSecretValue",
    ]);
    expect(statements.find((s) => s.Sid === "ReadRestoreCredentials")?.Resource).toBe(
      FULL_CONFIG.restore.secretArn,
    );
    // No write of any kind, and not the backup app's secret.
    expect(JSON.stringify(statements)).not.toContain(FULL_CONFIG.secretArn);
    expect(minimal.stack.restoreRole).toBeUndefined();
  });

  it("sends failed asynchronous invocations of the coordinator and the sweep to the failure queue, which alarms", () => {
    const configs = Object.values(template.Resources).filter(
      (r) => r.Type === "AWS::Lambda::EventInvokeConfig",
    );
    const destination = { "Fn::GetAtt": [logicalId(full, full.stack.failedInvocations), "Arn"] };
    expect(
      configs.map((c) => [
        c.Properties!.FunctionName,
        c.Properties!.MaximumRetryAttempts,
        c.Properties!.DestinationConfig,
      ]),
    ).toEqual(
      expect.arrayContaining([
        [{ Ref: logicalId(full, full.stack.coordinator.fn) }, 2, { OnFailure: { Destination: destination } }],
        [{ Ref: logicalId(full, full.stack.sweep.fn) }, 0, { OnFailure: { Destination: destination } }],
      ]),
    );
    expect(configs).toHaveLength(2);
    expect(
      template.Resources[logicalId(full, full.stack.operations.failedInvocationsAlarm)]!.Properties,
    ).toMatchObject({
      Threshold: 1,
      AlarmActions: [{ Ref: logicalId(full, full.stack.operations.topic) }],
    });
  });

  it("traces the functions with X-Ray only when asked to", () => {
    for (const fn of [full.stack.coordinator, full.stack.controller, full.stack.sweep]) {
      expect(template.Resources[logicalId(full, fn.fn)]!.Properties!.TracingConfig).toEqual({
        Mode: "Active",
      });
      const other =
        minimal.template.toJSON().Resources[logicalId(minimal, minimal.stack.controller.fn)].Properties;
      expect(other.TracingConfig).toBeUndefined();
    }
  });
});
