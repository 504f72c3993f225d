/**
 * Handing a blob to the user only once its SHA-256 matched: to a new file through a temporary
 * file renamed into place after the check, to a stream (stdout) after a check in memory or in a
 * first read. A damaged blob never leaves a file behind, and never reaches stdout as if it were
 * good (a large one can only differ between the two reads if the archive changes meanwhile, and
 * then the command still fails).
 */
import { randomUUID } from "node:crypto";
import { createWriteStream, existsSync, statSync } from "node:fs";
import { link, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type BlobRef, readBlob } from "../archive/blobs.js";
import type { ObjectStore } from "../archive/store.js";
import { OutputError } from "./errors.js";

/** Messages up to this size are checked in memory before stdout sees a byte. 64 MiB. */
export const STDOUT_MEMORY_LIMIT = 64 * 1024 * 1024;

/** Where {@link blobToStream} writes: stdout, or a collector in tests. */
export interface OutputStream {
  write(chunk: Uint8Array): unknown;
  once?: (event: "drain", listener: () => void) => unknown;
}

/** Refuses an output path that is not a new file in an existing folder. */
export function assertNewFile(file: string, option = "-o"): void {
  const path = resolve(file);
  if (existsSync(path)) {
    const kind = statSync(path).isDirectory() ? "a folder" : "an existing file";
    throw new OutputError(
      `${option} ${file}: expected the name of a new file, found ${kind} there (give a new file name${kind === "a folder" ? " inside it" : ", or remove it first"})`,
    );
  }
  const parent = dirname(path);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new OutputError(
      `${option} ${file}: expected an existing folder to write into, found no folder ${parent}`,
    );
  }
}

/** Refuses an output folder path that is a file. A missing folder is fine (created). */
export function assertFolderOrNew(dir: string, option = "-o"): void {
  const path = resolve(dir);
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new OutputError(`${option} ${dir}: expected a folder (created when missing), found a file there`);
  }
}

/**
 * Writes the blob to `file`, which must not exist: the bytes go to a temporary file beside it,
 * checked while they stream, and appear under the name only when the hash matched (a hard link,
 * so a file created meanwhile under that name is never replaced). On any failure nothing is left.
 */
export async function blobToNewFile(store: ObjectStore, blob: BlobRef, file: string): Promise<void> {
  assertNewFile(file);
  const target = resolve(file);
  const temp = join(dirname(target), `.${basename(target)}.tmp-${randomUUID()}`);
  try {
    await pipeline(await readBlob(store, blob, { verify: true }), createWriteStream(temp, { flags: "wx" }));
    try {
      await link(temp, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // File systems without hard links: a rename, after one more look for a file of that name.
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV") throw error;
      assertNewFile(file);
      await rename(temp, target);
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Writes the blob to a stream (stdout) only after its hash matched: read and checked in memory
 * when `size` is at most {@link STDOUT_MEMORY_LIMIT}, else checked in a first read and streamed in
 * a second (checked again). Returns how many bytes were written.
 */
export async function blobToStream(
  store: ObjectStore,
  blob: BlobRef,
  size: number,
  out: OutputStream,
  memoryLimit = STDOUT_MEMORY_LIMIT,
): Promise<number> {
  if (size <= memoryLimit) {
    const chunks: Buffer[] = [];
    for await (const chunk of await readBlob(store, blob, { verify: true })) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    out.write(bytes);
    return bytes.length;
  }
  const discard = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline(await readBlob(store, blob, { verify: true }), discard);
  let written = 0;
  for await (const chunk of await readBlob(store, blob, { verify: true })) {
    // A slow reader (a pager) holds the stream back instead of the whole message piling up here.
    if (out.write(chunk as Buffer) === false && out.once)
      await new Promise<void>((resolve) => out.once?.("drain", resolve));
    written += (chunk as Buffer).length;
  }
  return written;
}
