import { fileURLToPath } from "node:url";
import type { Duration } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat, SourceMapMode } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { LAMBDA_BUNDLING, LAMBDA_RUNTIME_ENVIRONMENT } from "../lambda-bundling.js";

/** The repository root: entry points, lock file and tsconfig are resolved from here. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface MailstreamFunctionProps {
  /** Entry file relative to the repository root, e.g. `functions/controller.ts`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeout: Duration;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** Key that encrypts the log group. */
  logKey: kms.IKey;
  /** AWS X-Ray active tracing. Default false. */
  tracing?: boolean;
  /** Concurrent executions reserved for (and the most allowed to) this function. Default: none. */
  reservedConcurrency?: number;
  /**
   * For a function invoked asynchronously (by EventBridge): the queue a failed invocation goes to
   * after `retryAttempts` retries. The role needs `sqs:SendMessage` on it (granted by the stack,
   * not here, so the stack's permissions stay in one place).
   */
  asyncFailures?: { queue: sqs.IQueue; retryAttempts: number; maxEventAge: Duration };
}

/**
 * One mailstream Lambda function: bundled locally with esbuild (no Docker) as minified ESM for
 * Node 22 on arm64 with source maps, its own role (no managed policies: every permission is
 * granted explicitly by the stack) and its own log group with a retention.
 */
export class MailstreamFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MailstreamFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, "Logs", {
      retention: props.logRetention,
      encryptionKey: props.logKey,
    });
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `mailstream ${id}: only what this function uses`,
    });
    // The log group is created by the stack, so the function needs no logs:CreateLogGroup.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: "WriteLogs",
        actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.fn = new NodejsFunction(this, "Function", {
      entry: `${REPO_ROOT}functions/${props.entry.replace(/^functions\//, "")}`,
      handler: "handler",
      projectRoot: REPO_ROOT,
      depsLockFilePath: `${REPO_ROOT}package-lock.json`,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment, ...LAMBDA_RUNTIME_ENVIRONMENT },
      ...(props.tracing ? { tracing: lambda.Tracing.ACTIVE } : {}),
      ...(props.reservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrency }
        : {}),
      bundling: {
        ...LAMBDA_BUNDLING,
        format: OutputFormat.ESM,
        // A separate .map file with a sourceMappingURL comment: --enable-source-maps finds it.
        sourceMapMode: SourceMapMode.DEFAULT,
        externalModules: [...LAMBDA_BUNDLING.externalModules],
        mainFields: [...LAMBDA_BUNDLING.mainFields],
        forceDockerBundling: false,
        tsconfig: `${REPO_ROOT}tsconfig.json`,
      },
    });
    if (props.asyncFailures) {
      const { queue, retryAttempts, maxEventAge } = props.asyncFailures;
      this.fn.configureAsyncInvoke({
        retryAttempts,
        maxEventAge,
        // A destination that only names the queue: CDK's SqsDestination would also grant the role
        // every KMS action on the queue's key, without kms:ViaService.
        onFailure: { bind: () => ({ destination: queue.queueArn }) },
      });
    }
  }
}
