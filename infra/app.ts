/**
 * The CDK app (`cdk.json` runs it with tsx). It reads the deployment configuration from context,
 * builds one stack for its stage and checks it with cdk-nag's AwsSolutions and Serverless rules:
 * an unacknowledged finding fails `cdk synth` and `cdk deploy`.
 */
import { App, Validations } from "aws-cdk-lib";
import cdkNag from "cdk-nag";
import { type DeploymentConfig, readDeploymentConfig } from "./config.js";
import { warnIfExample } from "./example-warning.js";
import { MailstreamStack, stackNameFor } from "./mailstream-stack.js";
import { acknowledgeNagFindings } from "./nag-acknowledgements.js";

/** Builds the stack for `config` in `app`, with cdk-nag (AwsSolutions and Serverless) applied. */
export function buildMailstream(app: App, config: DeploymentConfig): MailstreamStack {
  const stack = new MailstreamStack(app, stackNameFor(config.stage), {
    config,
    // Region and account come from the CLI's profile at deploy time; the template is
    // environment-agnostic so one synth serves any account.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    tags: { application: "mailstream", "mailstream:stage": config.stage },
  });
  warnIfExample(stack, config);
  acknowledgeNagFindings(stack);
  Validations.of(app).addPlugins(
    new cdkNag.AwsSolutionsChecks(app, { verbose: true }),
    new cdkNag.ServerlessChecks(app, { verbose: true }),
  );
  return stack;
}

function main(): void {
  const app = new App();
  buildMailstream(app, readDeploymentConfig(app.node));
  app.synth();
}

// Run only as the CDK app, not when a test imports buildMailstream.
if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
