/** Deployment configurations and a one-shot synth shared by the infra tests. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { buildMailstream } from "../../infra/app.js";
import { type DeploymentConfigInput, parseDeploymentConfig } from "../../infra/config.js";
import type { MailstreamStack } from "../../infra/mailstream-stack.js";

/** Every option set to a non-default value, so assertions prove the value reaches the template. */
export const FULL_CONFIG = {
  stage: "prod-eu",
  tenantId: "contoso.onmicrosoft.com",
  clientId: "11111111-2222-3333-4444-555555555555",
  secretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mailstream/prod-Ab12Cd",
  secretKmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  schedule: "rate(6 hours)",
  sweepSchedule: "rate(10 minutes)",
  streams: { max: 48, perMailboxConcurrency: 3 },
  pageSize: 250,
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
  stage: "dev",
  tenantId: "9f8e7d6c-5b4a-3210-fedc-ba9876543210",
  clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  secretArn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:mailstream-dev-Zz99Yy",
  schedule: "cron(0 2 * * ? *)",
  noSuccessAlarmHours: 30,
} satisfies DeploymentConfigInput;

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

/** The feature flags of cdk.json (not its example configuration), so tests synthesize like the CLI. */
function featureFlags(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL("../../cdk.json", import.meta.url), "utf8")) as {
    context: Record<string, unknown>;
  };
  return Object.fromEntries(Object.entries(cdkJson.context).filter(([key]) => key.startsWith("@aws-cdk/")));
}

/** An app writing to its own temporary assembly directory (tests run in parallel). */
export function newApp(): App {
  return new App({
    outdir: mkdtempSync(join(tmpdir(), "mailstream-cdk-")),
    // No bundling and no CloudFormation schema validation here: together they cost 10-30 s per
    // synth, and test/infra/synth.test.ts exercises both through the CLI.
    context: { ...featureFlags(), "aws:cdk:bundling-stacks": [] },
    builtinCloudFormationValidation: false,
  });
}
