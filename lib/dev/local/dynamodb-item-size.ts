/**
 * DynamoDB's item size, as it bills write units: the sum of the item's attribute names and values
 * (AWS, "DynamoDB item sizes and formats"):
 * - a string: its UTF-8 bytes; a binary: its raw bytes (not the base64 sent on the wire);
 * - a number: 1 byte per two significant digits (leading and trailing zeros trimmed) + 1 byte;
 * - null and Boolean: 1 byte;
 * - a list or map: 3 bytes + its elements' sizes + 1 byte per element (a map's keys count as
 *   attribute names);
 * - a set: the sum of its elements' sizes.
 * The rule for numbers is the documented approximation; AWS publishes no exact one.
 *
 * The meter (aws-meter.ts) uses it where DynamoDB Local reports a transaction's capacity wrong.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/** A write unit covers 1 KB of item (1024 bytes). */
export const WRITE_UNIT_BYTES = 1024;

/** Size in bytes of one item in DynamoDB's wire form (`{ name: { S: "…" } }`). */
export function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + valueSize(value);
  return size;
}

/** Write units DynamoDB bills for writing `bytes` of item once, outside a transaction: at least 1. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES));
}

/** Size in bytes of one attribute value (without its name). */
export function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return binarySize(value.B);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + binarySize(b), 0);
  if (value.L !== undefined) return value.L.reduce((sum, v) => sum + 1 + valueSize(v), 3);
  if (value.M !== undefined) {
    return Object.entries(value.M).reduce((sum, [name, v]) => sum + 1 + utf8(name) + valueSize(v), 3);
  }
  throw new TypeError(
    `expected a DynamoDB attribute value (S, N, B, BOOL, NULL, SS, NS, BS, L or M), found keys [${Object.keys(value).join(", ")}]`,
  );
}

/** A number: 1 byte per two significant digits, plus 1 (sign, point and exponent are not digits). */
export function numberSize(n: string): number {
  const mantissa = n.replace(/^[+-]/, "").replace(/[eE].*$/, "");
  const digits = mantissa.replace(".", "").replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(digits.length / 2) + 1;
}

function utf8(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Raw bytes: the SDK holds binaries as bytes; a string stands for its base64 form. */
function binarySize(b: Uint8Array | string): number {
  return typeof b === "string" ? Buffer.from(b, "base64").byteLength : b.byteLength;
}
