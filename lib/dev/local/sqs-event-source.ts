import { randomUUID } from "node:crypto";
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { InvocationContext, SQSBatchResponse, SQSEvent, SQSRecord } from "../../queue/lambda-events.js";

/**
 * The local stand-in for Lambda's SQS event source mapping: it long-polls the queue and invokes
 * a handler with the same event shape, batch size, concurrency cap and partial-batch-response
 * rules as Lambda, so the controller handler runs unchanged on one machine.
 *
 * The event shapes are Lambda's own (@types/aws-lambda, through lib/queue/lambda-events.ts).
 */
export type SqsHandler = (
  event: SQSEvent,
  context: InvocationContext,
) => Promise<SQSBatchResponse | undefined>;

export interface LocalSqsEventSourceOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Used only to fill `eventSourceARN`. */
  queueArn?: string;
  region?: string;
  handler: SqsHandler;
  /** Records per invocation, as the mapping's BatchSize. Range 1–10. Default 1. */
  batchSize?: number;
  /** Concurrent invocations at most, as the mapping's MaximumConcurrency. Range 1–1000. Default 2. */
  maxConcurrency?: number;
  /** What `getRemainingTimeInMillis` counts down from, as the function's timeout. Milliseconds. Default 900 000. */
  functionTimeoutMs?: number;
  /** Long-poll wait per receive. Seconds, 0–20. Default 1 (short, so that `stop` is quick). */
  waitTimeSeconds?: number;
  functionName?: string;
  /** Called when a handler throws or returns an invalid response (the batch is then retried by SQS). */
  onInvocationError?: (error: unknown, event: SQSEvent) => void;
}

/** Messages one ReceiveMessage returns at most (SQS's limit). */
const RECEIVE_LIMIT = 10;

/** Long-poll wait of a receive when none is configured, seconds. */
export const DEFAULT_WAIT_TIME_SECONDS = 1;

export class LocalSqsEventSource {
  private running = false;
  private pollers: Promise<void>[] = [];
  private active = 0;
  private invocationCount = 0;
  private readonly options: Required<Omit<LocalSqsEventSourceOptions, "queueArn" | "onInvocationError">> &
    Pick<LocalSqsEventSourceOptions, "queueArn" | "onInvocationError">;

  constructor(options: LocalSqsEventSourceOptions) {
    this.options = {
      batchSize: 1,
      maxConcurrency: 2,
      functionTimeoutMs: 900_000,
      waitTimeSeconds: DEFAULT_WAIT_TIME_SECONDS,
      region: "us-east-1",
      functionName: "controller",
      ...options,
    };
    if (this.options.batchSize < 1 || this.options.batchSize > 10) {
      throw new RangeError(`batchSize: expected 1–10, found ${this.options.batchSize}`);
    }
    if (this.options.maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency: expected ≥ 1, found ${this.options.maxConcurrency}`);
    }
  }

  /** Invocations currently running. */
  get inFlight(): number {
    return this.active;
  }

  get invocations(): number {
    return this.invocationCount;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // As Lambda's pollers do, each receive asks for up to 10 messages and every `batchSize` of
    // them is an invocation of its own; a poller receives only for invocations it may start
    // (capacity taken before the receive), which caps concurrency exactly as MaximumConcurrency
    // does. One poller per 10 invocations: N long-polling receivers each woken by every send
    // (and each answering empty once a second) cost the process that runs the invocations far
    // more than the streams' own work at N = 64 (a second before the first task was received).
    const pollers = Math.max(
      1,
      Math.ceil((this.options.maxConcurrency * this.options.batchSize) / RECEIVE_LIMIT),
    );
    this.pollers = Array.from({ length: Math.min(pollers, this.options.maxConcurrency) }, () => this.poll());
  }

  /** Stops receiving; resolves when running invocations have ended. */
  async stop(): Promise<void> {
    this.running = false;
    this.capacityFreed();
    await Promise.all(this.pollers);
    this.pollers = [];
    await Promise.all(this.invocationRuns);
  }

  /** Invocations started and not ended (their promises, for `stop`). */
  private readonly invocationRuns = new Set<Promise<void>>();
  /** Invocations a poller has made room for while its receive is out. */
  private reserved = 0;
  private capacityWaiters: Array<() => void> = [];

  private capacityFreed(): void {
    for (const wake of this.capacityWaiters.splice(0)) wake();
  }

  private async poll(): Promise<void> {
    const o = this.options;
    while (this.running) {
      const free = o.maxConcurrency - this.active - this.reserved;
      if (free < 1) {
        await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
        continue;
      }
      const room = Math.max(1, Math.min(free, Math.floor(RECEIVE_LIMIT / o.batchSize)));
      this.reserved += room;
      let messages: Message[];
      try {
        const out = await o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: o.queueUrl,
            MaxNumberOfMessages: Math.min(RECEIVE_LIMIT, room * o.batchSize),
            WaitTimeSeconds: o.waitTimeSeconds,
            MessageSystemAttributeNames: ["All"],
          }),
        );
        messages = out.Messages ?? [];
      } catch (error) {
        this.reserved -= room;
        if (!this.running) return;
        o.onInvocationError?.(error, { Records: [] });
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      // Each invocation counts itself as it starts (synchronously, in `invoke`).
      this.reserved -= room;
      for (let i = 0; i < messages.length; i += o.batchSize) {
        const run = this.invoke(messages.slice(i, i + o.batchSize))
          // Only the delete of a finished batch can fail here: SQS delivers those messages again.
          .catch((error: unknown) => o.onInvocationError?.(error, { Records: [] }))
          .finally(() => {
            this.invocationRuns.delete(run);
            this.capacityFreed();
          });
        this.invocationRuns.add(run);
      }
    }
  }

  private async invoke(messages: Message[]): Promise<void> {
    const o = this.options;
    const event: SQSEvent = { Records: messages.map((m) => this.toRecord(m)) };
    const started = Date.now();
    const context: InvocationContext = {
      awsRequestId: randomUUID(),
      functionName: o.functionName,
      getRemainingTimeInMillis: () => Math.max(0, o.functionTimeoutMs - (Date.now() - started)),
    };
    this.active++;
    this.invocationCount++;
    let failed: Set<string>;
    try {
      const response = await o.handler(event, context);
      failed = failedIds(response, event);
    } catch (error) {
      // A thrown error fails the whole batch: Lambda deletes nothing and SQS redelivers after
      // the visibility timeout (and moves the message to the DLQ after maxReceiveCount).
      o.onInvocationError?.(error, event);
      failed = new Set(event.Records.map((r) => r.messageId));
    } finally {
      this.active--;
    }
    const done = messages.filter((m) => m.MessageId && !failed.has(m.MessageId));
    if (done.length > 0) {
      await o.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: o.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  }

  private toRecord(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId ?? "",
      receiptHandle: m.ReceiptHandle ?? "",
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? "local",
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.options.queueArn ?? `arn:aws:sqs:${this.options.region}:000000000000:local`,
      awsRegion: this.options.region,
    };
  }
}

/**
 * Lambda's rules for a partial batch response: an empty or missing list means all succeeded; an
 * identifier that is not in the batch (or is empty) fails the whole batch.
 */
function failedIds(response: SQSBatchResponse | undefined, event: SQSEvent): Set<string> {
  const all = new Set(event.Records.map((r) => r.messageId));
  if (!response || !Array.isArray(response.batchItemFailures)) return new Set();
  const failed = new Set<string>();
  for (const f of response.batchItemFailures) {
    if (!f.itemIdentifier || !all.has(f.itemIdentifier)) return all;
    failed.add(f.itemIdentifier);
  }
  return failed;
}
