import { Validations } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import cdkNag from "cdk-nag";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMailstream } from "../../infra/app.js";
import { parseDeploymentConfig } from "../../infra/config.js";
import { FULL_CONFIG, MINIMAL_CONFIG, newApp, type Synthesized, synthesize } from "./fixtures.js";

function nagFindings(scope: IConstruct): string[] {
  const report = new cdkNag.AwsSolutionsChecks().validateScope(scope);
  return report.violations.map(
    (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
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

  it("records a specific reason for every acknowledgement, on a function or its role, never the whole stack", () => {
    const acks = acknowledgements(full.stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const [path, rule, reason] of acks) {
      expect(rule).toMatch(
        /AwsSolutions-(L1|IAM5\[Resource::<ArchiveBucket[0-9A-F]+\.Arn>\/mail\/[a-z/]*\*\])$/,
      );
      expect(reason.length, `${path} ${rule}`).toBeGreaterThan(60);
      expect(path).toMatch(/^Mailstream-prod-eu\/(Coordinator|Controller|Sweep)\/(Function|Role)$/);
    }
    // Reasons are not copy-paste: each acknowledged wildcard says why that one is needed.
    const iamReasons = acks.filter(([, rule]) => rule.includes("IAM5")).map(([, , reason]) => reason);
    expect(new Set(iamReasons).size).toBe(iamReasons.length);
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
