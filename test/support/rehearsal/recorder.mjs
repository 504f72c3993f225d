/**
 * Preloaded (`node --import`) into a rehearsal's Lambda container, before the function's bundle.
 * Every AWS SDK v3 client shares one smithy `Client` class: its `send` is wrapped so that each
 * command is reported to the parent (service, command, the request fields IAM decides on) before
 * it is sent, waits for the parent's go-ahead (the parent may kill the container there instead: a
 * crash at a chosen call), and its outcome is reported after. Bodies and items are never sent.
 *
 * It also lets the parent shift this container's clock (`Date`) per invocation: a sweep that runs
 * "an hour later" sees heartbeats an hour old.
 */
import { Client } from "@smithy/core/client";

const RealDate = Date;
let clockOffsetMs = 0;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + clockOffsetMs);
    else super(...args);
  }
  static now() {
    return RealDate.now() + clockOffsetMs;
  }
}
globalThis.Date = ShiftedDate;

/** Set by the container for each invocation. */
globalThis.__rehearsalSetClockOffset = (ms) => {
  clockOffsetMs = ms;
};

/** Request fields that IAM decides on (resource names, headers that are condition keys). */
const KEPT = new Set([
  "Bucket",
  "Key",
  "Prefix",
  "CopySource",
  "IfNoneMatch",
  "IfMatch",
  "ServerSideEncryption",
  "SSEKMSKeyId",
  "SSECustomerAlgorithm",
  "BucketKeyEnabled",
  "ObjectLockMode",
  "ObjectLockRetainUntilDate",
  "QueueUrl",
  "TableName",
  "IndexName",
  "SecretId",
]);

function summarize(input) {
  const out = {};
  for (const [key, value] of Object.entries(input ?? {})) {
    if (KEPT.has(key) && (typeof value === "string" || typeof value === "boolean")) out[key] = value;
  }
  // DynamoDB batch and transaction requests: the tables and the kind of each item.
  if (input?.RequestItems) out.RequestTables = Object.keys(input.RequestItems);
  if (Array.isArray(input?.TransactItems)) {
    out.TransactItems = input.TransactItems.map((item) => {
      const [kind, body] = Object.entries(item)[0] ?? [];
      return { kind, TableName: body?.TableName };
    });
  }
  if (Array.isArray(input?.Entries)) out.Entries = input.Entries.length;
  return out;
}

let nextId = 0;
const waiting = new Map();
// A command (not a Lambda container, which lives until killed) must be able to exit when it is
// done: the IPC channel keeps the process alive only while a call waits for the parent.
const idleUnref = process.env.REHEARSAL_RECORDER_UNREF === "1";
if (idleUnref) process.channel?.unref();
process.on("message", (message) => {
  if (message?.type !== "proceed") return;
  const resolve = waiting.get(message.id);
  waiting.delete(message.id);
  if (idleUnref && waiting.size === 0) process.channel?.unref();
  resolve?.();
});

function ask(call) {
  const id = ++nextId;
  if (idleUnref) process.channel?.ref();
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    process.send({ type: "call", id, call });
  }).then(() => id);
}

const send = Client.prototype.send;
Client.prototype.send = function recordedSend(command, ...rest) {
  const call = {
    service: this.config?.serviceId ?? "unknown",
    command: command?.constructor?.name ?? "unknown",
    input: summarize(command?.input),
  };
  return ask(call).then((id) =>
    send.call(this, command, ...rest).then(
      (output) => {
        process.send({
          type: "called",
          id,
          outcome: {
            ok: true,
            status: output?.$metadata?.httpStatusCode ?? 200,
            messages: output?.Messages?.length,
          },
        });
        return output;
      },
      (error) => {
        process.send({
          type: "called",
          id,
          outcome: {
            ok: false,
            status: error?.$metadata?.httpStatusCode,
            error: error?.name ?? String(error),
          },
        });
        throw error;
      },
    ),
  );
};
