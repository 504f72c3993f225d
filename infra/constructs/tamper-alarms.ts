import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sns from "aws-cdk-lib/aws-sns";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** CloudTrail event names of the key changes that alarm: losing the key loses the archive. */
export const KEY_TAMPER_EVENTS = ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"];

/** CloudTrail event names of the archive bucket changes that alarm (policy, lifecycle, lock, copies, encryption). */
export const BUCKET_TAMPER_EVENTS = [
  "PutBucketPolicy",
  "DeleteBucketPolicy",
  "PutBucketLifecycle",
  "DeleteBucketLifecycle",
  "PutObjectLockConfiguration",
  "PutBucketReplication",
  "DeleteBucketReplication",
  "PutBucketEncryption",
  "DeleteBucketEncryption",
  "PutBucketVersioning",
];

export interface TamperAlarmsProps {
  stage: string;
  key: kms.IKey;
  archive: s3.IBucket;
  topic: sns.ITopic;
  /** Where EventBridge puts an alarm it could not deliver to the topic. */
  deadLetterQueue: sqs.IQueue;
}

/**
 * EventBridge rules on CloudTrail management events that notify the alarm topic when someone
 * disables the deployment key, schedules its deletion or changes its policy, or changes the
 * archive bucket's policy, lifecycle, Object Lock, replication, encryption or versioning. A
 * deployment that changes them alarms too: each alarm is worth a look. Needs CloudTrail logging
 * management events in the region (docs/deploy.md).
 */
export class TamperAlarms extends Construct {
  readonly keyRule: events.Rule;
  readonly bucketRule: events.Rule;

  constructor(scope: Construct, id: string, props: TamperAlarmsProps) {
    super(scope, id);
    const target = (what: string) =>
      new targets.SnsTopic(props.topic, {
        deadLetterQueue: props.deadLetterQueue,
        message: events.RuleTargetInput.fromText(
          `mailstream ${props.stage}: ${what} — ${events.EventField.fromPath("$.detail.eventName")} by ` +
            `${events.EventField.fromPath("$.detail.userIdentity.arn")} at ${events.EventField.fromPath("$.time")}. ` +
            "If nobody you trust did this, act now: see docs/deploy.md.",
        ),
      });
    this.keyRule = new events.Rule(this, "KeyChanged", {
      description: `mailstream ${props.stage}: the archive key was disabled, scheduled for deletion or its policy changed`,
      eventPattern: {
        source: ["aws.kms"],
        detailType: ["AWS API Call via CloudTrail"],
        detail: {
          eventSource: ["kms.amazonaws.com"],
          eventName: KEY_TAMPER_EVENTS,
          resources: { ARN: [props.key.keyArn] },
        },
      },
      targets: [target("the archive's KMS key changed")],
    });
    this.bucketRule = new events.Rule(this, "ArchiveBucketChanged", {
      description: `mailstream ${props.stage}: the archive bucket's policy, lifecycle, Object Lock, replication, encryption or versioning changed`,
      eventPattern: {
        source: ["aws.s3"],
        detailType: ["AWS API Call via CloudTrail"],
        detail: {
          eventSource: ["s3.amazonaws.com"],
          eventName: BUCKET_TAMPER_EVENTS,
          requestParameters: { bucketName: [props.archive.bucketName] },
        },
      },
      targets: [target("the archive bucket's configuration changed")],
    });
  }
}
