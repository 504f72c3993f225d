/**
 * Export streams of the store's objects: a message (its properties and MIME) or a non-mail item
 * (its record and content), and their sizes, computed without producing lazy bytes.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32 } from "node:zlib";
import type { LazyBytes } from "../../item-model.js";
import type { SimItem, SimMessage } from "../../model.js";
import { openMimeSource } from "../mime-source.js";
import { messageItem } from "./message-content.js";
import { type ExportedItem, encodedSize, encodeItem, encodeItemParts, trailerOf } from "./stream.js";

export function itemExport(item: SimItem): ExportedItem {
  return {
    record: {
      itemClass: item.itemClass,
      createdDateTime: item.createdDateTime,
      lastModifiedDateTime: item.lastModifiedDateTime,
      categories: [...item.categories],
    },
    content: item.content(),
  };
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
  const source = message.mime;
  const mime = source.kind === "bytes" ? source.bytes : await buffer(openMimeSource(source));
  return encodeItem(messageItem(message, { size: mime.length, bytes: () => mime }));
}

/** The export stream of a non-mail item. */
export function exportItem(item: SimItem): Buffer {
  return encodeItem(itemExport(item));
}

/**
 * SHA-256 (hex) of a message's export stream and of its MIME, reading the MIME once as a stream
 * (never holding a large message whole).
 */
export async function messageDigests(
  message: SimMessage,
  open: () => Readable,
): Promise<{ exportSha256: string; mimeSha256: string }> {
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
