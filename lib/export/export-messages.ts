/**
 * Writes a set of archived messages to disk: one mboxrd file per folder
 * (`<out>/<folder path>.mbox`) or a folder tree of `.eml` files (`<out>/<folder path>/<n>.eml`).
 * The set is a mailbox's folders (see selection.ts) or a search result grouped by mailbox and
 * folder (see search-selection.ts). Every blob's SHA-256 is checked (in memory) before a byte of
 * it is written, so an export never hands over damaged mail: a message whose blob is damaged or
 * missing is recorded in `damaged`, left out, and the export goes on with the next.
 */

import { once } from "node:events";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readBlob } from "../archive/blobs.js";
import { BlobIntegrityError, ObjectNotFoundError } from "../archive/errors.js";
import type { ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import { completeMeta, receivedAt, senderOf } from "../catalog-index/message-fields.js";
import { mboxEntry } from "./mbox.js";

export type ExportFormat = "mbox" | "eml";

/** One output file (mbox) or folder (eml) of an export. */
export interface ExportFolder {
  /** Path under the output folder, `/`-separated, before {@link safeRelativePath}; e.g. `Inbox/Projects`. */
  path: string;
  /** Written in this order. */
  messages: readonly ViewMessage[];
}

/** What an export writes: its folders and their message count. */
export interface ExportSet {
  folders: readonly ExportFolder[];
  /** Messages in all folders (the progress total). */
  count: number;
}

export interface ExportOptions {
  format: ExportFormat;
  /** Output folder; created when missing. */
  outDir: string;
  /** Called after each message with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** A message left out of an export because its stored bytes cannot be trusted. */
export interface DamagedMessage {
  messageId: string;
  /** The folder path it was to be exported under. */
  folder: string;
  sha256: string;
  /** What is wrong: the blob is missing, or its bytes do not hash to its address. */
  problem: string;
}

export interface ExportResult {
  /** Files written, relative to outDir. */
  files: string[];
  /** Messages written. */
  messages: number;
  bytes: number;
  /** Messages left out because their blob is damaged or missing (the export went on). */
  damaged: DamagedMessage[];
}

/** A folder path as a safe relative file path: each segment stripped of separators and dots-only names. */
export function safeRelativePath(path: string): string {
  return path
    .split("/")
    .map(
      (s) =>
        s
          .replace(/[\\:*?"<>|]/g, "_")
          .replace(/\p{Cc}/gu, "_")
          .replace(/^\.+$/, "_") || "_",
    )
    .join("/");
}

/** The blob's bytes once their hash matched; undefined (and the problem recorded) when it did not or the blob is gone. */
async function readChecked(
  store: ObjectStore,
  m: ViewMessage,
  folder: string,
  damaged: DamagedMessage[],
): Promise<Buffer | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await readBlob(store, m, { verify: true })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } catch (error) {
    if (!(error instanceof BlobIntegrityError) && !(error instanceof ObjectNotFoundError)) throw error;
    damaged.push({ messageId: m.messageId, folder, sha256: m.sha256, problem: error.message });
    return undefined;
  }
}

/** The mbox `From ` line's sender and date: the message's properties, else its MIME headers. */
async function envelopeOf(store: ObjectStore, m: ViewMessage): Promise<{ sender?: string; date: Date }> {
  const meta = await completeMeta(store, m);
  const address = senderOf(meta)?.emailAddress?.address;
  const t = receivedAt(meta);
  return {
    ...(typeof address === "string" ? { sender: address } : {}),
    date: new Date(Number.isNaN(t) ? 0 : t),
  };
}

export async function exportSelection(
  store: ObjectStore,
  selection: ExportSet,
  options: ExportOptions,
): Promise<ExportResult> {
  const files: string[] = [];
  const damaged: DamagedMessage[] = [];
  let done = 0;
  let written = 0;
  let bytes = 0;
  for (const folder of selection.folders) {
    const rel = safeRelativePath(folder.path);
    if (options.format === "mbox") {
      const file = `${rel}.mbox`;
      mkdirSync(dirname(join(options.outDir, file)), { recursive: true });
      const out = createWriteStream(join(options.outDir, file));
      for (const m of folder.messages) {
        const mime = await readChecked(store, m, folder.path, damaged);
        if (mime) {
          const envelope = await envelopeOf(store, m);
          if (!out.write(mboxEntry(mime, envelope.sender, envelope.date, { lineEnding: "lf" })))
            await once(out, "drain");
          bytes += mime.length;
          written++;
        }
        options.onProgress?.(++done, selection.count);
      }
      out.end();
      await once(out, "close");
      files.push(file);
    } else {
      mkdirSync(join(options.outDir, rel), { recursive: true });
      let n = 0;
      for (const m of folder.messages) {
        const mime = await readChecked(store, m, folder.path, damaged);
        if (mime) {
          // Numbered names keep the folder order stable and stay short on every file system.
          const file = `${rel}/${String(++n).padStart(6, "0")}.eml`;
          writeFileSync(join(options.outDir, file), mime);
          files.push(file);
          bytes += mime.length;
          written++;
        }
        options.onProgress?.(++done, selection.count);
      }
    }
  }
  return { files, messages: written, bytes, damaged };
}
