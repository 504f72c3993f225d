import { Duration } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import type { DeploymentConfig } from "../config.js";

export interface RestoreRoleProps {
  stage: string;
  restore: NonNullable<DeploymentConfig["restore"]>;
  statements: iam.PolicyStatement[];
}

/**
 * The role an operator assumes to run `mailstream restore` (or export, browse, verify): it reads
 * the archive and the restore app's credential and can change nothing in AWS. It is separate from
 * the functions' roles, and the restore app (with Mail.ReadWrite) is separate from the backup app,
 * so the unattended backup can never write to a mailbox.
 */
export class RestoreRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: RestoreRoleProps) {
    super(scope, id);
    const trusted = props.restore.trustedPrincipalArns;
    this.role = new iam.Role(this, "Role", {
      description: `mailstream ${props.stage}: restore and export from the archive (CLI); reads only`,
      assumedBy:
        trusted.length > 0
          ? new iam.CompositePrincipal(...trusted.map((arn) => new iam.ArnPrincipal(arn)))
          : new iam.AccountRootPrincipal(),
      // A restore of a large mailbox outlasts the default hour.
      maxSessionDuration: Duration.hours(4),
    });
    for (const statement of props.statements) this.role.addToPolicy(statement);
  }
}
