/**
 * Decides every IAM request of a rehearsal with a real policy evaluator
 * (`@cloud-copilot/iam-simulate`): the caller's role policies from the template together with the
 * resource's policy (bucket, queue or key policy), as AWS combines them within one account.
 * Reports what was denied (naming function, action and resource), which statement allowed what,
 * and what a role grants that no call used.
 */
import { getDenialReasons, runSimulation } from "@cloud-copilot/iam-simulate";
import type { IamRequest } from "./iam-requests.js";
import type { PolicyDocument } from "./local-deployment.js";

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

/** A role's policies: `name` is the policy's logical id. */
export type RolePolicies = Array<{ name: string; document: PolicyDocument }>;

export interface Verdict {
  request: IamRequest;
  decision: Decision;
  /** The role's statements that allowed it, as `<policy>/<sid>`. */
  allowedBy: string[];
  /** The resource policy's statements that allowed it. */
  resourceAllowedBy: string[];
  /** Why it was denied, when it was. */
  denial?: string;
}

function common(request: IamRequest): Record<string, string | string[]> {
  const roleArn = request.call.roleArn;
  return {
    "aws:PrincipalArn": roleArn,
    "aws:PrincipalAccount": roleArn.split(":")[4]!,
    "aws:PrincipalType": "AssumedRole",
    "aws:SecureTransport": "true",
    ...(request.via ? {} : { "aws:ViaAWSService": "false" }),
  };
}

/** One line naming who, what and where: what a failing rehearsal prints. */
export function describeRequest(request: IamRequest): string {
  const call = request.call;
  const by = call.by === "code" ? "" : ` (by ${call.by})`;
  const via = request.via
    ? ` via ${request.via} for ${call.service} ${call.command.replace(/Command$/, "")}`
    : "";
  return `${call.fn}${by}: ${request.action} on ${request.resource}${via}`;
}

async function decide(request: IamRequest, policies: RolePolicies): Promise<Omit<Verdict, "request">> {
  const result = await runSimulation(
    {
      request: {
        principal: request.call.roleArn,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: { ...common(request), ...request.context },
      },
      identityPolicies: policies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
    },
    {},
  );
  if (result.resultType === "error") {
    return {
      decision: "ImplicitlyDenied",
      allowedBy: [],
      resourceAllowedBy: [],
      denial: `the evaluator refused the request: ${JSON.stringify(result.errors).slice(0, 600)}`,
    };
  }
  if (result.resultType !== "single") throw new Error(`expected one resource, found ${result.resultType}`);
  const analysis = result.result.analysis;
  const identifiers = (
    statements: Array<{ policyId?: string; explain: { identifier: string } }> | undefined,
  ) => (statements ?? []).map((s) => `${s.policyId ?? "policy"}/${s.explain.identifier}`);
  const decision = result.overallResult as Decision;
  const verdict: Omit<Verdict, "request"> = {
    decision,
    allowedBy: identifiers(analysis.identityAnalysis?.allowStatements as never),
    resourceAllowedBy: (analysis.resourceAnalysis?.allowStatements ?? []).map(
      (s: { explain: { identifier: string } }) => s.explain.identifier,
    ),
  };
  if (decision !== "Allowed") {
    const reasons = getDenialReasons(analysis) as Array<{
      policyType: string;
      denialType: string;
      statementId?: string;
      policyIdentifier?: string;
    }>;
    verdict.denial =
      reasons
        .map((r) =>
          r.denialType === "Explicit"
            ? `denied by ${r.policyType} policy statement ${r.statementId ?? "?"}`
            : `no ${r.policyType} policy statement allows it`,
        )
        .join("; ") || decision;
  }
  return verdict;
}

/**
 * Decides each request against its role's policies (`policiesOf`) and its resource policy.
 * Identical requests are decided once.
 */
export async function evaluate(
  requests: IamRequest[],
  policiesOf: (roleArn: string) => RolePolicies,
): Promise<Verdict[]> {
  const cache = new Map<string, Promise<Omit<Verdict, "request">>>();
  return Promise.all(
    requests.map(async (request) => {
      const key = JSON.stringify([
        request.call.roleArn,
        request.action,
        request.resource,
        request.context,
        request.via,
        request.resourcePolicy,
      ]);
      let decided = cache.get(key);
      if (!decided) {
        decided = decide(request, policiesOf(request.call.roleArn));
        cache.set(key, decided);
      }
      return { request, ...(await decided) };
    }),
  );
}

export function denied(verdicts: Verdict[]): string[] {
  return [
    ...new Set(
      verdicts
        .filter((v) => v.decision !== "Allowed")
        .map((v) => `${describeRequest(v.request)}: ${v.denial}`),
    ),
  ].sort();
}

/** Every (statement, action) a role grants: `<policy>/<sid> <action>`. */
export function grantsOf(policies: RolePolicies): Array<{ statement: string; action: string }> {
  return policies.flatMap((p) =>
    p.document.Statement.filter((s) => s.Effect === "Allow").flatMap((s, i) =>
      // The evaluator numbers statements without a Sid from 1.
      [s.Action ?? []].flat().map((action) => ({ statement: `${p.name}/${s.Sid ?? String(i + 1)}`, action })),
    ),
  );
}

/** The grants of a role that allowed no request: `<statement> <action>`. */
export function unusedGrants(policies: RolePolicies, roleArn: string, verdicts: Verdict[]): string[] {
  const used = new Set<string>();
  for (const v of verdicts) {
    if (v.request.call.roleArn !== roleArn || v.decision !== "Allowed") continue;
    for (const statement of v.allowedBy) used.add(`${statement} ${v.request.action}`);
  }
  return grantsOf(policies)
    .map((g) => `${g.statement} ${g.action}`)
    .filter((g) => !used.has(g));
}
