/**
 * Writes a set of archived messages to disk: one mboxrd file per folder
 * (`<out>/<folder path>.mbox`) or a folder tree of `.eml` files (`<out>/<folder path>/<n>.eml`).
 * The set is a mailbox's folders (see selection.ts) or a search result grouped by mailbox and
 * folder (see search-selection.ts). Every blob's SHA-256 is checked while it is read, so an
 * export never hands over damaged mail.
 */

import { once } from "node:events";
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type ObjectStore, readBlob, type ViewMessage } from "../archive/index.js";
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

export interface ExportResult {
  /** Files written, relative to outDir. */
  files: string[];
  messages: number;
  bytes: number;
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

async function readAll(store: ObjectStore, sha256: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await readBlob(store, sha256, { verify: true })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function senderOf(meta: Record<string, unknown>): string | undefined {
  const from = meta.from as { emailAddress?: { address?: unknown } } | undefined;
  return typeof from?.emailAddress?.address === "string" ? from.emailAddress.address : undefined;
}

function dateOf(meta: Record<string, unknown>): Date {
  const v = meta.receivedDateTime ?? meta.sentDateTime;
  return new Date(typeof v === "string" ? v : 0);
}

export async function exportSelection(
  store: ObjectStore,
  selection: ExportSet,
  options: ExportOptions,
): Promise<ExportResult> {
  const files: string[] = [];
  let done = 0;
  let bytes = 0;
  for (const folder of selection.folders) {
    const rel = safeRelativePath(folder.path);
    if (options.format === "mbox") {
      const file = `${rel}.mbox`;
      mkdirSync(dirname(join(options.outDir, file)), { recursive: true });
      const out = createWriteStream(join(options.outDir, file));
      for (const m of folder.messages) {
        const mime = await readAll(store, m.sha256);
        if (!out.write(mboxEntry(mime, senderOf(m.meta), dateOf(m.meta), { lineEnding: "lf" })))
          await once(out, "drain");
        bytes += mime.length;
        options.onProgress?.(++done, selection.count);
      }
      out.end();
      await once(out, "close");
      files.push(file);
    } else {
      mkdirSync(join(options.outDir, rel), { recursive: true });
      let n = 0;
      for (const m of folder.messages) {
        const mime = await readAll(store, m.sha256);
        // Numbered names keep the folder order stable and stay short on every file system.
        const file = `${rel}/${String(++n).padStart(6, "0")}.eml`;
        writeFileSync(join(options.outDir, file), mime);
        files.push(file);
        bytes += mime.length;
        options.onProgress?.(++done, selection.count);
      }
    }
  }
  return { files, messages: done, bytes };
}
