import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

async function receiveOne(url: string, waitTimeSeconds = 1) {
  const answer = await aws.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 1,
      WaitTimeSeconds: waitTimeSeconds,
      MessageSystemAttributeNames: ["ApproximateReceiveCount"],
    }),
  );
  return answer.Messages?.[0];
}

describe("SQS on the local emulator", () => {
  it("delivers a sent message, hides it while in flight, and forgets it once deleted", async () => {
    const queue = await aws.createQueue({ visibilityTimeoutSeconds: 30 });
    expect(queue.arn).toMatch(/^arn:aws:sqs:us-east-1:\d+:test-queue-/);
    await aws.clients.sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: '{"seq":1}' }));

    const first = await receiveOne(queue.url);
    expect(first?.Body).toBe('{"seq":1}');
    // In flight for 30 s: nobody else sees it.
    expect(await receiveOne(queue.url, 0)).toBeUndefined();

    // Visibility 0 puts it back at once (what a controller does to hand a task back early).
    await aws.clients.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queue.url,
        ReceiptHandle: first!.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    const again = await receiveOne(queue.url);
    expect(again?.MessageId).toBe(first?.MessageId);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe("2");

    await aws.clients.sqs.send(
      new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: again!.ReceiptHandle! }),
    );
    // Were the message still there, visibility 0 would bring it back; SQS refuses the stale handle.
    await aws.clients.sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queue.url,
          ReceiptHandle: again!.ReceiptHandle!,
          VisibilityTimeout: 0,
        }),
      )
      .catch(() => undefined);
    expect(await receiveOne(queue.url, 0)).toBeUndefined();
  });

  it("moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
    const queue = await aws.createQueue({ visibilityTimeoutSeconds: 30, maxReceiveCount: 2 });
    expect(queue.dlqUrl).toBeDefined();
    await aws.clients.sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: "poison" }));

    for (let receive = 1; receive <= 2; receive++) {
      const message = await receiveOne(queue.url);
      expect(message?.Body).toBe("poison");
      // Fail the processing: return it to the queue without deleting.
      await aws.clients.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queue.url,
          ReceiptHandle: message!.ReceiptHandle!,
          VisibilityTimeout: 0,
        }),
      );
    }
    // The third receive finds it over the limit: it is moved, not delivered.
    expect(await receiveOne(queue.url)).toBeUndefined();
    const deadLetter = await receiveOne(queue.dlqUrl!);
    expect(deadLetter?.Body).toBe("poison");
  });
});
