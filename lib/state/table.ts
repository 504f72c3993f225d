import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { ConfigError, isTransientFailure } from "../errors.js";
import { type RetryBudget, type RetryDeadline, retry, validateRetryBudget } from "../retry.js";
import { StateContentionError, StateInvariantError, StateUnavailableError } from "./errors.js";
import { COUNTER_NAMES, type Counters } from "./records.js";

export interface StateTableOptions {
  /** Document client from `createAwsClients` (lib/aws/clients.ts). */
  ddb: DynamoDBDocumentClient;
  /** Name of the state table: string keys `pk`, `sk`; TTL attribute `expiresAt`. */
  tableName: string;
  /** Days job records are kept before TTL removes them. Range 1–3650. Default 90. Sync state never expires. */
  jobTtlDays?: number;
  /**
   * How long a request is retried (lib/retry.ts) while DynamoDB is unreachable, throttles after
   * the SDK's own attempts, or a transaction conflicts with concurrent ones on the same item;
   * then it ends with a StateUnavailableError or StateContentionError (retryable: the task is
   * delivered again). Default: 60 s, backoff from 20 ms up to 1 s.
   */
  retry?: RetryBudget;
  /**
   * No retry waits past it (lib/retry.ts): a stream task's table ({@link StateStore.withRetryDeadline})
   * keeps to the moment its invocation stops starting work. Default none.
   */
  retryDeadline?: RetryDeadline;
  /** Clock (tests move it). Default: the system clock. */
  now?: () => Date;
}

export type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

/** Outcome of a transaction whose conditions may fail: per item, whether its condition failed. */
export type TransactOutcome = { ok: true } | { ok: false; failed: boolean[] };

export type Item = Record<string, unknown>;

/** Keys one BatchGetItem request may ask for (DynamoDB's limit). */
export const BATCH_GET_KEYS = 100;

/** Items one TransactWriteItems request may hold (DynamoDB's limit). */
export const TRANSACTION_ITEMS = 100;

/**
 * The table and the low-level moves every state module makes on it: consistent reads, paged
 * queries, chunked batch puts, and transactions that retry conflicts but report failed
 * conditions.
 */
export class StateTable {
  readonly ddb: DynamoDBDocumentClient;
  readonly name: string;
  readonly jobTtlSeconds: number;
  readonly now: () => Date;
  private readonly retryBudget: Required<RetryBudget>;
  private readonly retryDeadline: RetryDeadline | undefined;

  constructor(options: StateTableOptions) {
    const days = options.jobTtlDays ?? 90;
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw new ConfigError("jobTtlDays", `expected an integer 1–3650, found ${days}`);
    }
    const retryBudget = validateRetryBudget(
      { budgetMs: 60_000, backoffBaseMs: 20, backoffCapMs: 1_000, ...options.retry },
      "stateTable.retry",
    );
    if (!options.tableName) throw new ConfigError("tableName", "expected a table name, found none");
    this.ddb = options.ddb;
    this.name = options.tableName;
    this.jobTtlSeconds = days * 86_400;
    this.retryBudget = retryBudget;
    this.retryDeadline = options.retryDeadline;
    this.now = options.now ?? (() => new Date());
  }

  nowIso(): string {
    return this.now().toISOString();
  }

  /** TTL value (epoch seconds) for a record of a job created at `createdAt`. */
  expiresAt(createdAt: string): number {
    return Math.floor(Date.parse(createdAt) / 1000) + this.jobTtlSeconds;
  }

  async get(pk: string, sk: string): Promise<Item | undefined> {
    const out = await this.send((ddb) =>
      ddb.send(new GetCommand({ TableName: this.name, Key: { pk, sk }, ConsistentRead: true })),
    );
    return out.Item;
  }

  /** Every item of a partition whose sort key starts with `prefix` ("": all), in sort key order. */
  async query(
    pk: string,
    prefix: string,
    options: { newestFirst?: boolean; limit?: number } = {},
  ): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.send((ddb) =>
        ddb.send(
          new QueryCommand({
            TableName: this.name,
            KeyConditionExpression: prefix ? "pk = :pk AND begins_with(sk, :prefix)" : "pk = :pk",
            ExpressionAttributeValues: prefix ? { ":pk": pk, ":prefix": prefix } : { ":pk": pk },
            ConsistentRead: true,
            ScanIndexForward: !options.newestFirst,
            ExclusiveStartKey: start,
            ...(options.limit ? { Limit: options.limit - items.length } : {}),
          }),
        ),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && (!options.limit || items.length < options.limit));
    return items;
  }

  /**
   * One page of a partition's items whose sort key starts with `prefix`, after the sort key
   * `after` (absent: from the first), at most `limit` of them: a walk over a partition that may
   * stop between pages and go on from the last key in another process. `last`: the page's last
   * sort key while more may follow, else undefined.
   */
  async queryPage(
    pk: string,
    prefix: string,
    options: { after?: string; limit: number },
  ): Promise<{ items: Item[]; last?: string }> {
    const out = await this.send((ddb) =>
      ddb.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
          ExpressionAttributeValues: { ":pk": pk, ":prefix": prefix },
          ConsistentRead: true,
          Limit: options.limit,
          ...(options.after !== undefined ? { ExclusiveStartKey: { pk, sk: options.after } } : {}),
        }),
      ),
    );
    const items = out.Items ?? [];
    const last = out.LastEvaluatedKey?.sk;
    return { items, ...(typeof last === "string" ? { last } : {}) };
  }

  /**
   * The items at `keys` (consistent reads), in no particular order, absent ones left out:
   * BatchGetItem requests of {@link BATCH_GET_KEYS}, `width` at once, keys DynamoDB leaves
   * unprocessed (throttling, the 16 MB answer limit) asked again after a backoff, within the
   * retry budget like any other request.
   */
  async batchGet(keys: ReadonlyArray<{ pk: string; sk: string }>, width = 4): Promise<Item[]> {
    const chunks: Array<Array<{ pk: string; sk: string }>> = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) chunks.push(keys.slice(i, i + BATCH_GET_KEYS));
    const found: Item[] = [];
    await inChunks(chunks, width, async (chunk) => {
      let left: Array<Record<string, unknown>> = chunk;
      for (let round = 0; left.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 20 * 2 ** round)));
        const out = await this.send((ddb) =>
          ddb.send(
            new BatchGetCommand({ RequestItems: { [this.name]: { Keys: left, ConsistentRead: true } } }),
          ),
        );
        found.push(...(out.Responses?.[this.name] ?? []));
        left = out.UnprocessedKeys?.[this.name]?.Keys ?? [];
        if (left.length > 0 && round >= 10) {
          throw new StateUnavailableError(
            `state table ${this.name}: expected a batch read to be answered, found ${left.length} keys unprocessed after ${round + 1} rounds`,
          );
        }
      }
    });
    return found;
  }

  /**
   * Sends one command to the table, retrying within the retry budget what another try may cure:
   * an unreachable or throttling DynamoDB (after the SDK's own attempts) and, for transactions
   * and conditional updates, conflicts with concurrent transactions on the same item.
   */
  async send<T>(call: (ddb: DynamoDBDocumentClient) => Promise<T>): Promise<T> {
    return await retry(() => call(this.ddb), {
      ...this.retryBudget,
      deadline: this.retryDeadline,
      decide: (error) => {
        const reasons = cancellationCodes(error);
        // A failed condition is an answer, not a failure: the caller reads it.
        if (reasons?.includes("ConditionalCheckFailed")) return { retry: false };
        return isConflict(error) || reasons?.includes("TransactionConflict") || isTransientFailure(error)
          ? { retry: true, delay: "backoff" }
          : { retry: false };
      },
      exhausted: (last, attempts, elapsedMs) => {
        const seconds = (elapsedMs / 1000).toFixed(1);
        return isTransientFailure(last)
          ? new StateUnavailableError(
              `state table ${this.name}: expected DynamoDB to answer, found it failing for ${seconds} s (${attempts} attempts): ${describeFailure(last)}`,
              { cause: last },
            )
          : new StateContentionError(
              `state table ${this.name}: expected a write to go through, found it conflicting with concurrent writes ${attempts} times in ${seconds} s`,
              { cause: last },
            );
      },
    });
  }

  /**
   * Runs a transaction. Conflicts with concurrent transactions are retried with jittered
   * backoff (so concurrent claimers spread out instead of colliding again in lockstep); failed
   * conditions are returned (which item's condition failed), never thrown.
   */
  async transact(items: TransactItem[]): Promise<TransactOutcome> {
    try {
      await this.send((ddb) => ddb.send(new TransactWriteCommand({ TransactItems: items })));
      return { ok: true };
    } catch (error) {
      const reasons = cancellationCodes(error);
      if (reasons?.includes("ConditionalCheckFailed")) {
        return { ok: false, failed: reasons.map((code) => code === "ConditionalCheckFailed") };
      }
      throw error;
    }
  }

  /**
   * Writes `items`, each on a record of its own (no two on one key) and each conditional on its
   * record alone, with as few requests as DynamoDB allows: transactions of up to
   * {@link TRANSACTION_ITEMS}, `width` of them at once, instead of a request per item. An item
   * whose condition fails is left out and the rest of its transaction is sent again (every round
   * drops one item at least, so a transaction is sent at most once more than its failed items).
   * Each item is written or refused on its own, as by single writes; atomicity across items is
   * not what this is for. Returns, per item, whether it was written.
   */
  async transactEach(items: readonly TransactItem[], width = 4): Promise<boolean[]> {
    const written = new Array<boolean>(items.length).fill(false);
    const chunks: number[][] = [];
    for (let i = 0; i < items.length; i += TRANSACTION_ITEMS) {
      chunks.push(Array.from({ length: Math.min(TRANSACTION_ITEMS, items.length - i) }, (_, k) => i + k));
    }
    await inChunks(chunks, width, async (chunk) => {
      let left = chunk;
      while (left.length > 0) {
        const outcome = await this.transact(left.map((i) => items[i] as TransactItem));
        if (outcome.ok) {
          for (const i of left) written[i] = true;
          return;
        }
        const kept = left.filter((_, k) => !outcome.failed[k]);
        if (kept.length === left.length) {
          throw new StateInvariantError(
            `state table ${this.name}: expected a refused transaction to name the item whose condition failed, found none of ${left.length}`,
          );
        }
        left = kept;
      }
    });
    return written;
  }

  /**
   * A single-item update on this table that returns attributes (`ReturnValues`); undefined when
   * its condition fails. Conflicts with concurrent transactions on the item are retried.
   */
  async updateReturning(input: Omit<UpdateCommandInput, "TableName">): Promise<Item | undefined> {
    const outcome = await this.conditionalUpdate(input);
    return outcome.written ? outcome.attributes : undefined;
  }

  /**
   * A conditional single-item update that, when its condition fails, answers with the item as it
   * was (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) instead of nothing: a caller that reads
   * the item after a refusal gets it from the refusal, one request instead of two. `written`:
   * the attributes `ReturnValues` asked for; `refused`: the item found (undefined: none).
   */
  async updateOrRead(
    input: Omit<UpdateCommandInput, "TableName" | "ReturnValuesOnConditionCheckFailure">,
  ): Promise<{ written: Item } | { refused: Item | undefined }> {
    const outcome = await this.conditionalUpdate({
      ...input,
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    if (outcome.written) return { written: outcome.attributes };
    // The refusal carries the item in DynamoDB's own format (the document client converts only answers).
    return { refused: outcome.found ? unmarshall(outcome.found) : undefined };
  }

  /** One conditional update: its attributes, or its refusal (with the item when it was asked for). */
  private async conditionalUpdate(
    input: Omit<UpdateCommandInput, "TableName">,
  ): Promise<
    { written: true; attributes: Item } | { written: false; found?: Record<string, AttributeValue> }
  > {
    try {
      const out = await this.send((ddb) => ddb.send(new UpdateCommand({ TableName: this.name, ...input })));
      return { written: true, attributes: out.Attributes ?? {} };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
      const found = (error as { Item?: Record<string, AttributeValue> }).Item;
      return { written: false, ...(found ? { found } : {}) };
    }
  }

  /** An Update transact item on this table. */
  update(
    pk: string,
    sk: string,
    expression: string,
    values: Record<string, unknown>,
    condition?: string,
    names?: Record<string, string>,
  ): TransactItem {
    return {
      Update: {
        TableName: this.name,
        Key: { pk, sk },
        UpdateExpression: expression,
        ...(condition ? { ConditionExpression: condition } : {}),
        ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
        ...(names ? { ExpressionAttributeNames: names } : {}),
      },
    };
  }
}

/** One line for an AWS SDK or connection failure: its name, code and message. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === "string" && code !== error.name ? ` ${code}` : ""}: ${error.message}`;
}

function cancellationCodes(error: unknown): string[] | undefined {
  if (!(error instanceof Error) || error.name !== "TransactionCanceledException") return undefined;
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
  return reasons?.map((r) => r.Code ?? "None");
}

function isConflict(error: unknown): boolean {
  return error instanceof Error && error.name === "TransactionConflictException";
}

export function isConditionFailed(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

/** Zero counters, the initial value on every record that carries them. */
export function zeroCounters(): Counters {
  return { items: 0, bytes: 0, removed: 0, deduplicated: 0, requests: 0, throttled: 0 };
}

/**
 * `ADD` clauses for the non-zero counters of `delta`, their values, and whether any is non-zero.
 * Counter names are attribute names (#c_items …) because some are reserved words.
 */
export function counterAdds(delta: Partial<Counters>): {
  clauses: string[];
  values: Record<string, number>;
  names: Record<string, string>;
} {
  const clauses: string[] = [];
  const values: Record<string, number> = {};
  const names: Record<string, string> = {};
  for (const name of COUNTER_NAMES) {
    const v = delta[name] ?? 0;
    if (!Number.isFinite(v)) {
      throw new StateInvariantError(`counter ${name}: expected a finite number, found ${v}`);
    }
    if (v === 0) continue;
    clauses.push(`#c_${name} :c_${name}`);
    values[`:c_${name}`] = v;
    names[`#c_${name}`] = name;
  }
  return { clauses, values, names };
}

/** A stored item without its keys and TTL. */
export function strip(item: Item): Item {
  const { pk: _pk, sk: _sk, expiresAt: _ttl, ...rest } = item;
  return rest;
}

/** Runs `work` over `items`, at most `width` at a time (bounded fan-out of single-item writes). */
export async function inChunks<T, R>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) {
    results.push(...(await Promise.all(items.slice(i, i + width).map(work))));
  }
  return results;
}
