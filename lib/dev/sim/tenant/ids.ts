/**
 * Exchange-like identifiers derived deterministically from a namespace and a counter, so that a
 * tenant generated twice from the same seed has identical ids.
 */
import { createHash } from "node:crypto";

/** Leading bytes of real Exchange Online immutable ids (their base64 starts with "AAMkAG"). */
const EXCHANGE_ID_PREFIX = Buffer.from("AAMkAGI2", "base64");
/** Leading bytes of real change keys (their base64 starts with "CQAAABYAAAA"). */
const CHANGE_KEY_PREFIX = Buffer.from("CQAAABYAAAA=", "base64");

function digest(...parts: Array<string | number>): Buffer {
  return createHash("sha256").update(parts.join("\u0000")).digest();
}

/**
 * An immutable-id-looking string (base64url, no padding, 96 characters) for a folder or message.
 * `kind` separates the id spaces so a folder and a message never share an id.
 */
export function exchangeId(namespace: string, kind: "folder" | "message", counter: number): string {
  const body = createHash("shake256", { outputLength: 66 })
    .update(`${namespace}\u0000${kind}\u0000${counter}`)
    .digest();
  return Buffer.concat([EXCHANGE_ID_PREFIX, body]).toString("base64url");
}

/** A change key for the `seq`-th change of a message (`@odata.etag` W/"…"). */
export function changeKeyFor(messageId: string, seq: number): string {
  return Buffer.concat([CHANGE_KEY_PREFIX, digest(messageId, seq).subarray(0, 12)]).toString("base64");
}

/** A lower-case GUID (8-4-4-4-12 hex) from 16 bytes of input, with version-4 and variant bits set. */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length < 16)
    throw new RangeError(`guidFromBytes: expected at least 16 bytes, found ${bytes.length}`);
  const b = Buffer.from(bytes.subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A deterministic GUID for a name inside a namespace (e.g. a user id from tenant seed + index). */
export function guidFor(namespace: string, name: string | number): string {
  return guidFromBytes(digest("guid", namespace, name));
}
