import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CONTEXT_KEYS,
  type DeploymentConfigInput,
  noSuccessWindowSeconds,
  parseDeploymentConfig,
  readDeploymentConfig,
} from "../../infra/config.js";
import { schedulePeriodSeconds, scheduleProblem } from "../../infra/schedule.js";
import { ConfigError } from "../../lib/errors.js";
import { FULL_CONFIG, MINIMAL_CONFIG } from "./fixtures.js";

const REQUIRED = {
  configVersion: 2,
  stage: "test",
  tenantId: "9f8e7d6c-5b4a-3210-fedc-ba9876543210",
  clientId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  secretArn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:mailstream-dev-Zz99Yy",
} satisfies DeploymentConfigInput;

function errorOf(raw: unknown): ConfigError {
  try {
    parseDeploymentConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError, got a valid configuration");
}

function context(values: Record<string, unknown>) {
  return { tryGetContext: (key: string) => values[key] };
}

describe("deployment configuration", () => {
  it("applies the documented defaults", () => {
    const c = parseDeploymentConfig(REQUIRED);
    expect(c).toMatchObject({
      schedule: "rate(4 hours)",
      sweepSchedule: "rate(5 minutes)",
      streams: { max: 16, perMailboxConcurrency: 4, unitsPerStream: 1 },
      pageSize: 100,
      mailContent: "fidelity",
      discoveryPieceMailboxes: 999,
      include: [],
      exclude: [],
      archivePrefix: "",
      retention: {
        jobRecordDays: 90,
        noncurrentVersionDays: 90,
        infrequentAccessAfterDays: 30,
        glacierInstantRetrievalAfterDays: 180,
        logDays: 90,
      },
      controller: { memoryMb: 512, timeoutSeconds: 900 },
      coordinator: { memoryMb: 512, timeoutSeconds: 900 },
      sweep: { memoryMb: 256, timeoutSeconds: 120 },
      heartbeatStaleSeconds: 300,
      deadlineMarginMs: 60_000,
      logLevel: "info",
    });
    // A vault by default: Object Lock in governance mode for 90 days; no break-glass role, no copies.
    expect(c.objectLock).toEqual({ mode: "governance", days: 90 });
    expect(c.breakGlassRoleArn).toBeUndefined();
    expect(c.replication).toBeUndefined();
    expect(c.restore).toBeUndefined();
    expect(c.tracing).toBe(false);
    expect(c.streams.reserveConcurrency).toBe(true);
    expect(c.alarmEmail).toBeUndefined();
    // Two schedule periods of rate(4 hours).
    expect(noSuccessWindowSeconds(c)).toBe(8 * 3600);
  });

  it("keeps every configured value", () => {
    const c = parseDeploymentConfig(FULL_CONFIG);
    expect(c).toMatchObject(FULL_CONFIG);
    expect(noSuccessWindowSeconds(parseDeploymentConfig(MINIMAL_CONFIG))).toBe(30 * 3600);
  });

  it.each([
    [
      { tenantId: "not a tenant" },
      "deployment.tenantId",
      'expected a GUID or a domain name, found "not a tenant"',
    ],
    [
      { clientId: "1234" },
      "deployment.clientId",
      'expected a GUID (the app registration\'s Application (client) ID), found "1234"',
    ],
    [
      { secretArn: "arn:aws:secretsmanager:us-east-1:444455556666:secret:mailstream" },
      "deployment.secretArn",
      "the complete Secrets Manager secret ARN",
    ],
    [
      { schedule: "every 4 hours" },
      "deployment.schedule",
      'expected "rate(<n> minutes|hours|days)" or "cron(<6 fields>)", found "every 4 hours"',
    ],
    [
      { schedule: "rate(1 hours)" },
      "deployment.schedule",
      'use the singular unit for 1, e.g. "rate(1 hour)"',
    ],
    [{ streams: { max: 1 } }, "deployment.streams.max", "expected an integer from 2 to 1000, found 1"],
    [
      { streams: { max: "many" } },
      "deployment.streams.max",
      'expected an integer from 2 to 1000, found "many"',
    ],
    [
      { streams: { perMailboxConcurrency: 5 } },
      "deployment.streams.perMailboxConcurrency",
      "expected an integer from 1 to 4, found 5",
    ],
    [{ mailContent: "eml" }, "deployment.mailContent", "expected one of fidelity, mime, both"],
    [
      { discoveryPieceMailboxes: 1000 },
      "deployment.discoveryPieceMailboxes",
      "expected an integer from 1 to 999, found 1000",
    ],
    [
      { streams: { unitsPerStream: 9 } },
      "deployment.streams.unitsPerStream",
      "expected an integer from 1 to 8, found 9",
    ],
    [{ stage: "Prod_1" }, "deployment.stage", 'starting with a letter, found "Prod_1"'],
    [{ alarmEmail: "ops" }, "deployment.alarmEmail", 'expected an e-mail address, found "ops"'],
    [
      { objectLock: { mode: "forever", days: 30 } },
      "deployment.objectLock",
      'expected {"mode": "governance"|"compliance", "days": 1-36500} or "off", found {"mode":"forever","days":30}',
    ],
    [{ objectLock: "on" }, "deployment.objectLock", 'or "off", found "on"'],
    [{ breakGlassRoleArn: "admin" }, "deployment.breakGlassRoleArn", "expected an IAM role ARN"],
    [
      { replication: { bucketArn: "vault", account: "1", kmsKeyArn: "k" } },
      "deployment.replication.bucketArn",
      "expected an S3 bucket ARN",
    ],
    [
      { restore: { clientId: "x", secretArn: "y" } },
      "deployment.restore.clientId",
      "expected a GUID (the restore app's Application (client) ID)",
    ],
    [{ retention: { logDays: 100 } }, "deployment.retention.logDays", "expected one of 1, 3, 5"],
    [{ archivePrefix: "mail" }, "deployment.archivePrefix", 'ending in "/"'],
    [{ graphBaseUrl: "http://graph.example" }, "deployment.graphBaseUrl", "expected an https:// URL"],
    [
      { schedule: "cron(0 2 * * ? *)" },
      "deployment.noSuccessAlarmHours",
      "when the schedule is a cron(…) expression, found nothing",
    ],
    [
      { retention: { infrequentAccessAfterDays: 60, glacierInstantRetrievalAfterDays: 70 } },
      "deployment.retention.glacierInstantRetrievalAfterDays",
      "expected 0 or at least infrequentAccessAfterDays + 30 (90), as S3 requires, found 70",
    ],
    [
      { controller: { timeoutSeconds: 60 }, deadlineMarginMs: 60_000 },
      "deployment.deadlineMarginMs",
      "(60000)",
    ],
    [{ tenantID: "x" }, "deployment.(root)", "unknown field(s) tenantID"],
  ])("rejects %j naming the field, what was expected and what was found", (override, field, text) => {
    const e = errorOf({ ...REQUIRED, ...override });
    expect(e.field).toBe(field);
    expect(e.message).toContain(text);
    expect(e.message).toContain(field.replace(/^deployment\./, ""));
  });

  it("stops a configuration written for mailstream 0.1 (no configVersion), naming the safe choices", () => {
    const { configVersion: _v, ...legacy } = REQUIRED;
    const e = errorOf(legacy);
    expect(e.field).toBe("deployment.configVersion");
    expect(e.message).toContain("expected 2, the configuration format of this release");
    expect(e.message).toContain('"objectLock": "off" to keep its archive bucket');
    expect(e.message).toContain('docs/deploy.md, "Upgrading from mailstream 0.1"');
    expect(e.message).toContain("found nothing");
    expect(parseDeploymentConfig({ ...REQUIRED, objectLock: "off" }).objectLock).toBe("off");
  });

  it("reports every bad field at once", () => {
    const e = errorOf({ stage: "x", tenantId: "?", clientId: "?", secretArn: "?" });
    for (const field of ["tenantId", "clientId", "secretArn"])
      expect(e.message).toContain(`${field}: expected`);
  });

  it("reads the configuration file named in context before the inline example", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailstream-config-"));
    writeFileSync(join(dir, "prod.json"), JSON.stringify({ ...REQUIRED, stage: "from-file" }));
    const c = readDeploymentConfig(
      context({ [CONTEXT_KEYS.file]: "prod.json", [CONTEXT_KEYS.inline]: { ...REQUIRED, stage: "inline" } }),
      dir,
    );
    expect(c.stage).toBe("from-file");
    expect(
      readDeploymentConfig(context({ [CONTEXT_KEYS.inline]: { ...REQUIRED, stage: "inline" } })).stage,
    ).toBe("inline");
    // `-c mailstream='{…}'` arrives as a string.
    expect(readDeploymentConfig(context({ [CONTEXT_KEYS.inline]: JSON.stringify(REQUIRED) })).stage).toBe(
      "test",
    );
  });

  it("says what is missing when there is no configuration, no file or no JSON", () => {
    expect(() => readDeploymentConfig(context({}))).toThrow(/found neither/);
    expect(() => readDeploymentConfig(context({ [CONTEXT_KEYS.file]: "/nonexistent/prod.json" }))).toThrow(
      /expected a readable JSON file, found none at "\/nonexistent\/prod.json"/,
    );
    const dir = mkdtempSync(join(tmpdir(), "mailstream-config-"));
    writeFileSync(join(dir, "bad.json"), "{ stage: prod");
    expect(() => readDeploymentConfig(context({ [CONTEXT_KEYS.file]: "bad.json" }), dir)).toThrow(
      /expected JSON in "bad.json"/,
    );
  });
});

describe("schedule expressions", () => {
  it("accepts EventBridge rate and cron expressions and derives the period of a rate", () => {
    expect(scheduleProblem("rate(1 hour)")).toBeUndefined();
    expect(scheduleProblem("rate(30 minutes)")).toBeUndefined();
    expect(scheduleProblem("cron(0 2 ? * MON-FRI *)")).toBeUndefined();
    expect(schedulePeriodSeconds("rate(30 minutes)")).toBe(1800);
    expect(schedulePeriodSeconds("rate(2 days)")).toBe(172_800);
    expect(schedulePeriodSeconds("cron(0 2 * * ? *)")).toBeUndefined();
  });

  it("rejects malformed expressions", () => {
    expect(scheduleProblem("rate(0 minutes)")).toBeDefined();
    expect(scheduleProblem("rate(5 minute)")).toContain("plural");
    expect(scheduleProblem("cron(0 2 * * ?)")).toBeDefined();
    expect(scheduleProblem("rate(4 weeks)")).toBeDefined();
    // EventBridge (and lib/config at run time) need exactly one "?" day field.
    expect(scheduleProblem("cron(0 2 * * * *)")).toContain('"?"');
  });
});
