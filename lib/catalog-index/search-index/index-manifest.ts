/**
 * The search index as of a job (`index/search/job=<j>.json`, docs/archive-format.md "Search
 * index"): the segments that hold the mailboxes' rows at that job, each with the mailboxes
 * whose rows in it no longer count (replayed whole into a later segment, or gone); the rows of a
 * counted mailbox that no longer count are masked item by item by later segments (version 2). Written last by a build, so a
 * reader who finds it finds its segments. It counts only while the archive's finalized jobs up to
 * its job are the ones it was built from: a job finalized later (the sweep) makes it stale, and
 * the search scans instead.
 */
import { z } from "zod";
import { readJsonObject } from "../../archive/json-object.js";
import {
  compareJobIds,
  parseSearchIndexKey,
  SEARCH_INDEX_PREFIX,
  searchIndexKey,
} from "../../archive/keys.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import type { ReadCounter, Span } from "./gzip-members.js";
import type { OpenSegment } from "./query.js";
import { readDirectory, readSegmentMailboxes, readSegmentMasks, type SegmentMailbox } from "./segment.js";

export const INDEX_FORMAT = "mailstream.search-index";
/** The version written; version 1 (every mailbox in one segment, no masks) is still read. */
export const INDEX_VERSION = 2;

const span = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);
export const indexManifestSchema = z.looseObject({
  format: z.literal(INDEX_FORMAT),
  version: z.union([z.literal(1), z.literal(INDEX_VERSION)]),
  jobId: z.string().min(1),
  /** Every finalized job up to `jobId` when the index was built, in time order. */
  finalizedJobs: z.array(z.string()),
  segments: z.array(
    z.looseObject({
      key: z.string().min(1),
      /** Where the segment's directory lies in it. */
      directory: span,
      rows: z.number().int().nonnegative(),
      /** Mailboxes of the segment whose rows do not count (rebuilt in a later segment, or gone). */
      exclude: z.array(z.string()),
      /** Version 2: a segment of rows changed by a job (merged with other such at times). */
      delta: z.boolean().optional(),
    }),
  ),
});
export type IndexManifest = z.infer<typeof indexManifestSchema>;
export type SegmentRef = IndexManifest["segments"][number];

export async function writeIndexManifest(store: ObjectStore, manifest: IndexManifest): Promise<string> {
  const key = searchIndexKey(manifest.jobId);
  await store.put(key, Buffer.from(`${JSON.stringify(manifest)}\n`), { contentType: "application/json" });
  return key;
}

/** The index manifest as of the job, or undefined when none was built. Throws when damaged. */
export async function readIndexManifest(
  store: ObjectStore,
  jobId: string,
): Promise<IndexManifest | undefined> {
  const key = searchIndexKey(jobId);
  const expected = `a search index manifest (${INDEX_FORMAT} version 1 or ${INDEX_VERSION}) of job ${jobId}`;
  const manifest = await readJsonObject(store, key, {
    schema: indexManifestSchema,
    expected,
    damaged: (problem) => new SearchIndexDamagedError(key, problem),
  });
  if (manifest && manifest.jobId !== jobId) {
    throw new SearchIndexDamagedError(key, `expected ${expected}, found job ${manifest.jobId}`);
  }
  return manifest;
}

/** Jobs that have an index manifest, in time order. */
export async function listIndexedJobs(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const { key } of store.list(SEARCH_INDEX_PREFIX)) {
    const jobId = parseSearchIndexKey(key);
    if (jobId) ids.push(jobId);
  }
  return ids.sort(compareJobIds);
}

/** Whether the index was built from exactly the finalized jobs the archive has up to its job now. */
export function isCurrent(manifest: IndexManifest, finalizedJobs: readonly string[]): boolean {
  const now = finalizedJobs.filter((j) => compareJobIds(j, manifest.jobId) <= 0);
  return now.length === manifest.finalizedJobs.length && now.every((j, i) => j === manifest.finalizedJobs[i]);
}

/** A mailbox as an opened index holds it. */
export interface IndexedMailbox {
  /** The segments (numbers in `segments`, oldest first) holding its counted rows. */
  segments: number[];
  /** Its line in the newest of them: what its view was made of. */
  mailbox: SegmentMailbox;
  /** Its counted rows: the items of its view at the index's job. */
  rows: number;
}

/** An index opened for searching: its segments, which hold each mailbox, and what is masked. */
export interface OpenIndex {
  manifest: IndexManifest;
  segments: OpenSegment[];
  /** Per segment, its mailbox lines (excluded ones too). */
  lines: SegmentMailbox[][];
  mailboxes: Map<string, IndexedMailbox>;
  /** Per segment: mailbox id → its rows there that later segments mask (ascending). */
  masked: Array<Map<string, number[]>>;
}

/** The rows masked in one segment, all mailboxes together (ascending). */
export function maskedRows(index: OpenIndex, segment: number): number[] {
  const all = [...index.masked[segment]!.values()].flat();
  return all.sort((a, b) => a - b);
}

/**
 * Reads every segment's directory, then its mailbox list and masks (at once: one ranged read
 * when they lie close), all segments at once.
 */
export async function openIndex(
  store: ObjectStore,
  manifest: IndexManifest,
  counter: ReadCounter,
): Promise<OpenIndex> {
  const opened = await Promise.all(
    manifest.segments.map(async (ref) => {
      const directory = await readDirectory(store, ref.key, ref.directory as Span, counter);
      if (directory.rows !== ref.rows) {
        throw new SearchIndexDamagedError(
          ref.key,
          `expected ${ref.rows} rows (as the index manifest says), found ${directory.rows}`,
        );
      }
      const [mailboxes, masks] = await Promise.all([
        readSegmentMailboxes(store, ref.key, directory, counter),
        readSegmentMasks(store, ref.key, directory, counter),
      ]);
      return { key: ref.key, directory, mailboxes, masks };
    }),
  );
  const numberOf = new Map(opened.map((seg, i) => [seg.key, i]));
  const masked: OpenIndex["masked"] = opened.map(() => new Map());
  for (const seg of opened) {
    for (const mask of seg.masks) {
      const target = numberOf.get(mask.segment);
      // A mask on a segment the index no longer names: nothing to mask.
      if (target === undefined) continue;
      const rows = masked[target]!.get(mask.mailboxId);
      masked[target]!.set(
        mask.mailboxId,
        rows ? [...new Set([...rows, ...mask.rows])].sort((a, b) => a - b) : mask.rows,
      );
    }
  }
  const mailboxes: OpenIndex["mailboxes"] = new Map();
  opened.forEach((seg, segment) => {
    const exclude = new Set(manifest.segments[segment]!.exclude);
    for (const mailbox of seg.mailboxes) {
      if (exclude.has(mailbox.mailboxId)) continue;
      const live = mailbox.rows - (masked[segment]!.get(mailbox.mailboxId)?.length ?? 0);
      const known = mailboxes.get(mailbox.mailboxId);
      if (known) {
        known.segments.push(segment);
        known.mailbox = mailbox;
        known.rows += live;
      } else mailboxes.set(mailbox.mailboxId, { segments: [segment], mailbox, rows: live });
    }
  });
  return {
    manifest,
    segments: opened.map(({ key, directory }) => ({ key, directory })),
    lines: opened.map((seg) => seg.mailboxes),
    mailboxes,
    masked,
  };
}
