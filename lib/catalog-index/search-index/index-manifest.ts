/**
 * The search index as of a job (`index/search/job=<j>.json`, docs/archive-format.md "Search
 * index"): the segments that hold the mailboxes' views at that job, each with the mailboxes
 * whose rows in it no longer count (a later segment holds them). Written last by a build, so a
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
import { readDirectory, readSegmentMailboxes, type SegmentMailbox } from "./segment.js";

export const INDEX_FORMAT = "mailstream.search-index";
export const INDEX_VERSION = 1;

const span = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);
export const indexManifestSchema = z.looseObject({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(INDEX_VERSION),
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
  const expected = `a search index manifest (${INDEX_FORMAT} version ${INDEX_VERSION}) of job ${jobId}`;
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

/** An index opened for searching: its segments and which one holds each mailbox. */
export interface OpenIndex {
  manifest: IndexManifest;
  segments: OpenSegment[];
  /** Mailbox id → the segment (its number in `segments`) holding its view, and the view's make. */
  mailboxes: Map<string, { segment: number; mailbox: SegmentMailbox }>;
}

/** Reads every segment's directory and mailbox list (two ranged reads per segment, at once). */
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
      return {
        key: ref.key,
        directory,
        mailboxes: await readSegmentMailboxes(store, ref.key, directory, counter),
      };
    }),
  );
  const mailboxes: OpenIndex["mailboxes"] = new Map();
  opened.forEach((seg, segment) => {
    const exclude = new Set(manifest.segments[segment]!.exclude);
    for (const mailbox of seg.mailboxes) {
      if (exclude.has(mailbox.mailboxId)) continue;
      if (mailboxes.has(mailbox.mailboxId)) {
        throw new SearchIndexDamagedError(
          seg.key,
          `expected mailbox ${mailbox.mailboxId} in one counted segment, found it also in ${opened[mailboxes.get(mailbox.mailboxId)!.segment]!.key}`,
        );
      }
      mailboxes.set(mailbox.mailboxId, { segment, mailbox });
    }
  });
  return { manifest, segments: opened.map(({ key, directory }) => ({ key, directory })), mailboxes };
}
