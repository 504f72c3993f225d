import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";

export interface StreamQueueSetup {
  /** Seconds a received task stays invisible (longer than the controller's timeout). Default 960. */
  visibilityTimeoutSeconds?: number;
  /** Deliveries before a task moves to the dead-letter queue. Default 5. */
  maxReceiveCount?: number;
}

export interface CreatedStreamQueue {
  url: string;
  arn: string;
  dlqUrl: string;
  dlqArn: string;
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${url}: expected a QueueArn attribute, found none`);
  return arn;
}

/**
 * The stream queue and its dead-letter queue, configured as the CDK stack configures them on
 * AWS (visibility longer than the controller timeout, redrive after a few deliveries).
 * Creating an existing queue with the same attributes is harmless.
 */
export async function createStreamQueue(
  sqs: SQSClient,
  name: string,
  setup: StreamQueueSetup = {},
): Promise<CreatedStreamQueue> {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = dlq.QueueUrl!;
  const dlqArn = await queueArn(sqs, dlqUrl);
  const created = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(setup.visibilityTimeoutSeconds ?? 960),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: setup.maxReceiveCount ?? 5,
        }),
      },
    }),
  );
  const url = created.QueueUrl!;
  return { url, arn: await queueArn(sqs, url), dlqUrl, dlqArn };
}
