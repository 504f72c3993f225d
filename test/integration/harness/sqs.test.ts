import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalSqsEventSource } from "../../../lib/dev/local/sqs-event-source.js";
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

describe("the local SQS event source", () => {
  it("invokes once per message, at most maxConcurrency at once; a failed record comes back", async () => {
    const queue = await aws.createQueue({ visibilityTimeoutSeconds: 1 });
    const bodies = Array.from({ length: 25 }, (_, i) => `task-${i}`);
    let running = 0;
    let peak = 0;
    const seen: string[] = [];
    let failedOnce = false;
    const release: Array<() => void> = [];
    const source = new LocalSqsEventSource({
      sqs: aws.clients.sqs,
      queueUrl: queue.url,
      maxConcurrency: 4,
      handler: async (event) => {
        expect(event.Records).toHaveLength(1);
        const record = event.Records[0]!;
        running++;
        peak = Math.max(peak, running);
        // Each invocation holds its slot until the test lets it go: concurrency is observable.
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        if (record.body === "task-7" && !failedOnce) {
          failedOnce = true;
          return { batchItemFailures: [{ itemIdentifier: record.messageId }] };
        }
        seen.push(record.body);
        return undefined;
      },
    });
    source.start();
    try {
      for (let i = 0; i < bodies.length; i += 10) {
        await aws.clients.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
          }),
        );
      }
      while (seen.length < bodies.length) {
        await new Promise((r) => setTimeout(r, 20));
        expect(source.inFlight).toBeLessThanOrEqual(4);
        for (const go of release.splice(0)) go();
      }
    } finally {
      for (const go of release.splice(0)) go();
      await source.stop();
    }
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
    expect([...seen].sort()).toEqual([...bodies].sort());
    expect(failedOnce).toBe(true);
    expect(source.invocations).toBe(26);
    const left = await aws.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );
    expect(left.Attributes?.ApproximateNumberOfMessages).toBe("0");
  });
});
