/**
 * Counts the billable AWS requests a local run makes, at the SDK client level: middleware on the
 * real S3, SQS and DynamoDB clients counts every HTTP attempt of every command (retries included,
 * as AWS bills them), asks DynamoDB for the capacity each request consumed
 * (`ReturnConsumedCapacity: TOTAL`, the read and write units on-demand billing charges) and adds
 * it up. A TransactWriteItems is the exception: DynamoDB Local reports its capacity as the sum of
 * its items' *distinct* unit counts (ten equal items count once), so the meter works out its
 * write units from the items' sizes (transaction-capacity.ts), reading the items it touches
 * around the transaction with uncounted BatchGetItems whose time is kept out of the invocation's
 * wall time (their effect on when other work ran is not). Each request is attributed to the
 * function that made it — the coordinator, a controller invocation or the sweep — through an
 * async context the local stack opens around each of their runs; the Lambda event source's own
 * receives and deletes are told apart, and anything else (a harness waiting for the job, a
 * benchmark listing the bucket) is counted as `harness` and never priced. Invocations are
 * recorded with their wall time, for Lambda's GB-seconds.
 *
 * The benchmark prices these counts (bench/cost); nothing here knows a price.
 *
 * The async context is the meter's alone (production code passes its contexts explicitly: see
 * lib/graph/request-context.ts). An AsyncLocalStorage turns on Node's promise hooks for every
 * promise of the process once it is first entered, so a metered run's CPU figures carry them
 * (13–14 % of the harness's busy time in the shape runs); it is entered only when a stack is
 * given a meter (bench/dense.ts, cost runs), never in the shape runs (bench/shape-runs.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AttributeValue,
  BatchGetItemCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TransactWriteItem,
} from "@aws-sdk/client-dynamodb";
import type { AwsClients } from "../../aws/clients.js";
import {
  addresses,
  addressId,
  type ItemAddress,
  keysToRead,
  type StoredItems,
  transactionWriteUnits,
} from "./transaction-capacity.js";

/** Who made a request: a function of the stack, Lambda's SQS poller, or something else. */
export type MeteredCaller = "coordinator" | "controller" | "sweep" | "eventSource" | "harness";
export type MeteredFunction = Extract<MeteredCaller, "coordinator" | "controller" | "sweep">;

/** One invocation of a function, as Lambda would bill it. */
export interface MeteredInvocation {
  fn: MeteredFunction;
  /** Wall time of the invocation, ms. */
  durationMs: number;
  /** Requests it made, by `service:Operation` (HTTP attempts). */
  operations: Record<string, number>;
}

/** What a run cost in AWS requests, by the caller that made them. */
export interface MeterReading {
  /** `service:Operation` → HTTP attempts, per caller. */
  operations: Record<MeteredCaller, Record<string, number>>;
  /** DynamoDB capacity consumed (on-demand request units), per caller. */
  dynamodb: Record<MeteredCaller, { readUnits: number; writeUnits: number }>;
  /** DynamoDB capacity units by operation, per caller (where the units go). */
  dynamodbUnitsByOperation: Record<MeteredCaller, Record<string, number>>;
  /** Bytes sent in S3 request bodies (PutObject, UploadPart), per caller. */
  s3UploadedBytes: Record<MeteredCaller, number>;
  /** The invocations that ended, in the order they ended. */
  invocations: MeteredInvocation[];
  /** SQS receives that returned no message (Lambda's idle polling; its pattern is not AWS's). */
  emptyReceives: number;
}

const CALLERS: MeteredCaller[] = ["coordinator", "controller", "sweep", "eventSource", "harness"];

/** DynamoDB operations that report consumed capacity when asked to; the rest cost no capacity. */
const CAPACITY_OPERATIONS = new Set([
  "GetItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "Query",
  "Scan",
  "BatchGetItem",
  "BatchWriteItem",
  "TransactGetItems",
  "TransactWriteItems",
]);
const READ_OPERATIONS = new Set(["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"]);
/** Requests of Lambda's SQS poller (the event source mapping), not of a function. */
const POLLER_OPERATIONS = new Set(["sqs:ReceiveMessage", "sqs:DeleteMessageBatch", "sqs:DeleteMessage"]);

interface Scope {
  fn: MeteredFunction;
  operations: Record<string, number>;
  /** The meter's own reads in flight for this invocation, and since when (their time is not the function's). */
  ownReads: number;
  ownSince: number;
  /** Wall time, ms, during which the meter's own reads were in flight. */
  ownMs: number;
}

/** BatchGetItem's limit of keys per request. */
const BATCH_GET_KEYS = 100;

interface ConsumedCapacity {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

function emptyByCaller<T>(make: () => T): Record<MeteredCaller, T> {
  return Object.fromEntries(CALLERS.map((c) => [c, make()])) as Record<MeteredCaller, T>;
}

function attemptsOf(value: unknown): number {
  const attempts = (value as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts;
  return typeof attempts === "number" && attempts > 0 ? attempts : 1;
}

function bodyBytes(body: unknown): number {
  if (typeof body === "string") return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return 0;
}

/**
 * The meter of one local run. Attach it to the clients once ({@link attach}); run each function's
 * work inside {@link invocation}; read the counts with {@link reading} and subtract two readings
 * with {@link difference} to get one job's share.
 */
export class AwsMeter {
  private readonly context = new AsyncLocalStorage<Scope>();
  private readonly operations = emptyByCaller<Record<string, number>>(() => ({}));
  private readonly capacity = emptyByCaller(() => ({ readUnits: 0, writeUnits: 0 }));
  private readonly unitsByOperation = emptyByCaller<Record<string, number>>(() => ({}));
  private readonly uploaded = emptyByCaller(() => 0);
  private readonly ended: MeteredInvocation[] = [];
  private empty = 0;
  private readonly attached = new WeakSet<object>();
  /** Requests the meter makes itself (its reads around transactions): never counted. */
  private readonly own = new WeakSet<object>();
  /** A transaction's billed write units, worked out at the build step, by its handler context. */
  private readonly transactionUnits = new WeakMap<object, number>();
  private readonly keyNames = new Map<string, Promise<string[]>>();
  private dynamodb: DynamoDBClient | undefined;

  /** Adds the counting middleware to the S3, SQS and DynamoDB clients (the document client shares DynamoDB's). */
  attach(clients: Pick<AwsClients, "s3" | "sqs" | "dynamodb">): void {
    this.instrument("s3", clients.s3);
    this.instrument("sqs", clients.sqs);
    this.instrument("dynamodb", clients.dynamodb);
    this.dynamodb ??= clients.dynamodb;
  }

  /** Runs `work` as one invocation of `fn`: its requests are attributed to it and its wall time recorded. */
  async invocation<T>(fn: MeteredFunction, work: () => Promise<T>): Promise<T> {
    const scope: Scope = { fn, operations: {}, ownReads: 0, ownSince: 0, ownMs: 0 };
    const started = performance.now();
    try {
      return await this.context.run(scope, work);
    } finally {
      const durationMs = performance.now() - started - scope.ownMs;
      this.ended.push({ fn, durationMs, operations: scope.operations });
    }
  }

  /** Everything counted so far (a copy). */
  reading(): MeterReading {
    return structuredClone({
      operations: this.operations,
      dynamodb: this.capacity,
      dynamodbUnitsByOperation: this.unitsByOperation,
      s3UploadedBytes: this.uploaded,
      invocations: this.ended,
      emptyReceives: this.empty,
    });
  }

  private instrument(
    service: "s3" | "sqs" | "dynamodb",
    client: { middlewareStack: { add: (...args: never[]) => void } },
  ): void {
    if (this.attached.has(client)) return;
    this.attached.add(client);
    const middleware =
      (
        next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
        context: { commandName?: string },
      ) =>
      async (args: { input: Record<string, unknown> }) => {
        if (this.own.has(args.input)) return next(args);
        const operation = (context.commandName ?? "Unknown").replace(/Command$/, "");
        if (service === "dynamodb" && CAPACITY_OPERATIONS.has(operation)) {
          args.input.ReturnConsumedCapacity ??= "TOTAL";
        }
        const scope = this.context.getStore();
        try {
          const result = await next(args);
          const billed = this.transactionUnits.get(context);
          this.count(scope, service, operation, args.input, attemptsOf(result.output), result.output, billed);
          return result;
        } catch (error) {
          this.count(scope, service, operation, args.input, attemptsOf(error), undefined);
          if (service === "dynamodb") this.chargeFailedWrite(scope, operation, args.input, attemptsOf(error));
          throw error;
        }
      };
    (client.middlewareStack.add as (m: unknown, o: unknown) => void)(middleware, {
      step: "initialize",
      name: "mailstreamAwsMeter",
      priority: "high",
    });
    if (service !== "dynamodb") return;
    // At the build step the document client's input is already in DynamoDB's wire form, whose
    // sizes the transaction's units are worked out from; it runs once per command (retries
    // come after it, at finalizeRequest).
    const transactions =
      (
        next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
        context: { commandName?: string },
      ) =>
      async (args: { input: Record<string, unknown> }) => {
        if (context.commandName !== "TransactWriteItemsCommand" || this.own.has(args.input))
          return next(args);
        const items = (args.input.TransactItems as TransactWriteItem[] | undefined) ?? [];
        const scope = this.context.getStore();
        // The meter must not change what the stack sees: where its own reads fail (or the
        // request is malformed, for DynamoDB to refuse), the reported capacity stands.
        const sized = await this.ownRead(scope, async () => {
          const at = await this.addressesOf(items);
          const reads = keysToRead(items, at);
          return { at, reads, before: await this.readItems(reads.before) };
        }).catch(() => undefined);
        const result = await next(args);
        if (sized) {
          const after = await this.ownRead(scope, () => this.readItems(sized.reads.after)).catch(
            () => undefined,
          );
          try {
            if (after)
              this.transactionUnits.set(context, transactionWriteUnits(items, sized.at, sized.before, after));
          } catch {
            // An attribute value of a type the size rule does not know: the reported capacity stands.
          }
        }
        return result;
      };
    (client.middlewareStack.add as (m: unknown, o: unknown) => void)(transactions, {
      step: "build",
      name: "mailstreamAwsMeterTransactions",
      priority: "high",
    });
  }

  /** Runs one of the meter's own reads, its wall time kept out of the invocation's (overlaps counted once). */
  private async ownRead<T>(scope: Scope | undefined, read: () => Promise<T>): Promise<T> {
    if (!scope) return read();
    if (scope.ownReads++ === 0) scope.ownSince = performance.now();
    try {
      return await read();
    } finally {
      if (--scope.ownReads === 0) scope.ownMs += performance.now() - scope.ownSince;
    }
  }

  private async addressesOf(items: readonly TransactWriteItem[]): Promise<ItemAddress[]> {
    const tables = new Set(items.flatMap((i) => (i.Put?.TableName ? [i.Put.TableName] : [])));
    const names = new Map<string, string[]>();
    for (const table of tables) names.set(table, await this.keyNamesOf(table));
    return addresses(items, (table) => names.get(table) ?? []);
  }

  /** A table's key attribute names (DescribeTable, once per table). */
  private keyNamesOf(table: string): Promise<string[]> {
    let names = this.keyNames.get(table);
    if (!names) {
      const input = { TableName: table };
      this.own.add(input);
      names = this.client()
        .send(new DescribeTableCommand(input))
        .then((out) =>
          (out.Table?.KeySchema ?? []).flatMap((k) => (k.AttributeName ? [k.AttributeName] : [])),
        );
      names.catch(() => this.keyNames.delete(table));
      this.keyNames.set(table, names);
    }
    return names;
  }

  /** The stored items at `at`, read consistently (BatchGetItem, not counted). */
  private async readItems(at: readonly ItemAddress[]): Promise<StoredItems> {
    const found = new Map<string, Record<string, AttributeValue>>();
    const wanted = new Map<string, ItemAddress>();
    for (const a of at) wanted.set(addressId(a.table, a.key), a);
    let left = [...wanted.values()];
    while (left.length > 0) {
      const chunk = left.slice(0, BATCH_GET_KEYS);
      left = left.slice(BATCH_GET_KEYS);
      let request: Record<string, { Keys: Record<string, AttributeValue>[]; ConsistentRead: true }> = {};
      for (const a of chunk) {
        request[a.table] ??= { Keys: [], ConsistentRead: true };
        request[a.table]?.Keys.push(a.key);
      }
      while (Object.keys(request).length > 0) {
        const input = { RequestItems: request };
        this.own.add(input);
        const out = await this.client().send(new BatchGetItemCommand(input));
        for (const [table, items] of Object.entries(out.Responses ?? {})) {
          for (const item of items) {
            const a = chunk.find(
              (c) =>
                c.table === table && addressId(table, item, Object.keys(c.key)) === addressId(table, c.key),
            );
            if (a) found.set(addressId(a.table, a.key), item);
          }
        }
        request = (out.UnprocessedKeys ?? {}) as typeof request;
      }
    }
    return found;
  }

  private client(): DynamoDBClient {
    if (!this.dynamodb) throw new Error("the AWS meter reads DynamoDB only once attached to its client");
    return this.dynamodb;
  }

  /**
   * A refused write (a condition that failed, a cancelled transaction) reports no consumed
   * capacity, yet DynamoDB bills it: at least one write unit per item, two in a transaction.
   */
  private chargeFailedWrite(
    scope: Scope | undefined,
    operation: string,
    input: Record<string, unknown>,
    attempts: number,
  ): void {
    if (!CAPACITY_OPERATIONS.has(operation) || READ_OPERATIONS.has(operation)) return;
    const items =
      operation === "TransactWriteItems" ? ((input.TransactItems as unknown[]) ?? []).length * 2 : 1;
    const caller: MeteredCaller = scope?.fn ?? "harness";
    this.capacity[caller].writeUnits += items * attempts;
    this.addUnits(caller, `${operation} (refused)`, items * attempts);
  }

  private count(
    scope: Scope | undefined,
    service: string,
    operation: string,
    input: Record<string, unknown>,
    attempts: number,
    output: Record<string, unknown> | undefined,
    /** Write units worked out by the meter itself (a transaction), in place of the reported ones. */
    billed?: number,
  ): void {
    const key = `${service}:${operation}`;
    if (key === "sqs:ReceiveMessage" && !scope) {
      const messages = (output?.Messages as unknown[] | undefined)?.length ?? 0;
      if (output && messages === 0) {
        this.empty += attempts;
        return;
      }
    }
    const caller: MeteredCaller = scope?.fn ?? (POLLER_OPERATIONS.has(key) ? "eventSource" : "harness");
    const ops = this.operations[caller];
    ops[key] = (ops[key] ?? 0) + attempts;
    if (scope) scope.operations[key] = (scope.operations[key] ?? 0) + attempts;
    if (service === "s3" && (operation === "PutObject" || operation === "UploadPart")) {
      this.uploaded[caller] += bodyBytes(input.Body);
    }
    if (service === "dynamodb" && output) {
      const consumed = output.ConsumedCapacity as ConsumedCapacity | ConsumedCapacity[] | undefined;
      const units =
        billed ??
        (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
          (sum, c) => sum + (c.CapacityUnits ?? (c.ReadCapacityUnits ?? 0) + (c.WriteCapacityUnits ?? 0)),
          0,
        );
      if (READ_OPERATIONS.has(operation)) this.capacity[caller].readUnits += units;
      else this.capacity[caller].writeUnits += units;
      this.addUnits(caller, operation, units);
    }
  }

  private addUnits(caller: MeteredCaller, operation: string, units: number): void {
    const byOp = this.unitsByOperation[caller];
    byOp[operation] = (byOp[operation] ?? 0) + units;
  }
}

/** What happened between two readings of one meter (`later` − `earlier`). */
export function difference(later: MeterReading, earlier: MeterReading): MeterReading {
  const operations = emptyByCaller<Record<string, number>>(() => ({}));
  const dynamodb = emptyByCaller(() => ({ readUnits: 0, writeUnits: 0 }));
  const dynamodbUnitsByOperation = emptyByCaller<Record<string, number>>(() => ({}));
  const s3UploadedBytes = emptyByCaller(() => 0);
  for (const caller of CALLERS) {
    for (const [key, n] of Object.entries(later.operations[caller])) {
      const d = n - (earlier.operations[caller][key] ?? 0);
      if (d !== 0) operations[caller][key] = d;
    }
    for (const [key, n] of Object.entries(later.dynamodbUnitsByOperation[caller])) {
      const d = n - (earlier.dynamodbUnitsByOperation[caller][key] ?? 0);
      if (d !== 0) dynamodbUnitsByOperation[caller][key] = d;
    }
    dynamodb[caller] = {
      readUnits: later.dynamodb[caller].readUnits - earlier.dynamodb[caller].readUnits,
      writeUnits: later.dynamodb[caller].writeUnits - earlier.dynamodb[caller].writeUnits,
    };
    s3UploadedBytes[caller] = later.s3UploadedBytes[caller] - earlier.s3UploadedBytes[caller];
  }
  return {
    operations,
    dynamodb,
    dynamodbUnitsByOperation,
    s3UploadedBytes,
    invocations: later.invocations.slice(earlier.invocations.length),
    emptyReceives: later.emptyReceives - earlier.emptyReceives,
  };
}
