import { Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import cdkNag from "cdk-nag";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMailstream } from "../../infra/app.js";
import { parseDeploymentConfig } from "../../infra/config.js";
import { FULL_CONFIG, MINIMAL_CONFIG, newApp, type Synthesized, synthesize } from "./fixtures.js";

/** Unacknowledged findings of the AwsSolutions and the Serverless packs. */
function nagFindings(scope: IConstruct): string[] {
  return [new cdkNag.AwsSolutionsChecks(), new cdkNag.ServerlessChecks()].flatMap((pack) =>
    pack
      .validateScope(scope)
      .violations.map(
        (v) =>
          `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
      ),
  );
}

/** Every acknowledgement recorded in the tree: [construct path, rule id, reason]. */
function acknowledgements(scope: IConstruct): [string, string, string][] {
  const found: [string, string, string][] = [];
  for (const construct of scope.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [rule, value] of Object.entries(entry.data as Record<string, unknown>)) {
        const reason =
          typeof value === "string" ? value : String((value as { reason?: unknown }).reason ?? "");
        found.push([construct.node.path, rule, reason]);
      }
    }
  }
  return found;
}

let full: Synthesized;
let minimal: Synthesized;
beforeAll(() => {
  full = synthesize(FULL_CONFIG);
  minimal = synthesize(MINIMAL_CONFIG);
});

describe("cdk-nag AwsSolutions", () => {
  it("finds nothing unacknowledged in the fully configured and the minimal deployment", () => {
    expect(nagFindings(full.stack)).toEqual([]);
    expect(nagFindings(minimal.stack)).toEqual([]);
  });

  it("records a specific reason for every acknowledgement, on the construct it concerns, never the whole stack", () => {
    // Which findings may be acknowledged where: wildcards of run-time keys on the roles that use
    // them, the pinned runtime on the functions, dead-letter queues being dead-letter queues.
    const allowed: Array<[RegExp, RegExp]> = [
      [
        /^(Coordinator|Controller|Sweep)\/Function$/,
        /(^|::)(AwsSolutions-L1|Serverless-LambdaLatestVersion|Serverless-LambdaDLQ|Serverless-LambdaTracing)$/,
      ],
      [/^Controller\/Function\/SqsEventSource:/, /(^|::)Serverless-LambdaEventSourceMappingDestination$/],
      [
        /^(Coordinator|Controller|Sweep)\/Role$/,
        /(^|::)AwsSolutions-IAM5\[Resource::(<Archive(Bucket|Staging)[0-9A-F]+\.Arn>\/(mail\/)?[a-z]+\/([a-z]+\/)?\*|\*)\]$/,
      ],
      [/^Restore\/Role$/, /(^|::)AwsSolutions-IAM5\[Resource::<ArchiveBucket[0-9A-F]+\.Arn>\/mail\/\*\]$/],
      [
        /^Archive\/ReplicationRole$/,
        /(^|::)AwsSolutions-IAM5\[Resource::(<ArchiveBucket[0-9A-F]+\.Arn>|arn:aws:s3:::contoso-mail-vault)\/mail\/\*\]$/,
      ],
      [
        /^(FailedInvocations|StreamQueue\/DeadLetters)$/,
        /(^|::)(AwsSolutions-SQS3|Serverless-SQSRedrivePolicy)$/,
      ],
    ];
    const acks = [...acknowledgements(full.stack), ...acknowledgements(minimal.stack)];
    expect(acks.length).toBeGreaterThan(10);
    for (const [path, rule, reason] of acks) {
      const relative = path.replace(/^Mailstream-[a-z-]+\//, "");
      expect(
        allowed.some(([p, r]) => p.test(relative) && r.test(rule)),
        `${rule} acknowledged at ${relative}`,
      ).toBe(true);
      expect(reason.length, `${path} ${rule}`).toBeGreaterThan(60);
    }
    // Reasons are not copy-paste: each acknowledged wildcard of a role says why that one is needed.
    for (const stack of [full.stack, minimal.stack]) {
      const byRole = new Map<string, string[]>();
      for (const [path, , reason] of acknowledgements(stack).filter(([, r]) => r.includes("IAM5"))) {
        byRole.set(path, [...(byRole.get(path) ?? []), reason]);
      }
      for (const [path, reasons] of byRole) expect(new Set(reasons).size, path).toBe(reasons.length);
    }
  });

  it("still reports a new wildcard permission (acknowledgements are narrow)", () => {
    const app = newApp();
    const stack = buildMailstream(app, parseDeploymentConfig({ ...MINIMAL_CONFIG, stage: "nagcheck" }));
    stack.coordinator.role.addToPolicy(new iam.PolicyStatement({ actions: ["s3:*"], resources: ["*"] }));
    const findings = nagFindings(stack);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringContaining("AwsSolutions-IAM5[Action::s3:*]"),
        expect.stringContaining("AwsSolutions-IAM5[Resource::*]"),
      ]),
    );
    expect(findings.every((f) => f.includes("Mailstream-nagcheck/Coordinator/Role"))).toBe(true);
  });
});
