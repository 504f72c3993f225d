/**
 * Deployed stacks upgrade in place. A stack deployed with mailstream 0.1 keeps every stateful
 * resource (archive, logs, state table, key, queues) under the same logical id with the same
 * replacement-relevant properties (test/infra/fixtures/release-0.1-stateful-resources.json holds
 * what 0.1 synthesized); a configuration written for 0.1 stops at synth with the safe choices; and
 * a later change of Object Lock (on or off) or of the archive prefix changes the archive settings
 * guard, which CloudFormation must update before the bucket and cannot replace.
 */
import { readFileSync } from "node:fs";
import type { CfnResource } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { type DeploymentConfigInput, parseDeploymentConfig } from "../../infra/config.js";
import { ConfigError } from "../../lib/errors.js";
import { MINIMAL_CONFIG, RELEASE_0_1_CONFIGS, type Synthesized, synthesize } from "./fixtures.js";

type Recorded = Record<string, { Type: string } & Record<string, unknown>>;
const release01 = JSON.parse(
  readFileSync(new URL("./fixtures/release-0.1-stateful-resources.json", import.meta.url), "utf8"),
) as { minimal: Recorded; full: Recorded };

/** What an operator changes in a 0.1 configuration to upgrade, as docs/deploy.md says. */
function upgraded(config: Record<string, unknown>): DeploymentConfigInput {
  return {
    ...config,
    configVersion: 2,
    ...(config.objectLock === undefined ? { objectLock: "off" } : {}),
  } as DeploymentConfigInput;
}

const guardOf = (s: Synthesized) => {
  const resource = s.stack.archive.guard.resource as CfnResource;
  const id = s.stack.resolve(s.stack.getLogicalId(resource)) as string;
  return { id, props: s.template.toJSON().Resources[id].Properties as Record<string, unknown> };
};

describe("upgrading a stack deployed with mailstream 0.1", () => {
  it.each(["minimal", "full"] as const)(
    "keeps every stateful resource of the %s 0.1 deployment, with the properties whose change would replace it",
    (which) => {
      const now = synthesize(upgraded(RELEASE_0_1_CONFIGS[which]));
      const resources = now.template.toJSON().Resources as Record<
        string,
        { Type: string; Properties?: Record<string, unknown> }
      >;
      for (const [logicalId, before] of Object.entries(release01[which])) {
        const { Type, ...replacing } = before;
        expect(resources[logicalId]?.Type, `${logicalId} is still there`).toBe(Type);
        for (const [property, value] of Object.entries(replacing)) {
          expect(resources[logicalId]!.Properties?.[property], `${logicalId}.${property}`).toEqual(value);
        }
        // A property that 0.1 left unset and that would replace the resource stays unset.
        for (const property of [
          "BucketName",
          "ObjectLockEnabled",
          "TableName",
          "QueueName",
          "LogGroupName",
        ]) {
          if (!(property in replacing)) {
            expect(resources[logicalId]!.Properties?.[property], `${logicalId}.${property}`).toBeUndefined();
          }
        }
      }
      // Still retained on deletion and on replacement.
      for (const logicalId of Object.keys(release01[which]).filter((id) =>
        /^(ArchiveBucket|StateTable|Key)/.test(id),
      )) {
        expect(now.template.toJSON().Resources[logicalId]).toMatchObject({
          DeletionPolicy: "Retain",
          UpdateReplacePolicy: "Retain",
        });
      }
    },
  );

  it("stops at synth when the configuration was written for 0.1, naming the field and the safe choices", () => {
    let error: unknown;
    try {
      parseDeploymentConfig(RELEASE_0_1_CONFIGS.minimal);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe("deployment.configVersion");
    expect((error as Error).message).toMatch(/"objectLock": "off" to keep its archive bucket/);
  });

  it("creates new deployments with the same logical ids for the archive, the table and the key", () => {
    const fresh = synthesize(MINIMAL_CONFIG);
    const ids = Object.keys(fresh.template.toJSON().Resources);
    for (const id of [
      "ArchiveBucket49F1AC64",
      "StateTable962DE04C",
      "Key961B73FD",
      "ArchiveAccessLogs31F4F9D7",
    ]) {
      expect(ids).toContain(id);
    }
  });
});

describe("the archive settings guard", () => {
  const base = synthesize({ ...MINIMAL_CONFIG, stage: "guard" });

  it("is a named policy, attached to nothing, that the archive bucket depends on", () => {
    const { id, props } = guardOf(base);
    expect(props).toMatchObject({
      ManagedPolicyName: {
        "Fn::Join": ["", ["mailstream-guard-", { Ref: "AWS::Region" }, "-archive-settings"]],
      },
      Path: "/mailstream/archive/objectlock-on/prefix-root/",
    });
    expect(props.Roles ?? props.Users ?? props.Groups).toBeUndefined();
    const bucketId = base.stack.resolve(
      base.stack.getLogicalId(base.stack.archive.bucket.node.defaultChild as CfnResource),
    ) as string;
    expect([base.template.toJSON().Resources[bucketId].DependsOn].flat()).toContain(id);
  });

  it.each([
    ["turning Object Lock off", { objectLock: "off" }, "/mailstream/archive/objectlock-off/prefix-root/"],
    [
      "moving the archive under a prefix",
      { archivePrefix: "mail/" },
      /^\/mailstream\/archive\/objectlock-on\/prefix-[0-9a-f]{16}\/$/,
    ],
  ] as const)("changes its path (which CloudFormation can only replace) on %s", (_what, change, path) => {
    const changed = guardOf(
      synthesize({ ...MINIMAL_CONFIG, stage: "guard", ...change } as DeploymentConfigInput),
    );
    expect(changed.id).toBe(guardOf(base).id);
    expect(changed.props.ManagedPolicyName).toEqual(guardOf(base).props.ManagedPolicyName);
    if (typeof path === "string") expect(changed.props.Path).toBe(path);
    else expect(changed.props.Path).toMatch(path);
    expect(changed.props.Path).not.toBe(guardOf(base).props.Path);
  });

  it("stays as it is for changes S3 makes in place: Object Lock mode and days, retention, schedules, sizing", () => {
    const changed = guardOf(
      synthesize({
        ...MINIMAL_CONFIG,
        stage: "guard",
        objectLock: { mode: "compliance", days: 3650 },
        retention: { noncurrentVersionDays: 30 },
        streams: { max: 64 },
        controller: { memoryMb: 2048 },
      }),
    );
    expect(changed.props).toEqual(guardOf(base).props);
    expect(
      parseDeploymentConfig({ ...MINIMAL_CONFIG, objectLock: { mode: "compliance", days: 3650 } }).objectLock,
    ).toEqual({
      mode: "compliance",
      days: 3650,
    });
  });
});
