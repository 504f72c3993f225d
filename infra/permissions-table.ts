/**
 * The least-privilege tables of docs/deploy.md, generated from a synthesized stack's own policies
 * (test/infra/deploy-docs.test.ts checks that the document holds exactly these). Print them with
 * `npx tsx infra/permissions-table.ts`.
 */
import { App, type CfnResource, type Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { type DeploymentConfigInput, parseDeploymentConfig } from "./config.js";
import { cdkFeatureFlags } from "./feature-flags.js";
import { MailstreamStack } from "./mailstream-stack.js";

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The archive prefix the tables show as `<prefix>`. */
const PREFIX = "PREFIX/";

/** The configuration the documented tables come from: every optional permission shown, each marked. */
export const TABLE_CONFIG: DeploymentConfigInput = {
  configVersion: 2,
  stage: "docs",
  tenantId: "contoso.onmicrosoft.com",
  clientId: "11111111-2222-3333-4444-555555555555",
  secretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mailstream/prod-Ab12Cd",
  secretKmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  archivePrefix: PREFIX,
  tracing: true,
  restore: {
    clientId: "66666666-7777-8888-9999-000000000000",
    secretArn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:mailstream/prod-restore-Xy34Zw",
    secretKmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  },
};

/** When a statement exists only with an option. */
const NOTES: Record<string, string> = {
  DecryptEntraCredentials: " (with `secretKmsKeyArn`)",
  DecryptRestoreCredentials: " (with `restore.secretKmsKeyArn`)",
  XRay: " (with `tracing`)",
};

function logicalId(construct: IConstruct): string {
  const stack = construct.node.scopes.find((s): s is Stack => (s as Stack).stackName !== undefined)!;
  return stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnResource)) as string;
}

function describer(stack: MailstreamStack): (resource: unknown) => string {
  const names = new Map<string, string>([
    [logicalId(stack.archive.bucket), "archive"],
    [logicalId(stack.archive.stagingBucket), "staging bucket"],
    [logicalId(stack.state.table), "state table"],
    [logicalId(stack.streamQueue.queue), "stream queue"],
    [logicalId(stack.failedInvocations), "failed-invocations queue"],
    [logicalId(stack.key), "deployment key"],
    ...[stack.coordinator, stack.controller, stack.sweep].map(
      (f) => [logicalId(f.logGroup), "its log group"] as const,
    ),
  ]);
  const config = stack.config;
  const literal = new Map<string, string>([
    [config.secretArn, "the backup app's secret"],
    ...(config.secretKmsKeyArn ? [[config.secretKmsKeyArn, "the secret's own KMS key"] as const] : []),
    ...(config.restore ? [[config.restore.secretArn, "the restore app's secret"] as const] : []),
  ]);
  const one = (r: unknown): string => {
    if (typeof r === "string") return literal.get(r) ?? (r === "*" ? "`*` (no resource)" : `\`${r}\``);
    const v = r as Record<string, unknown>;
    const att = v["Fn::GetAtt"] as [string, string] | undefined;
    if (att) return names.get(att[0]) ?? att[0];
    if (typeof v.Ref === "string") return names.get(v.Ref) ?? v.Ref;
    const join = v["Fn::Join"] as [string, unknown[]] | undefined;
    if (join) {
      const [head, ...rest] = join[1];
      return `${one(head)} \`${rest.map(String).join("").replace(/^\//, "").replace(PREFIX, "<prefix>")}\``;
    }
    return JSON.stringify(r);
  };
  return (resource) => [resource].flat().map(one).join(", ");
}

function conditionText(condition: Statement["Condition"]): string {
  const via = condition?.StringEquals?.["kms:ViaService"];
  if (via === undefined) return "";
  const text = typeof via === "string" ? via : JSON.stringify(via);
  const service = /(dynamodb|sqs|s3|secretsmanager)\./.exec(text)?.[1] ?? text;
  const names: Record<string, string> = {
    dynamodb: "DynamoDB",
    sqs: "SQS",
    s3: "S3",
    secretsmanager: "Secrets Manager",
  };
  return `, only through ${names[service] ?? service}`;
}

function statementsOf(
  template: Record<string, { Type: string; Properties?: Record<string, unknown> }>,
  roleId: string,
) {
  return Object.values(template)
    .filter(
      (r) =>
        r.Type === "AWS::IAM::Policy" &&
        JSON.stringify(r.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]),
    )
    .flatMap((r) => (r.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** The tables of the stack `config` synthesizes. */
export function leastPrivilegeTables(config: DeploymentConfigInput = TABLE_CONFIG): {
  functions: string;
  restore: string;
} {
  const app = new App({ context: { ...cdkFeatureFlags(), "aws:cdk:bundling-stacks": [] } });
  const stack = new MailstreamStack(app, "Tables", { config: parseDeploymentConfig(config) });
  const template = app.synth().getStackByName(stack.stackName).template.Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const describe = describer(stack);
  const row = (st: Statement) => {
    const actions = [st.Action].flat();
    const sid = st.Sid ?? (actions.every((a) => a.startsWith("xray:")) ? "XRay" : "?");
    const cells = [
      `\`${sid}\`${NOTES[sid] ?? ""}`,
      actions.map((a) => `\`${a}\``).join(", "),
      `${describe(st.Resource)}${conditionText(st.Condition)}`,
    ];
    return { key: cells.join("|"), cells };
  };
  const fns = [stack.coordinator, stack.controller, stack.sweep];
  const rows = new Map<string, { cells: string[]; has: Set<number> }>();
  fns.forEach((fn, i) => {
    for (const st of statementsOf(template, logicalId(fn.role))) {
      const { key, cells } = row(st);
      const entry = rows.get(key) ?? { cells, has: new Set<number>() };
      entry.has.add(i);
      rows.set(key, entry);
    }
  });
  const functions = [
    "| Statement | Actions | On | coordinator | controller | sweep |",
    "|---|---|---|:-:|:-:|:-:|",
    ...[...rows.values()].map(
      (r) => `| ${r.cells.join(" | ")} | ${[0, 1, 2].map((i) => (r.has.has(i) ? "✓" : "–")).join(" | ")} |`,
    ),
  ].join("\n");
  const restore = [
    "| Statement | Actions | On |",
    "|---|---|---|",
    ...(stack.restoreRole ? statementsOf(template, logicalId(stack.restoreRole.role)) : []).map(
      (st) => `| ${row(st).cells.join(" | ")} |`,
    ),
  ].join("\n");
  return { functions, restore };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tables = leastPrivilegeTables();
  console.log(`${tables.functions}\n\n${tables.restore}`);
}
