/** Reading a message's MIME, whichever way the store keeps it (bytes, built on demand, generated). */
import { Readable } from "node:stream";
import type { MimeSource } from "../model.js";
import { OnDemandMime } from "./mime.js";

/** A fresh byte stream (not object mode) of a MIME source. */
export function openMimeSource(source: MimeSource): Readable {
  return source.kind === "bytes" ? Readable.from([source.bytes], { objectMode: false }) : source.open();
}

export function mimeSize(source: MimeSource): number {
  // MIME built on demand knows its size; asking its `bytes` would build it.
  if (source instanceof OnDemandMime) return source.size;
  return source.kind === "bytes" ? source.bytes.length : source.size;
}
