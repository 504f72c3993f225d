/**
 * The deploy rehearsal: the stack synthesized as `cdk deploy` builds it (bundled functions), its
 * resources created on local emulators, and a whole job run through the three functions as the
 * template defines them (bundle, handler, environment, memory, timeout), fed as Lambda feeds them
 * (schedules, the SQS event source mapping, asynchronous retries and failure destinations). A
 * controller is killed mid-unit and recovered by the sweep; finalizers are killed and the sweeps
 * finish their jobs (test/support/rehearsal/scenario.ts).
 *
 * Every AWS call the functions make, and every call Lambda makes with their roles, is decided by a
 * real IAM policy evaluator against the role's policies and the bucket, queue and key policies of
 * the template: any denial fails, naming function, action and resource. And the other way round:
 * every permission a function's role grants must be used, and every resource its environment
 * names must be one it uses.
 *
 * Synthesized once per configuration: the default one (only the required fields) and the
 * documented production variant (prefix, compliance lock, break-glass role, replication, restore
 * role, tracing, a secret with its own key). A small tenant with one large message keeps a run
 * to a few tens of seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeploymentConfigInput } from "../../infra/config.js";
import {
  denied,
  describeRequest,
  evaluate,
  type RolePolicies,
  unusedGrants,
  type Verdict,
} from "../support/rehearsal/evaluate.js";
import type { RecordedCommandResult } from "../support/rehearsal/lambda-emulator.js";
import type { DeployedRole } from "../support/rehearsal/local-deployment.js";
import { type Rehearsal, startRehearsal, synthesizeForDeploy } from "../support/rehearsal/rehearsal.js";
import { runDeploymentScenario, type ScenarioOutcome } from "../support/rehearsal/scenario.js";

/**
 * Grants the rehearsal cannot exercise, each with why the function still needs it. Anything else a
 * role grants and no call uses fails the test.
 */
const NOT_EXERCISED: Record<string, string> = {
  "Controller StageLargeMessages s3:AbortMultipartUpload":
    "lib-storage aborts a staging upload that fails mid-message (leavePartsOnError: false); the rehearsal's uploads succeed",
};

const LARGE_MESSAGE_BYTES = 6 * 1024 * 1024;

/**
 * The rehearsal of one configuration; test/infra/rehearsal-*.test.ts run it for the default
 * configuration and for the documented production variant, each in a file of its own so that the
 * two run side by side.
 */
export function describeRehearsal(name: string, config: DeploymentConfigInput): void {
  describe(`deploy rehearsal of ${name}`, () => {
    let r: Rehearsal;
    let outcome: ScenarioOutcome;
    /** The production variant also restores a folder as an operator with the restore role. */
    let restored: RecordedCommandResult | undefined;
    let verdicts: Verdict[];
    let expectedItems: number;
    const policiesOf = (role: DeployedRole): RolePolicies =>
      role.policies.map((p) => ({ name: p.logicalId, document: p.document }));
    const functionRoles = () => ["Coordinator", "Controller", "Sweep"].map((name) => r.deployment.fn(name));

    beforeAll(async () => {
      r = await startRehearsal(synthesizeForDeploy(config), {
        tenant: {
          seed: 1010,
          // The production variant backs up "@contoso.com" only.
          domain: "contoso.com",
          shape: "uniform",
          mailboxes: 2,
          totalMessages: 30,
          largeFraction: 0,
          largeMessages: [{ bytes: LARGE_MESSAGE_BYTES }],
        },
      });
      const truth = await r.tenant.groundTruth();
      // Every item of every kind of both mailboxes (content mode fidelity, the default).
      expectedItems = truth.mailboxes.reduce(
        (n, m) => n + m.mailboxFolders.reduce((k, f) => k + f.items.length, 0),
        0,
      );
      outcome = await runDeploymentScenario(r);
      if (r.synthesized.config.restore) {
        const [source, target] = truth.mailboxes;
        const env = r.deployment.fn("Sweep").environment;
        restored = await r.runAsRestoreRole([
          "restore",
          source!.address,
          "Inbox",
          "--to",
          target!.address,
          "--archive",
          `s3://${env.MAILSTREAM_ARCHIVE_BUCKET}/${env.MAILSTREAM_ARCHIVE_PREFIX ?? ""}`,
        ]);
      }
      const roles = [...r.deployment.roles.values()];
      verdicts = await evaluate(r.requests(), (arn) => policiesOf(roles.find((role) => role.arn === arn)!));
    }, 300_000);
    afterAll(async () => {
      await r?.stop();
    });

    it("backs up the tenant through the deployed functions: continuations, a killed stream resumed by the sweep, killed finalizers replaced", () => {
      expect(outcome.firstJob.report).toMatchObject({ status: "complete" });
      expect(outcome.firstJob.report.totals.items).toBe(expectedItems);
      expect(outcome.secondJob.report.status).toBe("complete");
      // Three controllers and one sweep were killed at the calls the scenario chose.
      expect(outcome.kills.map((k) => `${k.command} ${String(k.input.Key ?? k.input.TableName)}`)).toEqual([
        // The third blob write: a pack, or a large item copied from staging (packs wait for their pages).
        expect.stringMatching(/^(PutObject|CopyObject)Command (mail\/)?blobs\//),
        expect.stringMatching(/^PutObjectCommand (mail\/)?reports\//),
        expect.stringMatching(/^PutObjectCommand (mail\/)?reports\//),
        expect.stringMatching(/^QueryCommand /),
      ]);
      expect(outcome.continuations).toBeGreaterThanOrEqual(2);
      // A discovery of one mailbox a piece, begun by a coordinator that stops after one piece:
      // the controllers ran the other pieces of both jobs, and backed up every item all the same.
      if (config.discoveryPieceMailboxes === 1)
        expect(outcome.discoveryPiecesOnControllers).toBeGreaterThanOrEqual(2);
      expect(outcome.sweeps[0]).toMatchObject({ status: "ok", value: { resent: 1, finalized: [] } });
      expect(outcome.sweeps[1]).toMatchObject({
        status: "ok",
        value: { finalized: [outcome.firstJob.jobId] },
      });
      // EventBridge delivered the second tick twice: one job, whose finalization the coordinator's sweep did.
      expect(outcome.ticks[2]).toMatchObject({
        status: "ok",
        value: { job: { status: "duplicate" }, sweep: { finalized: [outcome.secondJob.jobId] } },
      });
      // A bad asynchronous invocation and a crashed sweep both reached the failure destination.
      expect(outcome.ticks[3]).toMatchObject({
        status: "error",
        error: { message: /coordinator event: expected/ },
      });
      expect(outcome.failedInvocations).toBe(2);
      // The large message went through the staging bucket, which is empty again: compressed
      // (`staging/….eml.gz`) it may fit one PutObject, else a multipart upload.
      const staged = r.log.calls.filter(
        (c) =>
          c.command === "CompleteMultipartUploadCommand" ||
          (c.command === "PutObjectCommand" && /(^|\/)staging\//.test(String(c.input.Key))),
      );
      expect(staged.length).toBeGreaterThan(0);
      expect(staged.every((c) => String(c.input.Bucket).includes("staging"))).toBe(true);
    });

    it("makes no AWS call that its role, the bucket policy or the key policy denies", () => {
      expect(verdicts.length).toBeGreaterThan(300);
      expect(denied(verdicts)).toEqual([]);
    });

    it("uses every permission each function's role (and the restore role) grants: least privilege, the other way round", () => {
      const restoreRole = [...r.deployment.roles.values()].find((role) =>
        role.logicalId.startsWith("RestoreRole"),
      );
      const roles = [
        ...functionRoles().map((fn) => ({ name: fn.name, role: fn.role })),
        ...(restoreRole ? [{ name: "RestoreRole", role: restoreRole }] : []),
      ];
      if (r.synthesized.config.restore) {
        expect(restored?.stderr ?? "").not.toMatch(/error/i);
        expect(restored).toMatchObject({
          code: 0,
          // Content mode fidelity: no MIME to restore; the Inbox's mail returns through import sessions.
          stdout: expect.stringMatching(
            /^restored 0 messages into .*\nimported [1-9]\d* items at full fidelity \(0 already there, /,
          ),
        });
        expect(r.log.calls.filter((c) => c.fn === "RestoreRole").length).toBeGreaterThan(5);
      }
      const unused = roles.flatMap(({ name, role }) =>
        unusedGrants(policiesOf(role), role.arn, verdicts).map((grant) => {
          const [statement, action] = grant.split(" ");
          return `${name} ${statement!.split("/")[1]} ${action}`;
        }),
      );
      console.log(
        `rehearsal (${name}): ${verdicts.length} IAM requests from ${r.log.calls.length} calls; granted but not exercised: ${unused.join(", ") || "none"}`,
      );
      expect(unused.sort()).toEqual(Object.keys(NOT_EXERCISED).sort());
    });

    it("gives no function an environment that names a resource its role does not use", () => {
      for (const fn of functionRoles()) {
        const touched = verdicts
          .filter((v) => v.request.call.fn === fn.name && v.decision === "Allowed")
          .map((v) => v.request.resource);
        const named = Object.entries(fn.environment).flatMap(([variable, value]) => {
          const bucket = r.deployment.bucketByName(value);
          const queue = r.deployment.queueByUrl(value);
          const table = r.deployment.tableByName(value);
          const arn =
            bucket?.arn ?? queue?.arn ?? table?.arn ?? (value.startsWith("arn:aws:") ? value : undefined);
          return arn ? [[variable, arn] as const] : [];
        });
        expect(named.length).toBeGreaterThan(3);
        for (const [variable, arn] of named) {
          expect(
            touched.some((resource) => resource === arn || resource.startsWith(`${arn}/`)),
            `${fn.name}'s ${variable} names ${arn}, which it never used`,
          ).toBe(true);
        }
      }
    });

    it("lets the sweep run without the tenant or its secret", () => {
      const sweep = r.deployment.fn("Sweep");
      expect(
        Object.keys(sweep.environment).filter((k) => /TENANT|CLIENT|SECRET|GRAPH|AUTHORITY/.test(k)),
      ).toEqual([]);
      expect(r.log.calls.filter((c) => c.fn === "Sweep" && c.service === "Secrets Manager")).toEqual([]);
      expect(verdicts.some((v) => v.request.call.fn === "Sweep" && v.decision === "Allowed")).toBe(true);
      for (const name of ["Coordinator", "Controller"]) {
        expect(r.log.calls.some((c) => c.fn === name && c.command === "GetSecretValueCommand")).toBe(true);
      }
    });

    it("writes every blob conditionally and with the deployment's key, and copies large ones only from the staging bucket", () => {
      const blobWrites = verdicts.filter(
        (v) => v.request.action === "s3:PutObject" && v.request.resource.includes("/blobs/"),
      );
      // Packs fill over many pages: a few writes of packs and their indexes, and a large item.
      expect(blobWrites.length).toBeGreaterThanOrEqual(4);
      const keyArn = [...r.deployment.keys.values()][0]!.arn;
      for (const v of blobWrites) {
        expect(v.request.context["s3:if-none-match"], describeRequest(v.request)).toBe("*");
        expect(v.request.context["s3:x-amz-server-side-encryption-aws-kms-key-id"]).toBe(keyArn);
      }
      const copies = blobWrites.filter((v) => v.request.context["s3:x-amz-copy-source"] !== undefined);
      // The large item, copied again when the killed controller's held pages were read again.
      expect(copies.length).toBeGreaterThanOrEqual(1);
      for (const copy of copies)
        expect(String(copy.request.context["s3:x-amz-copy-source"])).toMatch(/^[^/]*staging[^/]*\//);
    });

    it("fails, naming the call, when any single statement the functions need is deleted", async () => {
      // Each statement of a function's role, and each statement of the key policy, that allowed a
      // call: without it, that call must be denied, and the failure must say which.
      const roles = [...r.deployment.roles.values()];
      const roleOf = (arn: string) => roles.find((x) => x.arn === arn)!;
      const withoutStatement = (policy: { Statement: Array<{ Sid?: string }> }, sid: string) => ({
        ...policy,
        Statement: policy.Statement.filter((s, i) => (s.Sid ?? String(i + 1)) !== sid),
      });
      const failures: string[] = [];
      const expectNamedDenial = (label: string, again: string[]) => {
        if (again.length === 0) failures.push(`${label}: every call it allowed is still allowed without it`);
        else
          expect(again[0], label).toMatch(
            /^(Coordinator|Controller|Sweep|RestoreRole|ReplicationRole)( \(by [^)]+\))?: [a-z0-9-]+:\w+ on \S+.*: /,
          );
      };

      const roleStatements = new Map<string, { roleArn: string; statement: string }>();
      for (const v of verdicts) {
        for (const s of v.allowedBy) {
          roleStatements.set(`${roleOf(v.request.call.roleArn).logicalId} ${s}`, {
            roleArn: v.request.call.roleArn,
            statement: s,
          });
        }
      }
      expect(roleStatements.size).toBeGreaterThan(20);
      for (const [label, { roleArn, statement }] of roleStatements) {
        const [policy, sid] = statement.split("/") as [string, string];
        const without = (arn: string): RolePolicies =>
          policiesOf(roleOf(arn)).map((p) =>
            arn === roleArn && p.name === policy
              ? { name: p.name, document: withoutStatement(p.document, sid) as never }
              : p,
          );
        const affected = verdicts.filter(
          (v) => v.request.call.roleArn === roleArn && v.allowedBy.includes(statement),
        );
        expectNamedDenial(
          label,
          denied(
            await evaluate(
              affected.map((v) => v.request),
              without,
            ),
          ),
        );
      }

      const keyArn = [...r.deployment.keys.values()][0]!.arn;
      const keyStatements = new Set(
        verdicts.filter((v) => v.request.resource === keyArn).flatMap((v) => v.resourceAllowedBy),
      );
      expect(keyStatements.size).toBeGreaterThan(0);
      for (const sid of keyStatements) {
        const affected = verdicts
          .filter((v) => v.request.resource === keyArn && v.resourceAllowedBy.includes(sid))
          .map((v) => ({
            ...v.request,
            resourcePolicy: withoutStatement(v.request.resourcePolicy!, sid) as never,
          }));
        expectNamedDenial(
          `key policy ${sid}`,
          denied(await evaluate(affected, (arn) => policiesOf(roleOf(arn)))),
        );
      }
      console.log(
        `rehearsal (${name}): deleting any one of ${roleStatements.size} role statements or ${keyStatements.size} key policy statement(s) fails it`,
      );
      expect(failures).toEqual([]);
    });
  });
}
