/**
 * docs/deploy.md says what the template does: its least-privilege tables are exactly those
 * generated from the synthesized policies (infra/permissions-table.ts), and the figures it gives
 * for the queue and the defaults are the stack's.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_OBJECT_LOCK } from "../../infra/config.js";
import { STREAM_TASK_MAX_RECEIVES, VISIBILITY_TIMEOUTS } from "../../infra/constructs/stream-queue.js";
import { leastPrivilegeTables } from "../../infra/permissions-table.js";
import { destinationPolicies } from "../support/rehearsal/replication.js";

const doc = readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8");

function block(name: string): string {
  const begin = `<!-- least-privilege:${name}:begin -->`;
  const end = `<!-- least-privilege:${name}:end -->`;
  expect(doc, `docs/deploy.md has a ${begin} … ${end} block`).toContain(begin);
  return doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf(end)).trim();
}

describe("docs/deploy.md", () => {
  const tables = leastPrivilegeTables();

  it("holds the functions' least-privilege table generated from the synthesized policies", () => {
    expect(tables.functions.split("\n").length).toBeGreaterThan(15);
    expect(block("functions")).toBe(tables.functions);
  });

  it("holds the restore role's policy generated from the synthesized template", () => {
    expect(block("restore")).toBe(tables.restore);
    expect(tables.restore).toContain("`s3:GetObject`");
    expect(tables.restore).not.toMatch(/PutObject|DeleteObject|dynamodb:/);
  });

  it("gives the other account the bucket policy the rehearsal's replication was decided against", () => {
    const section = doc.slice(doc.indexOf("### The air-gapped copy"));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    expect(json, 'a JSON bucket policy in "The air-gapped copy"').toBeDefined();
    const documented = JSON.parse(json!);
    const { bucket } = destinationPolicies("arn:aws:iam::<source account>:role/<replication role>", {
      bucketArn: "arn:aws:s3:::<replica bucket>",
      account: "999988887777",
      kmsKeyArn: "arn:aws:kms:eu-central-1:999988887777:key/k",
      storageClass: "STANDARD_IA",
    });
    expect(documented).toEqual(bucket);
    expect(section).toContain('`"Action": "kms:Encrypt"`');
  });

  it("gives the stack's queue settings and Object Lock default", () => {
    expect(VISIBILITY_TIMEOUTS).toBe(6);
    expect(doc).toContain("visibility timeout = 6 × the controller's timeout");
    expect(doc).toContain(`a task goes to the DLQ after ${STREAM_TASK_MAX_RECEIVES} receives`);
    expect(doc).toContain(`default governance, ${DEFAULT_OBJECT_LOCK.days} days`);
    expect(doc).not.toMatch(/Object Lock itself costs nothing|controller timeout \+ 2 min/);
  });
});
