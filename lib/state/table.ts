import { setTimeout as sleep } from "node:timers/promises";
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { ConfigError } from "../errors.js";
import { StateContentionError, StateInvariantError } from "./errors.js";
import { COUNTER_NAMES, type Counters } from "./records.js";

export interface StateTableOptions {
  /** Document client from `createAwsClients` (lib/aws/clients.ts). */
  ddb: DynamoDBDocumentClient;
  /** Name of the state table: string keys `pk`, `sk`; TTL attribute `expiresAt`. */
  tableName: string;
  /** Days job records are kept before TTL removes them. Range 1–3650. Default 90. Sync state never expires. */
  jobTtlDays?: number;
  /** Attempts of a write that conflicts with concurrent transactions on the same item. Range 1–100. Default 25. */
  conflictAttempts?: number;
  /** Clock (tests move it). Default: the system clock. */
  now?: () => Date;
}

export type TransactItem = NonNullable<TransactWriteCommandInput["TransactItems"]>[number];

/** Outcome of a transaction whose conditions may fail: per item, whether its condition failed. */
export type TransactOutcome = { ok: true } | { ok: false; failed: boolean[] };

export type Item = Record<string, unknown>;

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
  private readonly conflictAttempts: number;

  constructor(options: StateTableOptions) {
    const days = options.jobTtlDays ?? 90;
    if (!Number.isInteger(days) || days < 1 || days > 3650) {
      throw new ConfigError("jobTtlDays", `expected an integer 1–3650, found ${days}`);
    }
    const attempts = options.conflictAttempts ?? 25;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100) {
      throw new ConfigError("conflictAttempts", `expected an integer 1–100, found ${attempts}`);
    }
    if (!options.tableName) throw new ConfigError("tableName", "expected a table name, found none");
    this.ddb = options.ddb;
    this.name = options.tableName;
    this.jobTtlSeconds = days * 86_400;
    this.conflictAttempts = attempts;
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
    const out = await this.ddb.send(
      new GetCommand({ TableName: this.name, Key: { pk, sk }, ConsistentRead: true }),
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
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.name,
          KeyConditionExpression: prefix ? "pk = :pk AND begins_with(sk, :prefix)" : "pk = :pk",
          ExpressionAttributeValues: prefix ? { ":pk": pk, ":prefix": prefix } : { ":pk": pk },
          ConsistentRead: true,
          ScanIndexForward: !options.newestFirst,
          ExclusiveStartKey: start,
          ...(options.limit ? { Limit: options.limit - items.length } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && (!options.limit || items.length < options.limit));
    return items;
  }

  /**
   * Unconditional puts in chunks of 25 (the BatchWriteItem limit), resending what DynamoDB
   * leaves unprocessed. Only for items nobody else writes at the same time.
   */
  async putAll(items: Item[]): Promise<void> {
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 20 * 2 ** attempt));
        const out = await this.ddb.send(new BatchWriteCommand({ RequestItems: { [this.name]: requests } }));
        requests = (out.UnprocessedItems?.[this.name] ?? []) as typeof requests;
        if (attempt >= this.conflictAttempts) {
          throw new StateContentionError(
            `state table ${this.name}: expected batch writes to be processed, found ${requests.length} unprocessed after ${attempt} attempts`,
          );
        }
      }
    }
  }

  /**
   * Runs a transaction. Conflicts with concurrent transactions are retried with jittered
   * backoff; failed conditions are returned (which item's condition failed), never thrown.
   */
  async transact(items: TransactItem[]): Promise<TransactOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ddb.send(new TransactWriteCommand({ TransactItems: items }));
        return { ok: true };
      } catch (error) {
        const reasons = cancellationCodes(error);
        if (reasons?.includes("ConditionalCheckFailed")) {
          return { ok: false, failed: reasons.map((code) => code === "ConditionalCheckFailed") };
        }
        const conflict = reasons?.includes("TransactionConflict") || isConflict(error);
        if (!conflict) throw error;
        if (attempt >= this.conflictAttempts) {
          throw new StateContentionError(
            `state table ${this.name}: expected a transaction to go through, found it conflicting ${attempt} times`,
            { cause: error },
          );
        }
        // Full jitter: concurrent claimers spread out instead of colliding again in lockstep.
        await sleep(Math.random() * Math.min(500, 10 * 2 ** attempt));
      }
    }
  }

  /**
   * A single-item update on this table that returns attributes (`ReturnValues`); undefined when
   * its condition fails. Conflicts with concurrent transactions on the item are retried.
   */
  async updateReturning(input: Omit<UpdateCommandInput, "TableName">): Promise<Item | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.ddb.send(new UpdateCommand({ TableName: this.name, ...input }));
        return out.Attributes ?? {};
      } catch (error) {
        if (isConditionFailed(error)) return undefined;
        if (!isConflict(error)) throw error;
        if (attempt >= this.conflictAttempts) {
          throw new StateContentionError(
            `state table ${this.name}: expected an update to go through, found it conflicting ${attempt} times`,
            { cause: error },
          );
        }
        await sleep(Math.random() * Math.min(500, 10 * 2 ** attempt));
      }
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
