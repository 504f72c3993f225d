/**
 * DynamoDB's item size rule and a transaction's billed write units, from the items before and
 * after it (the AWS meter's own count, since DynamoDB Local under-reports transactions).
 */
import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { itemSize, numberSize, valueSize, writeUnits } from "../../../lib/dev/local/dynamodb-item-size.js";
import { addresses, addressId, transactionWriteUnits } from "../../../lib/dev/local/transaction-capacity.js";

describe("DynamoDB's item size", () => {
  it("adds attribute names and values: strings in UTF-8 bytes, binaries in raw bytes", () => {
    expect(itemSize({ pk: { S: "abc" } })).toBe(2 + 3);
    expect(itemSize({ é: { S: "€" } })).toBe(2 + 3);
    expect(itemSize({ b: { B: new Uint8Array(10) } })).toBe(1 + 10);
    expect(valueSize({ B: Buffer.alloc(6).toString("base64") as unknown as Uint8Array })).toBe(6);
    expect(itemSize({ t: { BOOL: true }, n: { NULL: true } })).toBe(2 + 2);
  });

  it("sizes a number by its significant digits, one byte per two, plus one", () => {
    expect(numberSize("0")).toBe(1);
    expect(numberSize("7")).toBe(2);
    expect(numberSize("12")).toBe(2);
    expect(numberSize("123")).toBe(3);
    expect(numberSize("-1234.5")).toBe(4);
    expect(numberSize("1000000")).toBe(2); // trailing zeros trimmed
    expect(numberSize("0.000123")).toBe(3); // leading zeros trimmed
    expect(numberSize("1733580000000")).toBe(4);
    expect(numberSize("1733580123456")).toBe(8);
  });

  it("adds 3 bytes a list or map and 1 byte an element; sets are their elements", () => {
    expect(valueSize({ L: [] })).toBe(3);
    expect(valueSize({ M: {} })).toBe(3);
    expect(valueSize({ L: [{ S: "ab" }, { N: "1" }] })).toBe(3 + (1 + 2) + (1 + 2));
    expect(valueSize({ M: { k: { S: "ab" }, kk: { M: { x: { BOOL: false } } } } })).toBe(
      3 + (1 + 1 + 2) + (1 + 2 + (3 + 1 + 1 + 1)),
    );
    expect(valueSize({ SS: ["a", "bc"] })).toBe(3);
    expect(valueSize({ NS: ["1", "123"] })).toBe(2 + 3);
    expect(valueSize({ BS: [new Uint8Array(4), new Uint8Array(5)] })).toBe(9);
  });

  it("refuses a value of no DynamoDB type, naming what it found", () => {
    expect(() => valueSize({ X: "1" } as never)).toThrow(
      /expected a DynamoDB attribute value.*found keys \[X\]/,
    );
  });

  it("bills a write per started KB, at least one", () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
    expect(writeUnits(2560)).toBe(3);
  });
});

describe("a transaction's billed write units", () => {
  const table = "t";
  const kb = (k: string, bytes: number) => ({ pk: { S: k }, v: { S: "x".repeat(bytes - 4) } }); // pk + "k" + v = bytes
  const keyNames = () => ["pk"];
  const stored = (...items: Record<string, { S: string }>[]) =>
    new Map(items.map((i) => [addressId(table, { pk: i.pk as { S: string } }), i]));

  it("counts every item, equal ones included: ten Puts of 2.5 KB are 60 units", () => {
    const items: TransactWriteItem[] = Array.from({ length: 10 }, (_, i) => ({
      Put: { TableName: table, Item: kb(String(i), 2560) },
    }));
    const at = addresses(items, keyNames);
    expect(transactionWriteUnits(items, at, new Map(), new Map())).toBe(60);
  });

  it("bills a Put the larger of the item written and the item replaced", () => {
    const items: TransactWriteItem[] = [{ Put: { TableName: table, Item: kb("a", 500) } }];
    const at = addresses(items, keyNames);
    expect(transactionWriteUnits(items, at, stored(kb("a", 5000)), new Map())).toBe(2 * 5);
  });

  it("bills an Update the larger of before and after, a Delete and a ConditionCheck the item before", () => {
    const key = (k: string) => ({ pk: { S: k } });
    const items: TransactWriteItem[] = [
      { Update: { TableName: table, Key: key("u"), UpdateExpression: "SET v = :v" } },
      { Update: { TableName: table, Key: key("new"), UpdateExpression: "SET v = :v" } },
      { Delete: { TableName: table, Key: key("d") } },
      { ConditionCheck: { TableName: table, Key: key("c"), ConditionExpression: "attribute_exists(pk)" } },
      { Delete: { TableName: table, Key: key("gone") } },
    ];
    const at = addresses(items, keyNames);
    const before = stored(kb("u", 3000), kb("d", 4000), kb("c", 1500));
    const after = stored(kb("u", 1000), kb("new", 2100));
    // u: max(3000, 1000) → 3; new: 2100 → 3; d: 4000 → 4; c: 1500 → 2; gone: nothing → 1.
    expect(transactionWriteUnits(items, at, before, after)).toBe(2 * (3 + 3 + 4 + 2 + 1));
  });

  it("refuses a transaction item of no known kind, naming what it found", () => {
    expect(() => addresses([{ Get: {} } as never], keyNames)).toThrow(
      /Put, Update, Delete or ConditionCheck.*\[Get\]/,
    );
  });
});
