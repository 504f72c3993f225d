import { Duration } from "aws-cdk-lib";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

export interface StreamQueueProps {
  key: kms.IKey;
  /** The controller's timeout; the visibility timeout is {@link VISIBILITY_TIMEOUTS} of it. */
  controllerTimeout: Duration;
}

/**
 * Receives failed stream tasks after this many deliveries: AWS recommends at least 5 for a Lambda
 * event source, so that a task throttled by the function's concurrency limit is not sent to the
 * dead-letter queue before it ever ran. A stream task fails only when the controller crashes or
 * times out, and the sweep re-sends a stale stream anyway.
 */
export const STREAM_TASK_MAX_RECEIVES = 5;

/**
 * Visibility timeout in controller timeouts: AWS recommends six for a Lambda event source, so a
 * task stays invisible while its invocation runs and while the event source retries a throttled
 * invocation.
 */
export const VISIBILITY_TIMEOUTS = 6;

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
      visibilityTimeout: Duration.seconds(props.controllerTimeout.toSeconds() * VISIBILITY_TIMEOUTS),
      retentionPeriod: Duration.days(4),
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: STREAM_TASK_MAX_RECEIVES },
    });
  }
}
