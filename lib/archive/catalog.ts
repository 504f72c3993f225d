/**
 * The catalog: JSON Lines, one object per change, laid out Hive-style for Athena
 * (`catalog/mailbox=<m>/job=<j>/folder=<f>/part-<unit>-<page>.jsonl`). A part is keyed by
 * (job, unit, folder, page), so writing a page again replaces it with the same part.
 * The format is documented in docs/archive-format.md.
 */
import { z } from "zod";
import { CatalogLineError } from "./errors.js";
import {
  type CatalogPartId,
  catalogPartKey,
  compareJobIds,
  foldersKey,
  fromKeySegment,
  mailboxCatalogPrefix,
  parseCatalogPartKey,
} from "./keys.js";
import type { ObjectStore } from "./store.js";

const id = z.string().min(1);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex SHA-256");

/** Loose objects: a reader keeps working when a later writer adds fields. */
const upsertSchema = z.looseObject({
  kind: z.literal("upsert"),
  messageId: id,
  folderId: id,
  sha256,
  size: z.number().int().nonnegative(),
  changeKey: z.string().optional(),
  meta: z.record(z.string(), z.unknown()),
});
const removedSchema = z.looseObject({ kind: z.literal("removed"), messageId: id, folderId: id });
const folderResetSchema = z.looseObject({ kind: z.literal("folder-reset"), folderId: id });
export const catalogEntrySchema = z.discriminatedUnion("kind", [
  upsertSchema,
  removedSchema,
  folderResetSchema,
]);

export const folderRecordSchema = z.looseObject({
  kind: z.literal("folders"),
  folderId: id,
  /** Parent folder id; the mailbox root's id for top-level folders. */
  parentId: z.string(),
  /** Display names from the top-level folder down, joined with `/`. */
  path: z.string(),
  displayName: z.string(),
});

/** A message stored (new) or changed (props or folder) in a folder. */
export interface UpsertEntry {
  kind: "upsert";
  messageId: string;
  folderId: string;
  sha256: string;
  /** MIME size in bytes. */
  size: number;
  changeKey?: string;
  /** The message's properties as Graph delivered them (isRead, flag, categories, dates, subject, …). */
  meta: Record<string, unknown>;
}

/** A delta `@removed`: the message was deleted, or moved out of this folder. */
export interface RemovedEntry {
  kind: "removed";
  messageId: string;
  folderId: string;
}

/** The folder is enumerated in full from here on: a replay first empties it. */
export interface FolderResetEntry {
  kind: "folder-reset";
  folderId: string;
}

export type CatalogEntry = UpsertEntry | RemovedEntry | FolderResetEntry;

/** One folder of a mailbox's tree as a job saw it (so renames and moves show per job). */
export interface FolderRecord {
  kind: "folders";
  folderId: string;
  parentId: string;
  path: string;
  displayName: string;
}

/** Lines that parsed, and the ones that did not (each with its key and line number). */
export interface ReadResult<T> {
  entries: T[];
  errors: CatalogLineError[];
}

/** Serialises entries as JSON Lines (one object per line, `\n` after each). */
export function toJsonLines(entries: readonly object[]): Buffer {
  return Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(""), "utf8");
}

/**
 * Parses JSON Lines with a schema. A damaged line becomes a {@link CatalogLineError} in
 * `errors` and the other lines are still returned.
 */
export function parseJsonLines<T>(key: string, text: string, schema: z.ZodType<T>): ReadResult<T> {
  const entries: T[] = [];
  const errors: CatalogLineError[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => {
    const number = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      errors.push(
        new CatalogLineError(key, number, `found text that is not JSON (${(error as Error).message})`),
      );
      return;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) entries.push(parsed.data);
    else {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `field ${issue.path.join(".")}` : "the line";
      errors.push(
        new CatalogLineError(key, number, `found ${where} invalid: ${issue?.message ?? "unknown"}`),
      );
    }
  });
  return { entries, errors };
}

/** Writes (or rewrites, identically keyed) one catalog part. Returns its key. */
export async function writeCatalogPart(
  store: ObjectStore,
  part: CatalogPartId,
  entries: readonly CatalogEntry[],
): Promise<string> {
  const key = catalogPartKey(part);
  await store.put(key, toJsonLines(entries), { contentType: "application/x-ndjson" });
  return key;
}

/** Reads one catalog part; damaged lines are collected, not thrown. */
export async function readCatalogPart(store: ObjectStore, key: string): Promise<ReadResult<CatalogEntry>> {
  const bytes = await store.getBytes(key);
  return parseJsonLines(key, bytes.toString("utf8"), catalogEntrySchema as z.ZodType<CatalogEntry>);
}

/** Writes the mailbox's folder tree as the job saw it. Returns its key. */
export async function writeFolders(
  store: ObjectStore,
  mailboxId: string,
  jobId: string,
  folders: ReadonlyArray<Omit<FolderRecord, "kind">>,
): Promise<string> {
  const key = foldersKey(mailboxId, jobId);
  const records: FolderRecord[] = folders.map((f) => ({
    kind: "folders",
    folderId: f.folderId,
    parentId: f.parentId,
    path: f.path,
    displayName: f.displayName,
  }));
  await store.put(key, toJsonLines(records), { contentType: "application/x-ndjson" });
  return key;
}

/** Reads a folders record written by {@link writeFolders}. */
export async function readFolders(store: ObjectStore, key: string): Promise<ReadResult<FolderRecord>> {
  const bytes = await store.getBytes(key);
  return parseJsonLines(key, bytes.toString("utf8"), folderRecordSchema as z.ZodType<FolderRecord>);
}

/** What a mailbox's catalog holds for one job: its parts (in replay order) and its folders record. */
export interface JobCatalog {
  jobId: string;
  parts: Array<CatalogPartId & { key: string }>;
  foldersKey?: string;
}

/**
 * Orders parts for replay: by unit, then folder id, then page (never by listing order, which
 * differs between S3 and emulators).
 */
export function comparePartIds(a: CatalogPartId, b: CatalogPartId): number {
  if (a.unit !== b.unit) return a.unit - b.unit;
  if (a.folderId !== b.folderId) return a.folderId < b.folderId ? -1 : 1;
  return a.page - b.page;
}

/** Lists a mailbox's catalog grouped by job (jobs in time order, parts in replay order). */
export async function listMailboxCatalog(store: ObjectStore, mailboxId: string): Promise<JobCatalog[]> {
  const byJob = new Map<string, JobCatalog>();
  const job = (jobId: string) => {
    let j = byJob.get(jobId);
    if (!j) {
      j = { jobId, parts: [] };
      byJob.set(jobId, j);
    }
    return j;
  };
  const prefix = mailboxCatalogPrefix(mailboxId);
  for await (const { key } of store.list(prefix)) {
    const part = parseCatalogPartKey(key);
    if (part) {
      job(part.jobId).parts.push({ ...part, key });
      continue;
    }
    const folders = /\/job=([^/]+)\/folders\.jsonl$/.exec(key);
    if (folders) job(fromKeySegment(folders[1]!)).foldersKey = key;
  }
  const jobs = [...byJob.values()].sort((a, b) => compareJobIds(a.jobId, b.jobId));
  for (const j of jobs) j.parts.sort(comparePartIds);
  return jobs;
}
