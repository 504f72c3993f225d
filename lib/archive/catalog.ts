/**
 * The catalog: JSON Lines, one object per change, laid out Hive-style for Athena
 * (`catalog/mailbox=<m>/job=<j>/folder=<f>/part-<unit>-<page>.jsonl`). A part is keyed by
 * (job, unit, folder, page), so writing a page again replaces it with the same part.
 *
 * Since catalog part format 2, every part (and folders record) begins with a header line that
 * records how many lines follow and their SHA-256, so that a part which lost lines (truncated at
 * a line boundary) or was altered is told apart from a good one; parts of format 1 (no header,
 * written before) are read as they are. The format is documented in docs/archive-format.md.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { PackLocation } from "./blobs.js";
import type { BodyEncoding } from "./encoding.js";
import { CatalogLineError, CatalogPartError } from "./errors.js";
import {
  type CatalogPartId,
  catalogPartKey,
  compareJobIds,
  foldersKey,
  fromKeySegment,
  jobCatalogPrefix,
  mailboxCatalogPrefix,
  parseCatalogPartKey,
} from "./keys.js";
import type { ObjectStore } from "./store.js";

const id = z.string().min(1);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex SHA-256");

/** Where a body lies in a pack (docs/archive-format.md "Packs"). */
export const packLocationSchema = z.object({
  key: z.string().regex(/^blobs\/packs\//, "a key under blobs/packs/"),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
});

/** How a body is stored (format 4; absent: as it is): `gzip`, compressed (docs/archive-format.md "Compression"). */
export const encodingSchema = z.literal("gzip");

/** What an item's blobs are: the fields of {@link ItemContentFields}. */
export const itemContentSchema = {
  content: z.literal("export").optional(),
  itemClass: z.string().min(1).optional(),
  export: z
    .looseObject({
      sha256,
      size: z.number().int().nonnegative(),
      pack: packLocationSchema.optional(),
      encoding: encodingSchema.optional(),
    })
    .optional(),
};

/**
 * What an item's stored bodies are, on catalog upserts, snapshot lines and views alike. All
 * absent (every line written before item kinds): a message whose `sha256` is its MIME.
 */
export interface ItemContentFields {
  /** `export`: `sha256`/`size` are the item's export stream (`.fts`); absent: its MIME (`.eml`). */
  content?: "export";
  /** The message class (`IPM.Appointment`, `IPM.Contact`, …); absent: a message (`IPM.Note`). */
  itemClass?: string;
  /**
   * Content mode `both`: the message's export stream besides its MIME, and where it lies in a
   * pack (format 3; absent: its own object).
   */
  export?: { sha256: string; size: number; pack?: PackLocation; encoding?: BodyEncoding };
}

/**
 * Whether the archive holds the item's MIME (a `.eml` blob): mail backed up in content mode
 * `mime` or `both`; not an item kept as its export stream only (every other kind, and mail in
 * content mode `fidelity`).
 */
export function hasMime(line: ItemContentFields): boolean {
  return line.content !== "export";
}

/** The content fields of a line, without the absent ones (for copying between line kinds). */
export function itemContentOf(line: ItemContentFields): ItemContentFields {
  return {
    ...(line.content === "export" ? { content: "export" as const } : {}),
    ...(line.itemClass !== undefined ? { itemClass: line.itemClass } : {}),
    ...(line.export !== undefined
      ? {
          export: {
            sha256: line.export.sha256,
            size: line.export.size,
            ...(line.export.pack ? { pack: line.export.pack } : {}),
            ...(line.export.encoding ? { encoding: line.export.encoding } : {}),
          },
        }
      : {}),
  };
}

/** Loose objects: a reader keeps working when a later writer adds fields. */
const upsertSchema = z.looseObject({
  ...itemContentSchema,
  kind: z.literal("upsert"),
  messageId: id,
  folderId: id,
  sha256,
  size: z.number().int().nonnegative(),
  changeKey: z.string().optional(),
  meta: z.record(z.string(), z.unknown()),
  /** Since part format 3: the body lies in a pack (absent: its own object at its content address). */
  pack: packLocationSchema.optional(),
  /** Since part format 4: the body is stored compressed (in its pack, or as `….gz`). */
  encoding: encodingSchema.optional(),
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
  /** A search folder (a saved search: no messages of its own). Absent before this field existed. */
  searchFolder: z.boolean().optional(),
  /** `archive`: a folder of the user's in-place archive. Absent: the primary mailbox. */
  mailbox: z.enum(["primary", "archive"]).optional(),
  /** The folder class (`IPF.Appointment`, `IPF.Contact`, …). Absent: mail (`IPF.Note`). */
  class: z.string().optional(),
});

/** An item stored (new) or changed (props or folder) in a folder. */
export interface UpsertEntry extends ItemContentFields {
  kind: "upsert";
  messageId: string;
  folderId: string;
  sha256: string;
  /** Bytes of the blob `sha256` names (MIME, or the export stream with `content: "export"`). */
  size: number;
  changeKey?: string;
  /** The message's properties as Graph delivered them (isRead, flag, categories, dates, subject, …). */
  meta: Record<string, unknown>;
  /** Where the body lies in a pack (format 3); absent: its own object, `blobs/sha256/…`. */
  pack?: PackLocation;
  /** How the body is stored (format 4): `gzip`, compressed; absent: as it is. */
  encoding?: BodyEncoding;
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
  /** A search folder (a saved search over other folders): it holds no messages of its own. */
  searchFolder?: boolean;
  /** `archive`: a folder of the user's in-place archive. Absent: the primary mailbox. */
  mailbox?: "primary" | "archive";
  /** The folder class (`IPF.Appointment`, `IPF.Contact`, `IPF.Task`, `IPF.StickyNote`, …). Absent: `IPF.Note`. */
  class?: string;
}

/**
 * The format of the catalog parts this code writes. Format 1: no header; 2: a header line first;
 * 3: an upsert may name the pack its body lies in (`pack`); 4: a body may be stored compressed
 * (`encoding`).
 */
export const CATALOG_PART_VERSION = 4;

/** The first line of a part of format 2: what follows it. */
export interface PartHeader {
  kind: "part";
  format: "mailstream.catalog-part";
  version: number;
  /** Lines after the header. */
  lines: number;
  /** Lowercase hex SHA-256 of the bytes after the header line. */
  sha256: string;
}

const partHeaderSchema = z.looseObject({
  kind: z.literal("part"),
  format: z.literal("mailstream.catalog-part"),
  version: z.number().int().min(2),
  lines: z.number().int().nonnegative(),
  sha256,
});

/** Lines that parsed, and the damage found (each line error with its key and line number). */
export interface ReadResult<T> {
  entries: T[];
  errors: Array<CatalogLineError | CatalogPartError>;
  /** The part's format: 2 when it has a header, 1 when not. */
  version?: number;
}

export interface ReadPartOptions {
  /**
   * The part must have a header (its job's manifest says its parts were written with one): a
   * part without one lost its first line or was replaced. Default false (format 1 is fine).
   */
  requireHeader?: boolean;
}

/** Serialises entries as JSON Lines (one object per line, `\n` after each). */
export function toJsonLines(entries: readonly object[]): Buffer {
  return Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(""), "utf8");
}

/** Entries as a checked part (format 2): the header line, then the entries' lines. */
export function toCheckedJsonLines(entries: readonly object[]): Buffer {
  return checkedPart(entries).bytes;
}

/** A checked part's bytes and its header (which holds the SHA-256 of the lines after it). */
function checkedPart(entries: readonly object[]): { bytes: Buffer; header: PartHeader } {
  const body = toJsonLines(entries);
  const header: PartHeader = {
    kind: "part",
    format: "mailstream.catalog-part",
    version: CATALOG_PART_VERSION,
    lines: entries.length,
    sha256: createHash("sha256").update(body).digest("hex"),
  };
  return { bytes: Buffer.concat([toJsonLines([header]), body]), header };
}

/**
 * Splits a part into its header (format 2) and the text after it, checking the text against
 * the header: a damaged part is reported, and its remaining lines are still given back.
 */
export function checkPart(
  key: string,
  bytes: Buffer,
  opts: ReadPartOptions = {},
): { body: string; firstLine: number; version: number; error?: CatalogPartError } {
  const newline = bytes.indexOf(0x0a);
  const first = bytes.subarray(0, newline < 0 ? bytes.length : newline).toString("utf8");
  let header: PartHeader | undefined;
  try {
    const parsed = partHeaderSchema.safeParse(JSON.parse(first));
    if (parsed.success) header = parsed.data as PartHeader;
  } catch {
    // Not JSON: no header (the line parser reports the line itself).
  }
  if (!header) {
    const error = opts.requireHeader
      ? new CatalogPartError(
          key,
          `expected a header line (catalog part format ${CATALOG_PART_VERSION}, as its job's manifest says) recording its lines and hash, found ${bytes.length === 0 ? "an empty part" : "none"} (its first lines are lost, or it was replaced)`,
        )
      : undefined;
    return { body: bytes.toString("utf8"), firstLine: 1, version: 1, ...(error ? { error } : {}) };
  }
  const rest = newline < 0 ? Buffer.alloc(0) : bytes.subarray(newline + 1);
  const lines =
    rest.length === 0 ? 0 : rest.toString("utf8").split("\n").length - (rest.at(-1) === 0x0a ? 1 : 0);
  const found = createHash("sha256").update(rest).digest("hex");
  let error: CatalogPartError | undefined;
  if (lines !== header.lines) {
    error = new CatalogPartError(
      key,
      `expected ${header.lines} lines after its header (as written), found ${lines}: ${lines < header.lines ? `${header.lines - lines} lost (truncated)` : `${lines - header.lines} added`}`,
    );
  } else if (found !== header.sha256) {
    error = new CatalogPartError(
      key,
      `expected its ${lines} lines to hash to ${header.sha256} (as written), found ${found}: altered`,
    );
  }
  return { body: rest.toString("utf8"), firstLine: 2, version: header.version, ...(error ? { error } : {}) };
}
/**
 * Parses JSON Lines with a schema. A damaged line becomes a {@link CatalogLineError} in
 * `errors` and the other lines are still returned.
 */
export function parseJsonLines<T>(
  key: string,
  text: string,
  schema: z.ZodType<T>,
  /** Line number of the text's first line in its object (2 after a part header). */
  firstLine = 1,
): ReadResult<T> {
  const entries: T[] = [];
  const errors: CatalogLineError[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => {
    const number = i + firstLine;
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

/** Writes (or rewrites, identically keyed) one catalog part, with its header. Returns its key. */
export async function writeCatalogPart(
  store: ObjectStore,
  part: CatalogPartId,
  entries: readonly CatalogEntry[],
): Promise<string> {
  const key = catalogPartKey(part);
  await store.put(key, toCheckedJsonLines(entries), { contentType: "application/x-ndjson" });
  return key;
}

/** Reads a checked JSON Lines object (part or folders record): damage is collected, not thrown. */
async function readChecked<T>(
  store: ObjectStore,
  key: string,
  schema: z.ZodType<T>,
  opts: ReadPartOptions,
): Promise<ReadResult<T>> {
  const checked = checkPart(key, await store.getBytes(key), opts);
  const read = parseJsonLines(key, checked.body, schema, checked.firstLine);
  return {
    entries: read.entries,
    errors: checked.error ? [checked.error, ...read.errors] : read.errors,
    version: checked.version,
  };
}

/** Reads one catalog part; damaged lines, and a part that differs from its header, are collected. */
export async function readCatalogPart(
  store: ObjectStore,
  key: string,
  opts: ReadPartOptions = {},
): Promise<ReadResult<CatalogEntry>> {
  return readChecked(store, key, catalogEntrySchema as z.ZodType<CatalogEntry>, opts);
}

/** A folders record's outcome: its tree's hash, and whether this job's record was written. */
export interface WrittenFolders {
  /** Identifies the tree and the format it is written in (see {@link writeFolders}). */
  treeHash: string;
  /** False when the tree's hash was `unlessTreeHash`: the job has no folders record of its own. */
  written: boolean;
  key: string;
}

/**
 * Writes the mailbox's folder tree as the job saw it, unless its hash is `unlessTreeHash` (the
 * tree the archive already holds as of the newest finalized job that wrote one: readers take a
 * job without a folders record as keeping the tree before it, docs/archive-format.md).
 */
export async function writeFolders(
  store: ObjectStore,
  mailboxId: string,
  jobId: string,
  folders: ReadonlyArray<Omit<FolderRecord, "kind">>,
  opts: { unlessTreeHash?: string } = {},
): Promise<WrittenFolders> {
  const key = foldersKey(mailboxId, jobId);
  const records: FolderRecord[] = folders.map((f) => ({
    kind: "folders",
    folderId: f.folderId,
    parentId: f.parentId,
    path: f.path,
    displayName: f.displayName,
    ...(f.searchFolder ? { searchFolder: true } : {}),
    ...(f.mailbox === "archive" ? { mailbox: "archive" as const } : {}),
    ...(f.class !== undefined && f.class !== "IPF.Note" ? { class: f.class } : {}),
  }));
  const { bytes, header } = checkedPart(records);
  // The lines' hash (the header's) with the format they are in: a new format writes the tree again.
  const treeHash = `${header.version}:${header.sha256}`;
  if (treeHash === opts.unlessTreeHash) return { treeHash, written: false, key };
  await store.put(key, bytes, { contentType: "application/x-ndjson" });
  return { treeHash, written: true, key };
}

/** Reads a folders record written by {@link writeFolders} (with a header since format 2). */
export async function readFolders(
  store: ObjectStore,
  key: string,
  opts: ReadPartOptions = {},
): Promise<ReadResult<FolderRecord>> {
  return readChecked(store, key, folderRecordSchema as z.ZodType<FolderRecord>, opts);
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

/**
 * Lists a mailbox's catalog grouped by job (jobs in time order, parts in replay order); with
 * `jobId`, that job's alone (one LIST of its prefix, whatever else the mailbox's catalog holds).
 */
export async function listMailboxCatalog(
  store: ObjectStore,
  mailboxId: string,
  jobId?: string,
): Promise<JobCatalog[]> {
  const byJob = new Map<string, JobCatalog>();
  const job = (jobId: string) => {
    let j = byJob.get(jobId);
    if (!j) {
      j = { jobId, parts: [] };
      byJob.set(jobId, j);
    }
    return j;
  };
  const prefix = jobId === undefined ? mailboxCatalogPrefix(mailboxId) : jobCatalogPrefix(mailboxId, jobId);
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
