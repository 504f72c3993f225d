/**
 * The write units DynamoDB bills for a TransactWriteItems, worked out from its items' sizes.
 *
 * DynamoDB Local (3.3) reports a transaction's consumed capacity as the sum over its items'
 * *distinct* unit counts (ten Puts of 2.5 KB: 6 units, where DynamoDB bills 60), so the meter
 * (aws-meter.ts) counts it itself: per item 2 × ⌈size / 1 KB⌉ (a transactional write costs two
 * standard ones), where the size is, as DynamoDB bills writes:
 * - Put: the larger of the item written and the item it replaces;
 * - Update: the larger of the item before and after;
 * - Delete: the item before;
 * - ConditionCheck: the item checked.
 * The stored items come from reads the meter makes around the transaction ({@link keysToRead}).
 */
import type { AttributeValue, TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { itemSize, writeUnits } from "./dynamodb-item-size.js";

type Key = Record<string, AttributeValue>;

/** One item the transaction touches: its table and primary key. */
export interface ItemAddress {
  table: string;
  key: Key;
}

/** Stored items by address ({@link addressId}); missing: no such item. */
export type StoredItems = ReadonlyMap<string, Record<string, AttributeValue>>;

/** Write units of one transactional write of an item of `bytes` (at least 1 KB's worth). */
export const TRANSACTIONAL_WRITE_FACTOR = 2;

/**
 * A stable id of an item's address. `keyNames` picks the key attributes out of a whole item (as
 * a read returns it); by default all of `key`'s attributes are the key.
 */
export function addressId(table: string, key: Key, keyNames = Object.keys(key)): string {
  const parts = [...keyNames].sort().map((name) => [name, key[name]]);
  return JSON.stringify([table, parts]);
}

/** The address of each transaction item, in order (a Put's key is read off its item, see {@link keyOfPut}). */
export function addresses(
  items: readonly TransactWriteItem[],
  keyNames: (table: string) => string[],
): ItemAddress[] {
  return items.map((item) => {
    if (item.Put)
      return {
        table: tableOf(item.Put.TableName),
        key: keyOfPut(item.Put.Item ?? {}, keyNames(tableOf(item.Put.TableName))),
      };
    const op = item.Update ?? item.Delete ?? item.ConditionCheck;
    if (!op)
      throw new TypeError(
        `expected a transaction item with Put, Update, Delete or ConditionCheck, found keys [${Object.keys(item).join(", ")}]`,
      );
    return { table: tableOf(op.TableName), key: op.Key ?? {} };
  });
}

/** The key attributes of a Put's item. */
export function keyOfPut(item: Record<string, AttributeValue>, keyNames: string[]): Key {
  return Object.fromEntries(
    keyNames.filter((n) => item[n] !== undefined).map((n) => [n, item[n] as AttributeValue]),
  );
}

/** Which items must be read before the transaction (every item) and after it (the updated ones). */
export function keysToRead(
  items: readonly TransactWriteItem[],
  at: readonly ItemAddress[],
): { before: ItemAddress[]; after: ItemAddress[] } {
  return { before: [...at], after: at.filter((_, i) => items[i]?.Update !== undefined) };
}

/** Σ over the items of 2 × ⌈billed size / 1 KB⌉, from the stored items before and after. */
export function transactionWriteUnits(
  items: readonly TransactWriteItem[],
  at: readonly ItemAddress[],
  before: StoredItems,
  after: StoredItems,
): number {
  let units = 0;
  items.forEach((item, i) => {
    const address = at[i] as ItemAddress;
    const id = addressId(address.table, address.key);
    const sizeBefore = sizeOf(before.get(id));
    let bytes: number;
    if (item.Put) bytes = Math.max(itemSize(item.Put.Item ?? {}), sizeBefore);
    else if (item.Update) bytes = Math.max(sizeBefore, sizeOf(after.get(id)));
    else bytes = sizeBefore; // Delete, ConditionCheck
    units += TRANSACTIONAL_WRITE_FACTOR * writeUnits(bytes);
  });
  return units;
}

function sizeOf(item: Record<string, AttributeValue> | undefined): number {
  return item ? itemSize(item) : 0;
}

function tableOf(name: string | undefined): string {
  if (!name) throw new TypeError("expected a TableName on the transaction item, found none");
  return name;
}
