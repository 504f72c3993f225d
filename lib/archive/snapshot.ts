/**
 * Compacted mailbox views (`snapshots/mailbox=<m>/job=<j>.jsonl`): the replay of a mailbox's
 * catalog up to a job, written down so that later replays start there instead of at the first
 * job. Outside `catalog/`, so Athena's catalog table never reads them.
 */
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { z } from "zod";
import type { PackLocation } from "./blobs.js";
import {
  encodingSchema,
  type FolderRecord,
  folderRecordSchema,
  type ItemContentFields,
  itemContentSchema,
  packLocationSchema,
  parseJsonLines,
  toJsonLines,
} from "./catalog.js";
import type { BodyEncoding } from "./encoding.js";
import { CatalogLineError } from "./errors.js";
import { snapshotKey } from "./keys.js";
import type { ObjectStore } from "./store.js";

export const snapshotHeaderSchema = z.looseObject({
  kind: z.literal("snapshot"),
  format: z.literal("mailstream.snapshot"),
  /**
   * 1; 2 since packs: a message may name the pack its body lies in; 3 since compression: its
   * body may be stored compressed (`encoding`).
   */
  version: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  mailboxId: z.string().min(1),
  /** The last job the snapshot includes. */
  jobId: z.string().min(1),
  /** Every job whose catalog the snapshot includes, in time order. */
  jobs: z.array(z.string()),
});
export type SnapshotHeader = z.infer<typeof snapshotHeaderSchema>;

export const snapshotMessageSchema = z.looseObject({
  kind: z.literal("message"),
  messageId: z.string().min(1),
  folderId: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  changeKey: z.string().optional(),
  meta: z.record(z.string(), z.unknown()),
  /** The job whose catalog last changed the message. */
  jobId: z.string().min(1),
  ...itemContentSchema,
  /** Since version 2: where the body lies in a pack. */
  pack: packLocationSchema.optional(),
  /** Since version 3: the body is stored compressed. */
  encoding: encodingSchema.optional(),
});
export type SnapshotMessage = z.infer<typeof snapshotMessageSchema>;

/** A message line without its `kind`. */
export interface SnapshotMessageFields extends ItemContentFields {
  messageId: string;
  folderId: string;
  sha256: string;
  size: number;
  changeKey?: string;
  meta: Record<string, unknown>;
  jobId: string;
  pack?: PackLocation;
  encoding?: BodyEncoding;
}

const lineSchema = z.discriminatedUnion("kind", [
  snapshotHeaderSchema,
  folderRecordSchema,
  snapshotMessageSchema,
]);

export interface Snapshot {
  key: string;
  header: SnapshotHeader;
  folders: FolderRecord[];
  messages: SnapshotMessage[];
}

/** Writes a snapshot: the header line, then the folder tree, then one line per message. */
export async function writeSnapshot(
  store: ObjectStore,
  header: { mailboxId: string; jobId: string; jobs: string[] },
  folders: readonly FolderRecord[],
  messages: ReadonlyArray<SnapshotMessageFields>,
): Promise<string> {
  const key = snapshotKey(header.mailboxId, header.jobId);
  // Streamed line by line: a snapshot of a large mailbox is never built as one string.
  function* lines(): Generator<Buffer> {
    yield toJsonLines([{ kind: "snapshot", format: "mailstream.snapshot", version: 3, ...header }]);
    for (const f of folders) yield toJsonLines([f]);
    for (const m of messages) yield toJsonLines([{ kind: "message", ...m }]);
  }
  await store.put(key, Readable.from(lines()), { contentType: "application/x-ndjson" });
  return key;
}

/**
 * Reads a snapshot line by line (it may be large). Throws a {@link CatalogLineError} on the
 * first damaged line: a snapshot with a hole must not be used (the replay falls back).
 */
export async function readSnapshot(store: ObjectStore, key: string): Promise<Snapshot> {
  const lines = createInterface({ input: await store.get(key), crlfDelay: Number.POSITIVE_INFINITY });
  let header: SnapshotHeader | undefined;
  const folders: FolderRecord[] = [];
  const messages: SnapshotMessage[] = [];
  let number = 0;
  for await (const line of lines) {
    number++;
    const { entries, errors } = parseJsonLines(
      key,
      `${line}\n`,
      lineSchema as z.ZodType<z.infer<typeof lineSchema>>,
    );
    if (errors[0])
      throw new CatalogLineError(key, number, errors[0].message.replace(/^catalog .* line 1: /, ""));
    const entry = entries[0]!;
    if (number === 1) {
      if (entry.kind !== "snapshot")
        throw new CatalogLineError(key, 1, `found kind ${entry.kind} instead of the snapshot header`);
      header = entry;
    } else if (entry.kind === "folders") folders.push(entry as FolderRecord);
    else if (entry.kind === "message") messages.push(entry);
    else throw new CatalogLineError(key, number, "found a second snapshot header");
  }
  if (!header) throw new CatalogLineError(key, 1, "found an empty file instead of the snapshot header");
  return { key, header, folders, messages };
}
