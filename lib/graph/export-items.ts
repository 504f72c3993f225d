/**
 * `exportItems` of the mailbox import/export API: up to 20 items of one mailbox per request,
 * each answered with its export stream (opaque full-fidelity data, base64 in the answer) or an
 * error of its own. Items an auto-expanding archive moved to its auxiliary mailbox answer
 * `ErrorArchiveFolderMovedPermanently` with the URL to ask instead, which is followed here once.
 */
import { once } from "node:events";
import { PassThrough, type Readable } from "node:stream";
import { Base64Decoder } from "./base64-decoder.js";
import type { GraphGateway } from "./client.js";
import { mailboxPath } from "./mailbox-folders.js";

/** Graph takes at most this many ids per `exportItems` request. */
export const EXPORT_BATCH_LIMIT = 20;

export type ExportAnswer =
  | { itemId: string; changeKey?: string; data: Buffer }
  | { itemId: string; error: { code: string; message: string } };

interface RawAnswer {
  itemId?: string;
  changeKey?: string;
  data?: string;
  error?: { code?: string; message?: string };
  /** One documentation example spells the per-item error this way. */
  Error?: { code?: string; message?: string };
}

const MOVED = "ErrorArchiveFolderMovedPermanently";
/** What an answer's `data` must be: standard base64, at most two `=` at the end. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bytes of an answer's `data`, or undefined when it is not {@link BASE64}; the same verdict
 * as testing the pattern, without running it over every character (it took 5 % of the harness's
 * busy time). Node's decoder skips characters outside the alphabet and stops at a `=`, so text
 * holding any has fewer bytes than its length promises (`⌊3 × digits / 4⌋`, the padding left
 * out), except where one character more or less decodes to the same length (digits ≡ 1 mod 4,
 * which no encoder writes: checked with the pattern). It decodes base64url's `-` and `_` as
 * well: those are looked for (`includes` is a memchr, not a per-character match).
 */
export function decodeBase64Data(text: string): Buffer | undefined {
  let digits = text.length;
  while (digits > 0 && text.length - digits < 2 && text.charCodeAt(digits - 1) === 0x3d) digits--;
  if (digits % 4 === 1) return BASE64.test(text) ? Buffer.from(text, "base64") : undefined;
  if (text.includes("-") || text.includes("_")) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === Math.floor((digits * 3) / 4) ? bytes : undefined;
}

export interface ExportOptions {
  /** The key the request counts against in the gateway's per-mailbox limits (mailbox-folders.ts). */
  trafficKey: string;
}

/**
 * Exports 1–20 items of a mailbox; one answer per id, in the order of the ids. An answer the
 * service left out or malformed is a per-item error (`ErrorMissingAnswer`, `ErrorMalformedData`).
 */
export async function exportItems(
  gateway: GraphGateway,
  mailboxId: string,
  itemIds: readonly string[],
  options: ExportOptions,
): Promise<ExportAnswer[]> {
  if (itemIds.length < 1 || itemIds.length > EXPORT_BATCH_LIMIT) {
    throw new RangeError(`exportItems: expected 1–${EXPORT_BATCH_LIMIT} item ids, found ${itemIds.length}`);
  }
  const answers = await exportFrom(gateway, `${mailboxPath(mailboxId)}/exportItems`, itemIds, options);
  // Items in the auxiliary archive: ask the URL each error names, grouped by URL.
  const moved = new Map<string, number[]>();
  answers.forEach((a, i) => {
    if ("error" in a && a.error.code === MOVED && /^https:\/\//.test(a.error.message)) {
      const list = moved.get(a.error.message) ?? [];
      list.push(i);
      moved.set(a.error.message, list);
    }
  });
  for (const [url, indexes] of moved) {
    const again = await exportFrom(
      gateway,
      url,
      indexes.map((i) => itemIds[i] as string),
      options,
    );
    indexes.forEach((at, k) => {
      answers[at] = again[k] as ExportAnswer;
    });
  }
  return answers;
}

async function exportFrom(
  gateway: GraphGateway,
  url: string,
  itemIds: readonly string[],
  options: ExportOptions,
): Promise<ExportAnswer[]> {
  const body = await gateway.post<{ value?: RawAnswer[] }>(
    url,
    { itemIds },
    { mailboxId: options.trafficKey },
  );
  const byId = new Map<string, RawAnswer>();
  for (const raw of body.value ?? []) if (typeof raw.itemId === "string") byId.set(raw.itemId, raw);
  return itemIds.map((itemId, i) => {
    // Answers are in the order of the ids; by id when the service reordered them.
    const raw = body.value?.[i]?.itemId === itemId ? body.value[i] : byId.get(itemId);
    if (!raw) {
      return {
        itemId,
        error: { code: "ErrorMissingAnswer", message: "exportItems answered no entry for the id" },
      };
    }
    const error = raw.error ?? raw.Error;
    if (error) return { itemId, error: { code: error.code ?? "Error", message: error.message ?? "" } };
    const data = typeof raw.data === "string" ? decodeBase64Data(raw.data) : undefined;
    if (data === undefined) {
      return {
        itemId,
        error: {
          code: "ErrorMalformedData",
          message: "exportItems: expected base64 data, found none or other text",
        },
      };
    }
    return {
      itemId,
      ...(typeof raw.changeKey === "string" ? { changeKey: raw.changeKey } : {}),
      data,
    };
  });
}

/** One item's export answered as a stream: its data handed to `consume` as it arrives. */
export type StreamedExport<T> =
  | { itemId: string; changeKey?: string; result: T }
  | { itemId: string; error: { code: string; message: string } };

/**
 * Exports one item and streams its data (base64 in the JSON answer, decoded on the fly) into
 * `consume`, so that memory stays bounded whatever the item's size (a 100 MB item never sits in
 * memory, as a parsed answer would hold it twice). `consume` is called only when the answer
 * carries data. Follows `ErrorArchiveFolderMovedPermanently` once.
 */
export async function exportItemStreamed<T>(
  gateway: GraphGateway,
  mailboxId: string,
  itemId: string,
  options: ExportOptions,
  consume: (data: Readable) => Promise<T>,
  url = `${mailboxPath(mailboxId)}/exportItems`,
): Promise<StreamedExport<T>> {
  const answer = await gateway.streamPost(url, { itemIds: [itemId] }, { mailboxId: options.trafficKey });
  const scanned = await scanExportAnswer(answer, consume);
  const raw = scanned.skeleton.value?.[0];
  const error = raw?.error ?? raw?.Error;
  if (error) {
    if (error.code === MOVED && /^https:\/\//.test(error.message ?? "") && url.startsWith(mailboxPath(""))) {
      return exportItemStreamed(gateway, mailboxId, itemId, options, consume, error.message);
    }
    return { itemId, error: { code: error.code ?? "Error", message: error.message ?? "" } };
  }
  if (!scanned.consumed) {
    return {
      itemId,
      error: { code: "ErrorMissingAnswer", message: "exportItems answered no data for the id" },
    };
  }
  return {
    itemId,
    ...(typeof raw?.changeKey === "string" ? { changeKey: raw.changeKey } : {}),
    result: scanned.result as T,
  };
}

/**
 * Reads an `exportItems` answer of one item: everything but the `data` string is kept (small) and
 * parsed at the end; the `data` string's base64 is decoded as it streams into `consume`. The data
 * is handled as bytes, never as strings (base64-decoder.ts), so that a 100 MB item leaves no copies
 * of its text on the heap, whose collections would keep the stream's buffers alive into the old
 * generation (controller memory, issue 12).
 */
async function scanExportAnswer<T>(
  answer: Readable,
  consume: (data: Readable) => Promise<T>,
): Promise<{ skeleton: { value?: RawAnswer[] }; consumed: boolean; result?: T }> {
  let skeleton = "";
  let inData = false;
  /** The previous chunk ended inside the data on a backslash: the next byte stands for itself. */
  let escaped = false;
  const decoder = new Base64Decoder();
  let out: PassThrough | undefined;
  let consuming: Promise<T> | undefined;
  const write = async (bytes: Buffer) => {
    if (bytes.length === 0 || !out) return;
    if (!out.write(bytes)) await Promise.race([once(out, "drain"), consuming]);
  };
  try {
    for await (const chunk of answer) {
      let bytes =
        typeof chunk === "string"
          ? Buffer.from(chunk, "latin1")
          : Buffer.from(
              (chunk as Uint8Array).buffer,
              (chunk as Uint8Array).byteOffset,
              (chunk as Uint8Array).byteLength,
            );
      while (bytes.length > 0) {
        if (!inData) {
          // Look for the key from a little before the new text (it may straddle two chunks).
          const dataKey = /"data"\s*:\s*"/g;
          const before = skeleton.length;
          dataKey.lastIndex = Math.max(0, before - 32);
          skeleton += bytes.toString("latin1");
          const start = consuming === undefined ? dataKey.exec(skeleton) : null;
          if (!start) break;
          // Everything after the opening quote is data; the skeleton keeps `"data":"`.
          const cut = start.index + start[0].length;
          bytes = bytes.subarray(cut - before);
          skeleton = skeleton.slice(0, cut);
          inData = true;
          out = new PassThrough();
          consuming = consume(out);
          continue;
        }
        // In the data string: base64, where a JSON writer may escape "/" as "\/". Without a
        // backslash the data runs to the closing quote; with one, the chunk's data is compacted
        // in place (the escape dropped, the escaped byte kept).
        let end = bytes.length;
        let dataEnd = end;
        let closed = false;
        const slash = bytes.indexOf(0x5c);
        if (!escaped && slash < 0) {
          const quote = bytes.indexOf(0x22);
          if (quote >= 0) {
            end = quote;
            dataEnd = quote;
            closed = true;
          }
        } else {
          let w = 0;
          let i = 0;
          for (; i < bytes.length; i++) {
            const byte = bytes[i] as number;
            if (escaped) {
              bytes[w++] = byte;
              escaped = false;
            } else if (byte === 0x5c) {
              escaped = true;
            } else if (byte === 0x22) {
              closed = true;
              break;
            } else {
              bytes[w++] = byte;
            }
          }
          end = i;
          dataEnd = w;
        }
        for (const decoded of decoder.push(bytes.subarray(0, dataEnd))) await write(decoded);
        if (closed) {
          decoder.end();
          inData = false;
          out?.end();
          skeleton += bytes.toString("latin1", end);
        }
        break;
      }
    }
  } catch (error) {
    out?.destroy(error as Error);
    await consuming?.catch(() => {});
    throw error;
  }
  if (inData) {
    const error = new TypeError("exportItems: the answer ended inside the data string");
    out?.destroy(error);
    await consuming?.catch(() => {});
    throw error;
  }
  const result = consuming ? await consuming : undefined;
  return {
    skeleton: JSON.parse(Buffer.from(skeleton, "latin1").toString("utf8")) as { value?: RawAnswer[] },
    consumed: consuming !== undefined,
    ...(consuming ? { result: result as T } : {}),
  };
}
