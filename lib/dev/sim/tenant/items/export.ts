/**
 * Export streams of the store's objects: a message (its properties and MIME) or a non-mail item
 * (its record and content), and their sizes, computed without producing lazy bytes.
 *
 * What is built is kept, bounded: export streams (by their bytes) and non-mail items' content
 * (by their streams' size), least recently used first out, keyed by the message or item
 * object. The store never changes such an object: a change (a mutation round, an import, a
 * move) makes a new one, so a kept stream is never stale, and one of an object the store
 * dropped ages out. The tenant is generated, not held (a 20,000-mailbox tenant holds no bodies),
 * so without these a backup built each item's content three times (its size, its delta page's
 * properties, its export) and each export stream twice (ground truth, the export).
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32 } from "node:zlib";
import { LRUCache } from "lru-cache";
import type { ItemContent, LazyBytes } from "../../item-model.js";
import type { SimItem, SimMessage } from "../../model.js";
import { openMimeSource } from "../mime-source.js";
import { messageItem } from "./message-content.js";
import { type ExportedItem, encodedSize, encodeItem, encodeItemParts, trailerOf } from "./stream.js";

/**
 * Export streams kept, bytes (the sum of their lengths, and of their base64's once an export
 * answer carried them). Bounds ≥ 1. Default 64 MiB: every benchmark shape's whole tenant
 * (7.9–21 MiB of streams, 2⅓ times that with base64) fits, so a backup after ground truth
 * exports from it.
 */
export const EXPORT_STREAMS_KEPT_BYTES = 64 * 1024 * 1024;
/**
 * Longest export stream kept, bytes. Bounds 1 to {@link EXPORT_STREAMS_KEPT_BYTES}. Default
 * 1 MiB: a larger message is built again when read (such messages are few, and their transfer
 * time dwarfs building them), so a few of them cannot push out hundreds of small ones.
 */
export const EXPORT_STREAM_KEPT_MAX_BYTES = 1024 * 1024;
/**
 * Non-mail items' content kept, counted as their export streams' bytes (a content holds its
 * property values, lazy attachments excepted). Bounds ≥ 1. Default 32 MiB.
 */
export const ITEM_CONTENTS_KEPT_BYTES = 32 * 1024 * 1024;

/**
 * An export stream kept, and its base64 once an export answer carried it (answers of 20 items
 * of 4–90 KiB encoded each item's anew: the base64 strings were most of an export's garbage).
 */
interface KeptStream {
  data: Buffer;
  base64?: string;
}

/** Export streams by the object exported (its bytes must not be changed by readers). */
const exportStreams = new LRUCache<SimMessage | SimItem, KeptStream>({
  maxSize: EXPORT_STREAMS_KEPT_BYTES,
  // Its bytes and their base64 (4/3 as many).
  maxEntrySize: Math.ceil((EXPORT_STREAM_KEPT_MAX_BYTES * 7) / 3) + 4,
});
/** Non-mail items' content by item (`SimItem.content()` writes it from the item's seed each call). */
const itemContents = new LRUCache<SimItem, ItemContent>({
  maxSize: ITEM_CONTENTS_KEPT_BYTES,
  maxEntrySize: EXPORT_STREAM_KEPT_MAX_BYTES,
});

function keepStream(object: SimMessage | SimItem, kept: KeptStream): void {
  if (kept.data.length > EXPORT_STREAM_KEPT_MAX_BYTES) return;
  exportStreams.set(object, kept, { size: Math.max(1, kept.data.length + (kept.base64?.length ?? 0)) });
}

function itemRecord(item: SimItem): ExportedItem["record"] {
  return {
    itemClass: item.itemClass,
    createdDateTime: item.createdDateTime,
    lastModifiedDateTime: item.lastModifiedDateTime,
    categories: [...item.categories],
  };
}

export function itemExport(item: SimItem): ExportedItem {
  const record = itemRecord(item);
  let content = itemContents.get(item);
  if (content === undefined) {
    content = item.content();
    let size = sizes.get(item);
    if (size === undefined) {
      size = encodedSize({ record, content });
      sizes.set(item, size);
    }
    itemContents.set(item, content, { size: Math.max(1, size) });
  }
  return { record, content };
}

/** The MIME of `message` as lazy bytes that only know their size (read asynchronously, elsewhere). */
function mimeOfSize(message: SimMessage): LazyBytes {
  return {
    size: message.size,
    bytes: () => {
      throw new Error(`message ${message.id}: its MIME is read asynchronously; export it with exportMessage`);
    },
  };
}

const sizes = new WeakMap<object, number>();

/** Length of the export stream of a message or an item (the import/export API's `size`). */
export function exportSize(object: { message: SimMessage } | { item: SimItem }): number {
  const key = "message" in object ? object.message : object.item;
  let size = sizes.get(key);
  if (size === undefined) {
    size = encodedSize(
      "message" in object ? messageItem(object.message, mimeOfSize(object.message)) : itemExport(object.item),
    );
    sizes.set(key, size);
  }
  return size;
}

/**
 * The export stream of a message. MIME the store holds as bytes (or builds whole on demand) is
 * taken as is; a generated one is read from its stream. (Reading held bytes through a stream and
 * `stream/consumers` copied them three times and took a turn of the event loop per item: a fifth
 * of the simulator's CPU on a 20-item export.)
 */
export async function exportMessage(message: SimMessage): Promise<Buffer> {
  return (await keptMessageStream(message)).data;
}

async function keptMessageStream(message: SimMessage): Promise<KeptStream> {
  let kept = exportStreams.get(message);
  if (kept === undefined) {
    kept = { data: (await buildMessageExport(message, openMimeSource)).data };
    keepStream(message, kept);
  }
  return kept;
}

/** A message's export stream built, with the MIME it carries. */
async function buildMessageExport(
  message: SimMessage,
  open: (source: SimMessage["mime"]) => Readable,
): Promise<{ data: Buffer; mime: Buffer }> {
  const source = message.mime;
  const mime = source.kind === "bytes" ? source.bytes : await buffer(open(source));
  return { data: encodeItem(messageItem(message, { size: mime.length, bytes: () => mime })), mime };
}

/** The export stream of a non-mail item. */
export function exportItem(item: SimItem): Buffer {
  return keptItemStream(item).data;
}

function keptItemStream(item: SimItem): KeptStream {
  let kept = exportStreams.get(item);
  if (kept === undefined) {
    kept = { data: encodeItem(itemExport(item)) };
    keepStream(item, kept);
  }
  return kept;
}

/**
 * The export stream of a message or an item as an export answer carries it: its length and
 * its base64 (kept with the stream).
 */
export async function exportedBase64(
  object: { message: SimMessage } | { item: SimItem },
): Promise<{ size: number; base64: string }> {
  const key = "message" in object ? object.message : object.item;
  const kept = "message" in object ? await keptMessageStream(object.message) : keptItemStream(object.item);
  if (kept.base64 === undefined) {
    kept.base64 = kept.data.toString("base64");
    // Counted again with its base64 (unless it was not kept, or was dropped meanwhile).
    if (exportStreams.peek(key) === kept) keepStream(key, kept);
  }
  return { size: kept.data.length, base64: kept.base64 };
}

/** Whether an object's export stream is kept (a read of it builds nothing): for tests. */
export function exportStreamKept(object: SimMessage | SimItem): boolean {
  return exportStreams.has(object);
}

/**
 * SHA-256 (hex) of a message's export stream and of its MIME. A stream short enough to keep is
 * built whole and kept (the export of the message then builds nothing); a longer one is hashed
 * reading the MIME once as a stream (never holding a large message whole).
 */
export async function messageDigests(
  message: SimMessage,
  open: () => Readable,
): Promise<{ exportSha256: string; mimeSha256: string }> {
  if (exportSize({ message }) <= EXPORT_STREAM_KEPT_MAX_BYTES) {
    const { data, mime } = await buildMessageExport(message, open);
    if (mime.length !== message.size) {
      throw new Error(`message ${message.id}: expected ${message.size} bytes of MIME, read ${mime.length}`);
    }
    keepStream(message, { data });
    return {
      exportSha256: createHash("sha256").update(data).digest("hex"),
      mimeSha256: createHash("sha256").update(mime).digest("hex"),
    };
  }
  const mimeHole = mimeOfSize(message);
  const exported = createHash("sha256");
  const mime = createHash("sha256");
  let crc = 0;
  let mimeBytes = 0;
  for (const part of encodeItemParts(messageItem(message, mimeHole))) {
    if (part === mimeHole) {
      for await (const chunk of open()) {
        const bytes = chunk as Buffer;
        exported.update(bytes);
        mime.update(bytes);
        crc = crc32(bytes, crc);
        mimeBytes += bytes.length;
      }
      if (mimeBytes !== message.size) {
        throw new Error(`message ${message.id}: expected ${message.size} bytes of MIME, read ${mimeBytes}`);
      }
      continue;
    }
    const bytes = Buffer.isBuffer(part) ? part : part.bytes();
    exported.update(bytes);
    crc = crc32(bytes, crc);
  }
  exported.update(trailerOf(crc));
  return { exportSha256: exported.digest("hex"), mimeSha256: mime.digest("hex") };
}
