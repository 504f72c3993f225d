/** Deployment configurations and a one-shot synth shared by the infra tests. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { buildMailstream } from "../../infra/app.js";
import { type DeploymentConfigInput, parseDeploymentConfig } from "../../infra/config.js";
import { cdkFeatureFlags } from "../../infra/feature-flags.js";
import type { MailstreamStack } from "../../infra/mailstream-stack.js";

/** Every option set to a non-default value, so assertions prove the value reaches the template. */
export const FULL_CONFIG = {
  configVersion: 2,
  stage: "prod-eu",
  tenantId: "contoso.onmicrosoft.com",
  clientId: "11111111-2222-3333-4444-555555555555",
  secretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mailstream/prod-Ab12Cd",
  secretKmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  schedule: "rate(6 hours)",
  sweepSchedule: "rate(10 minutes)",
  streams: { max: 48, perMailboxConcurrency: 3, unitsPerStream: 4 },
  pageSize: 250,
  mailContent: "fidelity",
  discoveryPieceMailboxes: 500,
  include: ["@contoso.com"],
  exclude: ["ceo@contoso.com", "group:Legal"],
  archivePrefix: "mail/",
  retention: {
    jobRecordDays: 30,
    noncurrentVersionDays: 365,
    infrequentAccessAfterDays: 45,
    glacierInstantRetrievalAfterDays: 400,
    logDays: 180,
  },
  objectLock: { mode: "compliance", days: 2555 },
  breakGlassRoleArn: "arn:aws:iam::111122223333:role/mailstream-break-glass",
  replication: {
    bucketArn: "arn:aws:s3:::contoso-mail-vault",
    account: "999988887777",
    kmsKeyArn: "arn:aws:kms:eu-central-1:999988887777:key/abcdabcd-1234-5678-9abc-abcdabcdabcd",
    storageClass: "GLACIER_IR",
  },
  restore: {
    clientId: "66666666-7777-8888-9999-000000000000",
    secretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mailstream/prod-restore-Xy34Zw",
    trustedPrincipalArns: ["arn:aws:iam::111122223333:role/mail-restore-operators"],
  },
  tracing: true,
  alarmEmail: "backup-ops@contoso.com",
  controller: { memoryMb: 1536, timeoutSeconds: 600 },
  coordinator: { memoryMb: 768, timeoutSeconds: 300 },
  sweep: { memoryMb: 320, timeoutSeconds: 90 },
  heartbeatStaleSeconds: 420,
  deadlineMarginMs: 45_000,
  logLevel: "debug",
} satisfies DeploymentConfigInput;

/** Only the required fields, plus a cron schedule (which needs the alarm window). */
export const MINIMAL_CONFIG = {
  configVersion: 2,
  stage: "dev",
  tenantId: "9f8e7d6c-5b4a-3210-fedc-ba9876543210",
  clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  secretArn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:mailstream-dev-Zz99Yy",
  schedule: "cron(0 2 * * ? *)",
  noSuccessAlarmHours: 30,
} satisfies DeploymentConfigInput;

/**
 * The configurations mailstream 0.1's tests deployed (no `configVersion`), as an operator's files
 * of that release look: test/infra/fixtures/release-0.1-stateful-resources.json holds what 0.1
 * synthesized from them.
 */
export const RELEASE_0_1_CONFIGS = {
  minimal: (({ configVersion: _v, ...rest }) => rest)(MINIMAL_CONFIG),
  full: (({ configVersion: _v, breakGlassRoleArn: _b, replication: _r, restore: _s, tracing: _t, ...rest }) =>
    rest)(FULL_CONFIG),
};

export interface Synthesized {
  app: App;
  stack: MailstreamStack;
  template: Template;
}

/** Builds and synthesizes (bundling included) the stack of one configuration. */
export function synthesize(input: DeploymentConfigInput, app = newApp()): Synthesized {
  const stack = buildMailstream(app, parseDeploymentConfig(input));
  return { app, stack, template: Template.fromStack(stack) };
}

/** An app writing to its own temporary assembly directory (tests run in parallel). */
export function newApp(): App {
  return new App({
    outdir: mkdtempSync(join(tmpdir(), "mailstream-cdk-")),
    // No bundling and no CloudFormation schema validation here: together they cost 10-30 s per
    // synth, and test/infra/synth.test.ts exercises both through the CLI.
    context: { ...cdkFeatureFlags(), "aws:cdk:bundling-stacks": [] },
    builtinCloudFormationValidation: false,
  });
}
