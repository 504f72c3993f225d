import { Duration } from "aws-cdk-lib";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

export interface StreamQueueProps {
  key: kms.IKey;
  /** The controller's timeout; the visibility timeout must exceed it. */
  controllerTimeout: Duration;
}

/**
 * Receives failed stream tasks after this many deliveries. A stream task fails only when the
 * controller crashes or times out; three attempts cover a cold-start hiccup and a transient AWS
 * error without looping on a poisoned task.
 */
export const STREAM_TASK_MAX_RECEIVES = 3;

/**
 * Slack added to the controller timeout for the visibility timeout: covers the event source's
 * own delivery latency so a task is never visible again while its invocation still runs.
 */
export const VISIBILITY_SLACK = Duration.minutes(2);

/** The queue of stream tasks and its dead-letter queue, both encrypted with the deployment's key. */
export class StreamQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: StreamQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetters", {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      // The maximum: time for an operator to look at a failed task before it is gone.
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, "Tasks", {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      // Reuse the data key for 1 h: fewer KMS calls per message.
      dataKeyReuse: Duration.hours(1),
      visibilityTimeout: props.controllerTimeout.plus(VISIBILITY_SLACK),
      retentionPeriod: Duration.days(4),
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: STREAM_TASK_MAX_RECEIVES },
    });
  }
}
