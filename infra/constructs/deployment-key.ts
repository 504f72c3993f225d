import { Aws, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type { Construct } from "constructs";

export interface DeploymentKeyProps {
  stage: string;
  /** The break-glass role: the only principal that may disable the key or schedule its deletion. */
  breakGlassRoleArn: string | undefined;
  /** CloudFormation's execution role: with the break-glass role, the only principals that may change the key policy. */
  deploymentRoleArn: string;
}

/** Key actions that would make every archived object unreadable, locked or not. */
export const KEY_DESTRUCTION_ACTIONS = ["kms:ScheduleKeyDeletion", "kms:DisableKey"];

/**
 * The deployment's customer-managed key: the archive, the staging bucket, the state table, the
 * queues, the alarm topic and the logs. The account's IAM policies decide who uses it (the
 * default root statement); on top of that, its policy lets only the break-glass role disable it
 * or schedule its deletion (which would make even locked objects unreadable), and only a
 * deployment or the break-glass role change the policy itself.
 */
export function createDeploymentKey(scope: Construct, id: string, props: DeploymentKeyProps): kms.Key {
  const key = new kms.Key(scope, id, {
    description: `mailstream ${props.stage}: archive, state, queue and alarm encryption`,
    enableKeyRotation: true,
    // The archive outlives the stack, and so must the key that decrypts it.
    removalPolicy: RemovalPolicy.RETAIN,
  });
  /** A service of this account that writes to the encrypted topic or queues. */
  const serviceMayEncrypt = (sid: string, service: string) =>
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal(service)],
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
    );
  // CloudWatch alarms publish to the encrypted topic.
  serviceMayEncrypt("AllowCloudWatchAlarmsToUseTheTopicKey", "cloudwatch.amazonaws.com");
  // EventBridge publishes the tamper alarms to the topic and sends undeliverable events to the
  // failure queue, both encrypted.
  serviceMayEncrypt("AllowEventBridgeToUseTheTopicAndQueueKey", "events.amazonaws.com");
  // SNS puts an alarm mail it could not deliver into the (encrypted) failed-invocations queue.
  serviceMayEncrypt("AllowSnsToUseTheQueueKey", "sns.amazonaws.com");
  // Function logs hold mailbox addresses and subjects of failed items: encrypt them too.
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "AllowCloudWatchLogsToUseTheKey",
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
      ],
      resources: ["*"],
      conditions: {
        ArnLike: {
          "kms:EncryptionContext:aws:logs:arn": `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
        },
      },
    }),
  );
  const breakGlass = props.breakGlassRoleArn ? [props.breakGlassRoleArn] : [];
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "OnlyBreakGlassMayDestroyTheKey",
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: KEY_DESTRUCTION_ACTIONS,
      resources: ["*"],
      ...(breakGlass.length > 0 ? { conditions: { ArnNotEquals: { "aws:PrincipalArn": breakGlass } } } : {}),
    }),
  );
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "OnlyDeploymentsChangeTheKeyPolicy",
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ["kms:PutKeyPolicy"],
      resources: ["*"],
      conditions: { ArnNotEquals: { "aws:PrincipalArn": [props.deploymentRoleArn, ...breakGlass] } },
    }),
  );
  return key;
}
