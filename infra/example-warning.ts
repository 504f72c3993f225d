import { Annotations, type Stack } from "aws-cdk-lib";
import { type DeploymentConfig, EXAMPLE_TENANT_ID } from "./config.js";

/**
 * cdk.json carries an example configuration so that `cdk synth` works on a fresh clone. Deploying
 * it would create a stack that reaches no tenant: say so loudly at synth and deploy time.
 */
export function warnIfExample(stack: Stack, config: DeploymentConfig): void {
  if (config.tenantId === EXAMPLE_TENANT_ID) {
    Annotations.of(stack).addWarningV2(
      "mailstream:example-config",
      "This is the example configuration from cdk.json (tenant 00000000-…): it reaches no tenant. " +
        "Deploy with -c mailstream:configFile=<your deployment.json> (see docs/deploy.md).",
    );
  }
}
