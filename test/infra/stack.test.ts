import { readdirSync, readFileSync } from "node:fs";
import type { CfnResource } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import type { MailstreamFunction } from "../../infra/constructs/mailstream-function.js";
import { METRIC, METRICS_NAMESPACE } from "../../infra/metrics.js";
import { STATE_ACTIONS } from "../../infra/permissions.js";
import {
  packIndexKey,
  packKey,
  searchBuildKey,
  searchBuildPieceKey,
  searchIndexKey,
  searchSegmentKey,
} from "../../lib/archive/keys.js";
import {
  SEARCH_INDEX_EXPIRY_DAYS,
  SEGMENT_REWRITE_AFTER_DAYS,
} from "../../lib/catalog-index/search-index/index-retention.js";
import { loadConfig, loadStateConfig } from "../../lib/config/index.js";
import { FULL_CONFIG, MINIMAL_CONFIG, type Synthesized, synthesize } from "./fixtures.js";

// Bundling makes synthesis the slow part: once per configuration, shared by every test.
let full: Synthesized;
let minimal: Synthesized;
beforeAll(() => {
  full = synthesize(FULL_CONFIG);
  minimal = synthesize(MINIMAL_CONFIG);
});

function id(s: Synthesized, construct: IConstruct): string {
  return s.stack.resolve(s.stack.getLogicalId(construct.node.defaultChild as CfnResource)) as string;
}
const arnOf = (logicalId: string) => ({ "Fn::GetAtt": [logicalId, "Arn"] });
const ref = (logicalId: string) => ({ Ref: logicalId });

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}
function statementsOfRole(s: Synthesized, role: IConstruct): Statement[] {
  const roleId = id(s, role);
  const policies = s.template.findResources("AWS::IAM::Policy");
  return Object.values(policies)
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify(ref(roleId))),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const actionsOf = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
const allActions = (sts: Statement[]) => sts.flatMap(actionsOf);

describe("archive bucket", () => {
  it("encrypts with the customer-managed key (rotation on), S3 Bucket Key, versioning, public access blocked, access logs", () => {
    const { template } = full;
    const keyId = id(full, full.stack.key);
    template.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    template.hasResource("AWS::S3::Bucket", {
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: arnOf(keyId) },
            },
          ],
        },
        VersioningConfiguration: { Status: "Enabled" },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: { DestinationBucketName: ref(id(full, full.stack.archive.accessLogBucket)) },
      }),
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });

  it("denies every request without TLS (bucket policy)", () => {
    const bucketId = id(full, full.stack.archive.bucket);
    full.template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(bucketId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: "s3:*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      },
    });
  });

  it("applies the configured Object Lock mode and retention, governance for 90 days by default, none when off", () => {
    const props = (s: Synthesized) =>
      s.template.toJSON().Resources[id(s, s.stack.archive.bucket)].Properties as Record<string, unknown>;
    expect(props(full).ObjectLockEnabled).toBe(true);
    expect(props(full).ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: "Enabled",
      Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 2555 } },
    });
    expect(props(minimal).ObjectLockEnabled).toBe(true);
    expect(props(minimal).ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: "Enabled",
      Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 90 } },
    });
    const off = synthesize({ ...MINIMAL_CONFIG, stage: "nolock", objectLock: "off" });
    expect(props(off).ObjectLockEnabled).toBeUndefined();
    expect(props(off).ObjectLockConfiguration).toBeUndefined();
  });
  it("moves blobs under the archive prefix to IA and Glacier IR on the configured days and expires only old versions", () => {
    const rules = (s: Synthesized) =>
      (
        s.template.toJSON().Resources[id(s, s.stack.archive.bucket)].Properties.LifecycleConfiguration as {
          Rules: Record<string, unknown>[];
        }
      ).Rules;
    const blobs = rules(full).find((r) => r.Id === "blobs-to-cheaper-storage");
    expect(blobs).toMatchObject({
      Prefix: "mail/blobs/",
      Transitions: [
        { StorageClass: "STANDARD_IA", TransitionInDays: 45 },
        { StorageClass: "GLACIER_IR", TransitionInDays: 400 },
      ],
    });
    expect(blobs?.ExpirationInDays).toBeUndefined();
    expect(rules(full).find((r) => r.Id === "expire-noncurrent-versions")).toMatchObject({
      NoncurrentVersionExpiration: { NoncurrentDays: 365 },
    });
    expect(rules(full).find((r) => r.Id === "expire-staging")).toMatchObject({
      Prefix: "mail/staging/",
      ExpirationInDays: 2,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    // Nothing but staging debris and the search index (derived, rebuilt from the catalog)
    // expires while it is current.
    expect(
      rules(full)
        .filter((r) => r.ExpirationInDays !== undefined)
        .map((r) => r.Id),
    ).toEqual(["expire-staging", "expire-search-index"]);
    for (const [s, prefix] of [
      [full, "mail/index/search/"],
      [minimal, "index/search/"],
    ] as const) {
      const index = rules(s).find((r) => r.Id === "expire-search-index");
      expect(index).toMatchObject({ Prefix: prefix, ExpirationInDays: SEARCH_INDEX_EXPIRY_DAYS });
      // The keys the index writes lie under it, and nothing else does.
      const archivePrefix = s === full ? "mail/" : "";
      expect(`${archivePrefix}${searchIndexKey("j")}`.startsWith(prefix)).toBe(true);
      expect(`${archivePrefix}${searchSegmentKey("j", "b", 0)}`.startsWith(prefix)).toBe(true);
      // A build's checkpoint and piece records too (they go with the index's objects).
      expect(`${archivePrefix}${searchBuildKey("j")}`.startsWith(prefix)).toBe(true);
      expect(`${archivePrefix}${searchBuildPieceKey("j", "b", 0)}`.startsWith(prefix)).toBe(true);
      expect(`${archivePrefix}${packKey("m", "p")}`.startsWith(prefix)).toBe(false);
    }
    // A build rewrites live segments well before they expire (room for weeks without a job).
    expect(SEARCH_INDEX_EXPIRY_DAYS - SEGMENT_REWRITE_AFTER_DAYS).toBeGreaterThanOrEqual(14);
    expect(rules(minimal).find((r) => r.Id === "blobs-to-cheaper-storage")).toMatchObject({
      Prefix: "blobs/",
      Transitions: [
        { StorageClass: "STANDARD_IA", TransitionInDays: 30 },
        { StorageClass: "GLACIER_IR", TransitionInDays: 180 },
      ],
    });
  });

  it("moves packs (128 KiB and more) to colder tiers, while pack indexes and small bodies, under 128 KiB, stay in Standard", () => {
    for (const s of [full, minimal]) {
      const lifecycle = s.template.toJSON().Resources[id(s, s.stack.archive.bucket)].Properties
        .LifecycleConfiguration as {
        TransitionDefaultMinimumObjectSize?: string;
        Rules: Record<string, unknown>[];
      };
      // No object under 128 KiB transitions, whatever its rule: a pack index (a few KiB) and a
      // body below the pack threshold stay where backups and reads find them cheaply.
      expect(lifecycle.TransitionDefaultMinimumObjectSize).toBe("all_storage_classes_128K");
      const transitioning = lifecycle.Rules.filter((r) => r.Transitions !== undefined);
      expect(transitioning.map((r) => r.Id)).toEqual(["blobs-to-cheaper-storage"]);
      const [rule] = transitioning;
      // Packs and their indexes lie under the rule's prefix (blobs/packs/mailbox=<m>/…), and no
      // size filter of the rule lowers the 128 KiB floor.
      const prefix = rule!.Prefix as string;
      const archivePrefix = s === full ? "mail/" : "";
      expect(`${archivePrefix}${packKey("m", "p")}`.startsWith(prefix)).toBe(true);
      expect(`${archivePrefix}${packIndexKey("m", "p")}`.startsWith(prefix)).toBe(true);
      expect(rule).not.toHaveProperty("ObjectSizeGreaterThan");
      expect(JSON.stringify(rule)).not.toContain("ObjectSize");
    }
  });

  it("has a Glue table over the catalog prefix and an Athena workgroup with KMS-encrypted results", () => {
    const { template } = full;
    template.hasResourceProperties("AWS::Glue::Database", { DatabaseInput: { Name: "mailstream_prod_eu" } });
    template.hasResourceProperties("AWS::Glue::Table", {
      DatabaseName: "mailstream_prod_eu",
      TableInput: Match.objectLike({
        Name: "catalog",
        StorageDescriptor: Match.objectLike({
          Location: {
            "Fn::Join": ["", ["s3://", ref(id(full, full.stack.archive.bucket)), "/mail/catalog/"]],
          },
          SerdeInfo: Match.objectLike({ SerializationLibrary: "org.openx.data.jsonserde.JsonSerDe" }),
        }),
      }),
    });
    template.hasResourceProperties("AWS::Athena::WorkGroup", {
      Name: "mailstream-prod-eu",
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: Match.objectLike({
          EncryptionConfiguration: { EncryptionOption: "SSE_KMS", KmsKey: arnOf(id(full, full.stack.key)) },
        }),
      }),
    });
  });
});

describe("state table", () => {
  it("is on demand, with point-in-time recovery, TTL on expiresAt, the deployment key and deletion protection", () => {
    const keyId = id(full, full.stack.key);
    full.template.hasResource("AWS::DynamoDB::Table", {
      Properties: Match.objectLike({
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: "KMS", KMSMasterKeyId: arnOf(keyId) },
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: "Retain",
    });
  });
});

describe("stream queue", () => {
  it("is encrypted, redrives to an encrypted dead-letter queue after 5 receives, and stays invisible 6 controller timeouts", () => {
    const keyId = id(full, full.stack.key);
    const dlqId = id(full, full.stack.streamQueue.deadLetterQueue);
    const queue = full.template.toJSON().Resources[id(full, full.stack.streamQueue.queue)].Properties;
    expect(queue.KmsMasterKeyId).toEqual(arnOf(keyId));
    expect(queue.RedrivePolicy).toEqual({ deadLetterTargetArn: arnOf(dlqId), maxReceiveCount: 5 });
    const controller = full.template.toJSON().Resources[id(full, full.stack.controller.fn)].Properties;
    // AWS's guidance for an SQS event source: at least 6 × the function's timeout.
    expect(queue.VisibilityTimeout).toBe(6 * controller.Timeout);
    expect(controller.Timeout).toBe(FULL_CONFIG.controller.timeoutSeconds);
    expect(full.template.toJSON().Resources[dlqId].Properties.KmsMasterKeyId).toEqual(arnOf(keyId));
    const minimalQueue =
      minimal.template.toJSON().Resources[id(minimal, minimal.stack.streamQueue.queue)].Properties;
    expect(minimalQueue).toMatchObject({ VisibilityTimeout: 5400, RedrivePolicy: { maxReceiveCount: 5 } });
  });

  it("reserves the stream limit's concurrency for the controller, unless told not to", () => {
    const reserved = (s: Synthesized) =>
      s.template.toJSON().Resources[id(s, s.stack.controller.fn)].Properties.ReservedConcurrentExecutions;
    expect(reserved(full)).toBe(48);
    expect(reserved(minimal)).toBe(16);
    const shared = synthesize({ ...MINIMAL_CONFIG, stage: "shared", streams: { reserveConcurrency: false } });
    expect(reserved(shared)).toBeUndefined();
  });
  it("feeds the controller one task at a time, with partial batch responses and the streams limit as concurrency", () => {
    full.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: arnOf(id(full, full.stack.streamQueue.queue)),
      FunctionName: ref(id(full, full.stack.controller.fn)),
      BatchSize: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 48 },
    });
    minimal.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 16 },
    });
  });
});

describe("functions", () => {
  it("run Node 22 on arm64 with the configured memory and timeouts, their own encrypted log groups and retention", () => {
    const expected = [
      [full.stack.coordinator, 768, 300],
      [full.stack.controller, 1536, 600],
      [full.stack.sweep, 320, 90],
    ] as const;
    for (const [fn, memory, timeout] of expected) {
      const props = full.template.toJSON().Resources[id(full, fn.fn)].Properties;
      expect(props).toMatchObject({
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        MemorySize: memory,
        Timeout: timeout,
        Role: arnOf(id(full, fn.role)),
        LoggingConfig: { LogGroup: ref(id(full, fn.logGroup)) },
      });
      expect(props.Environment.Variables.NODE_OPTIONS).toBe("--enable-source-maps --max-semi-space-size=4");
      expect(props.Environment.Variables.MALLOC_ARENA_MAX).toBe("2");
      const logGroup = full.template.toJSON().Resources[id(full, fn.logGroup)].Properties;
      expect(logGroup).toMatchObject({ RetentionInDays: 180, KmsKeyId: arnOf(id(full, full.stack.key)) });
    }
  });

  it("receive the configuration through the fixed environment names, each only what it uses, never a secret", () => {
    const envOf = (s: Synthesized, fn: MailstreamFunction) =>
      s.template.toJSON().Resources[id(s, fn.fn)].Properties.Environment.Variables as Record<string, unknown>;
    const jobRecords = {
      MAILSTREAM_STAGE: "prod-eu",
      MAILSTREAM_LOG_LEVEL: "debug",
      MAILSTREAM_STATE_TABLE: ref(id(full, full.stack.state.table)),
      MAILSTREAM_JOB_RECORD_TTL_DAYS: "30",
      MAILSTREAM_STREAM_QUEUE_URL: ref(id(full, full.stack.streamQueue.queue)),
      MAILSTREAM_ARCHIVE: "s3",
      MAILSTREAM_ARCHIVE_BUCKET: ref(id(full, full.stack.archive.bucket)),
      MAILSTREAM_ARCHIVE_PREFIX: "mail/",
      MAILSTREAM_ARCHIVE_KMS_KEY_ID: arnOf(id(full, full.stack.key)),
      NODE_OPTIONS: "--enable-source-maps --max-semi-space-size=4",
      MALLOC_ARENA_MAX: "2",
    };
    const graph = {
      MAILSTREAM_TENANT_ID: "contoso.onmicrosoft.com",
      MAILSTREAM_CLIENT_ID: FULL_CONFIG.clientId,
      MAILSTREAM_CREDENTIALS_SOURCE: "secretsManager",
      MAILSTREAM_SECRET_ARN: FULL_CONFIG.secretArn,
      MAILSTREAM_PER_MAILBOX_CONCURRENCY: "3",
      MAILSTREAM_PAGE_SIZE: "250",
    };
    // Discovery and planning: controllers run a job's later discovery pieces, so they select
    // and plan with the coordinator's rules.
    const discovery = {
      MAILSTREAM_STREAMS_MAX: "48",
      MAILSTREAM_UNITS_PER_STREAM: "4",
      MAILSTREAM_MAIL_CONTENT: "fidelity",
      MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: "500",
      MAILSTREAM_INCLUDE: "@contoso.com",
      MAILSTREAM_EXCLUDE: "ceo@contoso.com,group:Legal",
    };
    expect(envOf(full, full.stack.coordinator)).toEqual({
      ...jobRecords,
      ...graph,
      ...discovery,
      MAILSTREAM_HEARTBEAT_STALE_SECONDS: "420",
    });
    expect(envOf(full, full.stack.controller)).toEqual({
      ...jobRecords,
      ...graph,
      ...discovery,
      MAILSTREAM_ARCHIVE_STAGING_BUCKET: ref(id(full, full.stack.archive.stagingBucket)),
      MAILSTREAM_DEADLINE_MARGIN_MS: "45000",
    });
    // The sweep never calls Graph: no tenant, no secret.
    expect(envOf(full, full.stack.sweep)).toEqual({
      ...jobRecords,
      MAILSTREAM_HEARTBEAT_STALE_SECONDS: "420",
    });

    const minimalEnv = envOf(minimal, minimal.stack.coordinator);
    expect(minimalEnv.MAILSTREAM_ARCHIVE_PREFIX).toBeUndefined();
    expect(minimalEnv.MAILSTREAM_INCLUDE).toBeUndefined();
    // The default, one unit a stream, in both functions that plan.
    expect(minimalEnv.MAILSTREAM_UNITS_PER_STREAM).toBe("1");
    expect(envOf(minimal, minimal.stack.controller).MAILSTREAM_UNITS_PER_STREAM).toBe("1");
    expect(minimalEnv).toMatchObject({
      MAILSTREAM_MAIL_CONTENT: "fidelity",
      MAILSTREAM_DISCOVERY_PIECE_MAILBOXES: "999",
    });
    expect(JSON.stringify(full.template.toJSON())).not.toMatch(
      /clientSecret|privateKeyPem|BEGIN (RSA )?PRIVATE KEY/,
    );
  });
  it("pass their environment through the functions' own configuration loaders unchanged", () => {
    // Stand-ins for the values CloudFormation fills in at deploy time.
    const deployed = (fn: MailstreamFunction) =>
      Object.fromEntries(
        Object.entries(
          full.template.toJSON().Resources[id(full, fn.fn)].Properties.Environment.Variables as Record<
            string,
            unknown
          >,
        ).map(([k, v]) => [
          k,
          typeof v === "string"
            ? v
            : k === "MAILSTREAM_STREAM_QUEUE_URL"
              ? "https://sqs.eu-west-1.amazonaws.com/111122223333/mailstream-tasks"
              : k === "MAILSTREAM_ARCHIVE_KMS_KEY_ID"
                ? "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                : `resolved-${k.toLowerCase().replace(/_/g, "-")}`,
        ]),
      ) as Record<string, string>;
    const common = {
      archive: {
        kind: "s3",
        bucket: "resolved-mailstream-archive-bucket",
        prefix: expect.stringMatching(/^mail\/?$/),
      },
      retention: { jobRecordDays: 30 },
      logLevel: "debug",
      stage: "prod-eu",
    };
    expect(
      loadConfig({ env: { ...deployed(full.stack.coordinator), AWS_REGION: "eu-west-1" } }),
    ).toMatchObject({
      ...common,
      tenant: { tenantId: "contoso.onmicrosoft.com", clientId: FULL_CONFIG.clientId },
      credentials: { source: "secretsManager", secretArn: FULL_CONFIG.secretArn },
      streams: { max: 48, perMailboxConcurrency: 3 },
      pageSize: 250,
      mailboxes: { include: ["@contoso.com"], exclude: ["ceo@contoso.com", "group:Legal"] },
      controller: { heartbeatStaleSeconds: 420 },
    });
    expect(
      loadConfig({ env: { ...deployed(full.stack.controller), AWS_REGION: "eu-west-1" } }),
    ).toMatchObject({
      ...common,
      archive: { ...common.archive, stagingBucket: "resolved-mailstream-archive-staging-bucket" },
      credentials: { source: "secretsManager", secretArn: FULL_CONFIG.secretArn },
      streams: { perMailboxConcurrency: 3 },
      pageSize: 250,
      controller: { deadlineMarginMs: 45_000 },
    });
    // The sweep's loader needs neither tenant nor credential.
    expect(() => loadConfig({ env: { ...deployed(full.stack.sweep), AWS_REGION: "eu-west-1" } })).toThrow(
      /tenant\.tenantId/,
    );
    expect(
      loadStateConfig({ env: { ...deployed(full.stack.sweep), AWS_REGION: "eu-west-1" } }),
    ).toMatchObject({
      ...common,
      controller: { heartbeatStaleSeconds: 420 },
    });
  });
  it("start the coordinator on the configured schedule and the sweep on its own", () => {
    full.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(6 hours)",
      State: "ENABLED",
      Targets: [Match.objectLike({ Arn: arnOf(id(full, full.stack.coordinator.fn)) })],
    });
    full.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(10 minutes)",
      Targets: [Match.objectLike({ Arn: arnOf(id(full, full.stack.sweep.fn)) })],
    });
    minimal.template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "cron(0 2 * * ? *)",
      Targets: [Match.objectLike({ Arn: arnOf(id(minimal, minimal.stack.coordinator.fn)) })],
    });
  });
});

describe("IAM", () => {
  it("grants no action wildcard and no resource * to any function role (X-Ray's own excepted)", () => {
    for (const fn of [full.stack.coordinator, full.stack.controller, full.stack.sweep]) {
      const statements = statementsOfRole(full, fn.role);
      expect(statements.length).toBeGreaterThan(0);
      for (const st of statements) {
        for (const action of actionsOf(st)) expect(action, `${fn.node.id}: ${action}`).not.toContain("*");
        if (!actionsOf(st).every((a) => a.startsWith("xray:"))) {
          expect(JSON.stringify(st.Resource), `${fn.node.id}: ${st.Sid}`).not.toBe('"*"');
        }
        expect(st.Effect).toBe("Allow");
      }
      // The functions use no managed policies (AWSLambdaBasicExecutionRole would allow any log group).
      const role = full.template.toJSON().Resources[id(full, fn.role)].Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
    }
    // Without tracing, no X-Ray permission at all.
    for (const fn of [minimal.stack.coordinator, minimal.stack.controller, minimal.stack.sweep]) {
      expect(allActions(statementsOfRole(minimal, fn.role)).some((a) => a.startsWith("xray:"))).toBe(false);
    }
  });
  it("lets only the coordinator and the controller read the Entra secret, by its exact ARN", () => {
    const secretReaders = [full.stack.coordinator, full.stack.controller];
    for (const fn of secretReaders) {
      const statements = statementsOfRole(full, fn.role);
      const secret = statements.find((st) => actionsOf(st).includes("secretsmanager:GetSecretValue"));
      expect(secret?.Resource).toBe(FULL_CONFIG.secretArn);
      const decrypt = statements.find((st) => st.Resource === FULL_CONFIG.secretKmsKeyArn);
      expect(decrypt).toMatchObject({
        Action: "kms:Decrypt",
        Condition: { StringEquals: { "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com" } },
      });
    }
    expect(allActions(statementsOfRole(full, full.stack.sweep.role))).not.toContain(
      "secretsmanager:GetSecretValue",
    );
  });

  it("scopes archive access to the prefixes each function writes: nothing deletes from the archive", () => {
    const bucketArn = arnOf(id(full, full.stack.archive.bucket));
    const stagingArn = arnOf(id(full, full.stack.archive.stagingBucket));
    const objects = (arn: unknown, sub: string) => ({ "Fn::Join": ["", [arn, `/mail/${sub}*`]] });
    const s3 = (fn: { role: Parameters<typeof statementsOfRole>[1] }) =>
      Object.fromEntries(
        statementsOfRole(full, fn.role)
          .filter((st) => actionsOf(st).some((a) => a.startsWith("s3:")))
          .map((st) => [st.Sid, { actions: actionsOf(st).sort(), resources: [st.Resource].flat() }]),
      );
    expect(s3(full.stack.coordinator)).toEqual({
      WriteJobRecords: {
        actions: ["s3:PutObject"],
        resources: [objects(bucketArn, "jobs/"), objects(bucketArn, "reports/")],
      },
      WriteFolderTrees: { actions: ["s3:PutObject"], resources: [objects(bucketArn, "catalog/")] },
    });
    expect(s3(full.stack.sweep)).toEqual({
      WriteJobRecords: {
        actions: ["s3:PutObject"],
        resources: [objects(bucketArn, "jobs/"), objects(bucketArn, "reports/")],
      },
    });
    expect(s3(full.stack.controller)).toEqual({
      WriteJobRecords: {
        actions: ["s3:PutObject"],
        resources: [objects(bucketArn, "jobs/"), objects(bucketArn, "reports/")],
      },
      FindBlobs: { actions: ["s3:ListBucket"], resources: [bucketArn] },
      ReadBlobs: { actions: ["s3:GetObject"], resources: [objects(bucketArn, "blobs/")] },
      WriteBlobsAndCatalog: {
        actions: ["s3:PutObject"],
        resources: [objects(bucketArn, "blobs/"), objects(bucketArn, "catalog/")],
      },
      // The search index after each job (an index task).
      ReadForTheSearchIndex: {
        actions: ["s3:GetObject"],
        resources: ["catalog/", "index/search/", "jobs/", "reports/", "snapshots/"].map((p) =>
          objects(bucketArn, p),
        ),
      },
      WriteSearchIndex: { actions: ["s3:PutObject"], resources: [objects(bucketArn, "index/search/")] },
      StageLargeMessages: {
        actions: ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        resources: [objects(stagingArn, "staging/")],
      },
    });
  });
  it("grants each function only the DynamoDB actions it uses, together exactly those lib/state's commands need", () => {
    // IAM authorizes a TransactWrite per item, as the Put/Update/Delete/ConditionCheck it holds.
    const perCommand: Record<string, string[]> = {
      Get: ["dynamodb:GetItem"],
      Put: ["dynamodb:PutItem"],
      Update: ["dynamodb:UpdateItem"],
      Delete: ["dynamodb:DeleteItem"],
      Query: ["dynamodb:Query"],
      Scan: ["dynamodb:Scan"],
      BatchGet: ["dynamodb:BatchGetItem"],
      BatchWrite: ["dynamodb:BatchWriteItem"],
      TransactGet: ["dynamodb:GetItem"],
      TransactWrite: [],
    };
    const source = readdirSync("lib/state")
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(`lib/state/${f}`, "utf8"))
      .join("\n");
    const needed = new Set<string>();
    for (const [, command] of source.matchAll(/new (\w+)Command\(/g)) {
      expect(perCommand, `an IAM mapping for ${command}Command`).toHaveProperty(command!);
      for (const action of perCommand[command!]!) needed.add(action);
    }
    for (const [, kind] of source.matchAll(/\b(Put|Update|Delete|ConditionCheck): \{/g)) {
      needed.add(kind === "ConditionCheck" ? "dynamodb:ConditionCheckItem" : `dynamodb:${kind}Item`);
    }
    expect(needed.size).toBeGreaterThan(3);
    const granted = (fn: MailstreamFunction) =>
      [
        ...new Set(allActions(statementsOfRole(full, fn.role)).filter((a) => a.startsWith("dynamodb:"))),
      ].sort();
    expect(granted(full.stack.coordinator)).toEqual([...STATE_ACTIONS.coordinator].sort());
    expect(granted(full.stack.controller)).toEqual([...STATE_ACTIONS.controller].sort());
    expect(granted(full.stack.sweep)).toEqual([...STATE_ACTIONS.sweep].sort());
    const union = new Set(Object.values(STATE_ACTIONS).flat());
    expect([...union].sort()).toEqual([...needed].sort());
  });
  it("scopes state, queue and key access to this deployment's table, queue and key, the key only through its services", () => {
    const tableArn = arnOf(id(full, full.stack.state.table));
    const queueArn = arnOf(id(full, full.stack.streamQueue.queue));
    const keyArn = arnOf(id(full, full.stack.key));
    const via = (service: string) => ({
      StringEquals: {
        "kms:ViaService": { "Fn::Join": ["", [`${service}.`, ref("AWS::Region"), ".amazonaws.com"]] },
      },
    });
    for (const fn of [full.stack.coordinator, full.stack.controller, full.stack.sweep]) {
      const statements = statementsOfRole(full, fn.role);
      for (const st of statements.filter((s) => actionsOf(s).some((a) => a.startsWith("dynamodb:")))) {
        expect(st.Resource).toEqual(tableArn);
      }
      const send = statements.find((st) => st.Sid === "SendStreamTasks");
      expect(send?.Resource).toEqual(queueArn);
      // Every use of the deployment key goes through S3, SQS or DynamoDB.
      const keyStatements = statements.filter((st) => JSON.stringify(st.Resource) === JSON.stringify(keyArn));
      expect(keyStatements.map((st) => st.Sid).sort()).toEqual([
        "KeyForArchive",
        "KeyForQueues",
        "KeyForState",
      ]);
      expect(keyStatements.find((st) => st.Sid === "KeyForState")).toMatchObject({
        Action: "kms:Decrypt",
        Condition: via("dynamodb"),
      });
      expect(keyStatements.find((st) => st.Sid === "KeyForQueues")).toMatchObject({
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Condition: via("sqs"),
      });
      expect(keyStatements.find((st) => st.Sid === "KeyForArchive")).toMatchObject({ Condition: via("s3") });
    }
    // Only the controller decrypts through S3 (multipart uploads and copies read what they encrypt).
    const archiveKey = (fn: MailstreamFunction) =>
      statementsOfRole(full, fn.role).find((st) => st.Sid === "KeyForArchive")?.Action;
    expect(archiveKey(full.stack.controller)).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
    expect(archiveKey(full.stack.coordinator)).toBe("kms:GenerateDataKey");
    expect(archiveKey(full.stack.sweep)).toBe("kms:GenerateDataKey");
    // Only the controller consumes the queue (through its event source mapping), with exactly what the mapping uses.
    expect(
      statementsOfRole(full, full.stack.controller.role).find((st) => st.Sid === "ConsumeStreamTasks"),
    ).toMatchObject({
      Action: ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
      Resource: queueArn,
    });
    expect(allActions(statementsOfRole(full, full.stack.coordinator.role))).not.toContain(
      "sqs:ReceiveMessage",
    );
  });
});

describe("operations", () => {
  it("sends every alarm to the encrypted topic, which has the configured e-mail subscription", () => {
    const topicRef = ref(id(full, full.stack.operations.topic));
    full.template.hasResourceProperties("AWS::SNS::Topic", {
      KmsMasterKeyId: arnOf(id(full, full.stack.key)),
    });
    full.template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "backup-ops@contoso.com",
      TopicArn: topicRef,
    });
    minimal.template.resourceCountIs("AWS::SNS::Subscription", 0);
    const ops = full.stack.operations;
    for (const alarm of [
      ops.jobFailedAlarm,
      ops.deadLettersAlarm,
      ops.noSuccessfulJobAlarm,
      ops.functionErrorsAlarm,
    ]) {
      const props = full.template.toJSON().Resources[id(full, alarm)].Properties;
      expect(props.AlarmActions, alarm.node.id).toEqual([topicRef]);
    }
  });

  it("alarms when the dead-letter queue is not empty", () => {
    const props =
      full.template.toJSON().Resources[id(full, full.stack.operations.deadLettersAlarm)].Properties;
    expect(props).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [
        {
          Name: "QueueName",
          Value: { "Fn::GetAtt": [id(full, full.stack.streamQueue.deadLetterQueue), "QueueName"] },
        },
      ],
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
    });
  });

  it("alarms on a failed job and when no job succeeded in two schedule periods", () => {
    const alarm = (s: Synthesized, construct: IConstruct) =>
      s.template.toJSON().Resources[id(s, construct)].Properties as Record<string, unknown>;
    expect(alarm(full, full.stack.operations.jobFailedAlarm)).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.jobsFailed,
      Dimensions: [{ Name: "Stage", Value: "prod-eu" }],
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
    });
    // rate(6 hours): one 12-hour period.
    expect(alarm(full, full.stack.operations.noSuccessfulJobAlarm)).toMatchObject({
      MetricName: METRIC.jobsSucceeded,
      Dimensions: [{ Name: "Stage", Value: "prod-eu" }],
      ComparisonOperator: "LessThanThreshold",
      Threshold: 1,
      Period: 12 * 3600,
      EvaluationPeriods: 1,
      TreatMissingData: "breaching",
    });
    // cron with a 30-hour window: periods are capped at one day, so two of them.
    expect(alarm(minimal, minimal.stack.operations.noSuccessfulJobAlarm)).toMatchObject({
      Period: 86_400,
      EvaluationPeriods: 2,
      TreatMissingData: "breaching",
    });
  });

  it("has a dashboard of throughput, throttling, streams, errors, queue depth and dead letters", () => {
    const dashboards = full.template.findResources("AWS::CloudWatch::Dashboard");
    const [dashboard] = Object.values(dashboards);
    expect(dashboard?.Properties.DashboardName).toBe("mailstream-prod-eu");
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const metric of Object.values(METRIC)) expect(body).toContain(metric);
    expect(body).toContain(METRICS_NAMESPACE);
    expect(body).toContain("ApproximateNumberOfMessagesVisible");
    expect(body).toContain(id(full, full.stack.streamQueue.deadLetterQueue));
    expect(body).toContain(id(full, full.stack.streamQueue.queue));
  });
});

describe("side-by-side deployments", () => {
  it("hard-code no physical names that two stages could share", () => {
    const resources = Object.values(full.template.toJSON().Resources) as {
      Properties?: Record<string, unknown>;
    }[];
    for (const r of resources) {
      for (const name of ["BucketName", "TableName", "QueueName", "FunctionName", "TopicName", "RoleName"]) {
        // A reference to a generated name is fine; a literal would clash between stages.
        expect(typeof r.Properties?.[name]).not.toBe("string");
      }
    }
    // The names that must be set carry the stage.
    expect(full.stack.stackName).toBe("Mailstream-prod-eu");
    expect(minimal.stack.stackName).toBe("Mailstream-dev");
    minimal.template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardName: "mailstream-dev" });
    minimal.template.hasResourceProperties("AWS::Athena::WorkGroup", { Name: "mailstream-dev" });
    minimal.template.hasResourceProperties("AWS::Glue::Database", {
      DatabaseInput: { Name: "mailstream_dev" },
    });
  });
});
