import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { RetryableError } from "../errors.js";
import {
  type DiscoveryTask,
  type FinalizeTask,
  type IndexTask,
  type StreamTask,
  serializeDiscoveryTask,
  serializeFinalizeTask,
  serializeIndexTask,
  serializeStreamTask,
} from "./stream-task.js";

/** Where stream tasks go. The coordinator sends the first task of each stream; a controller sends its own continuation. */
export interface StreamQueue {
  send(task: StreamTask, options?: { delaySeconds?: number }): Promise<void>;
  sendAll(tasks: StreamTask[]): Promise<void>;
  /** The next piece of a job's discovery (run by the controller, like a stream task). */
  sendDiscovery(task: DiscoveryTask): Promise<void>;
  /** The search index's catch-up after a finalized job (absent: a queue that carries none). */
  sendIndex?(task: IndexTask): Promise<void>;
  /** A finalization's continuation (absent: a queue that carries none; the sweep goes on with it). */
  sendFinalize?(task: FinalizeTask): Promise<void>;
}

/** SQS batches hold at most 10 entries. */
const SQS_BATCH_LIMIT = 10;

export class SqsStreamQueue implements StreamQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(task: StreamTask, options: { delaySeconds?: number } = {}): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: serializeStreamTask(task),
        ...(options.delaySeconds ? { DelaySeconds: Math.min(900, Math.ceil(options.delaySeconds)) } : {}),
      }),
    );
  }

  async sendDiscovery(task: DiscoveryTask): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: serializeDiscoveryTask(task) }),
    );
  }

  async sendIndex(task: IndexTask): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: serializeIndexTask(task) }),
    );
  }

  async sendFinalize(task: FinalizeTask): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: serializeFinalizeTask(task) }),
    );
  }

  async sendAll(tasks: StreamTask[]): Promise<void> {
    for (let i = 0; i < tasks.length; i += SQS_BATCH_LIMIT) {
      const chunk = tasks.slice(i, i + SQS_BATCH_LIMIT);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((t, j) => ({ Id: String(j), MessageBody: serializeStreamTask(t) })),
        }),
      );
      const failed = out.Failed ?? [];
      if (failed.length > 0) {
        // SQS accepted the batch but refused some entries: resend those one by one so that no
        // stream is left without its task.
        for (const f of failed) {
          const task = chunk[Number(f.Id)];
          if (!task) throw new RetryableError(`SQS batch answered for unknown entry id ${f.Id}`);
          await this.send(task);
        }
      }
    }
  }
}
