/**
 * Where a search index build that runs in pieces stands (docs/archive-format.md "Search index",
 * "Built in pieces"): a checkpoint per job built (`index/search/builds/job=<j>.json`), rewritten
 * after each piece, and a record per piece (`index/search/pieces/job=<j>/<build>/<n>.json`) of
 * the segments it wrote and the mailboxes it took out of the previous index's segments.
 *
 * They lie beside the index's objects rather than in the state table: what a build has written
 * grows with the tenant (thousands of segment references at 100,000 mailboxes, and the mailboxes
 * replayed), past a DynamoDB item's 400 KB, while the checkpoint itself stays small (totals and
 * the last mailbox done) because each piece's part is an object of its own, written once. The
 * lifecycle rule that expires the index's objects expires them too (the bucket refuses
 * DeleteObject: a finished build's checkpoint says so and stays). Only the holder of the index
 * lease (lib/state/index-lease.ts) writes them, so a plain PUT suffices.
 */
import { z } from "zod";
import { readJsonObject } from "../../archive/json-object.js";
import {
  compareJobIds,
  parseSearchBuildKey,
  SEARCH_BUILDS_PREFIX,
  searchBuildKey,
  searchBuildPieceKey,
} from "../../archive/keys.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import { indexManifestSchema } from "./index-manifest.js";

export const BUILD_PROGRESS_FORMAT = "mailstream.search-index-build";
export const BUILD_PROGRESS_VERSION = 1;

const segmentRef = indexManifestSchema.shape.segments.element;
const counts = z.object({
  reused: z.number().int().nonnegative(),
  rebuilt: z.number().int().nonnegative(),
  updated: z.number().int().nonnegative(),
  uncovered: z.number().int().nonnegative(),
  segmentsWritten: z.number().int().nonnegative(),
  puts: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  reads: z.number().int().nonnegative(),
  readBytes: z.number().int().nonnegative(),
});
export type BuildCounts = z.infer<typeof counts>;

export const buildProgressSchema = z.looseObject({
  format: z.literal(BUILD_PROGRESS_FORMAT),
  version: z.literal(BUILD_PROGRESS_VERSION),
  /** The job the build is as of. */
  jobId: z.string().min(1),
  /** The finalized jobs up to it when the build began: another list means starting afresh. */
  finalizedJobs: z.array(z.string()),
  /** The job of the index built upon (its manifest); absent for a build from nothing. */
  base: z.string().optional(),
  /** The build's name in its segments' keys. */
  build: z.string().min(1),
  /** The build's time (epoch ms): segment ages are judged by it in every piece alike. */
  now: z.number().int(),
  /** The segment the base's segments of changes were merged into first, if they were. */
  merged: z.object({ segment: segmentRef, segments: z.number().int().positive() }).optional(),
  /** The last mailbox done (mailboxes go in id order); absent before the first piece. */
  after: z.string().optional(),
  /** Pieces done (their records are numbered 0 … pieces − 1). */
  pieces: z.number().int().nonnegative(),
  /** Segments written (the next one's number in its key). */
  written: z.number().int().nonnegative(),
  /** The build's totals so far. */
  counts,
  /** True once the manifest is written: the build is not to be gone on with. */
  finished: z.boolean().optional(),
});
export type BuildProgress = z.infer<typeof buildProgressSchema>;

export const buildPieceSchema = z.looseObject({
  /** New segments (whole views, then changes), in the order the manifest lists them. */
  segments: z.array(segmentRef),
  /** Mailboxes replayed whole or left out: their rows in the base's segments no longer count. */
  replaced: z.array(z.string()),
  /** Mailboxes left out (damage in their catalog). */
  uncovered: z.array(z.string()),
});
export type BuildPiece = z.infer<typeof buildPieceSchema>;

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`);

/** Where builds keep their progress: in the archive, or (one process, nothing to resume) in memory. */
export interface BuildProgressStore {
  read(jobId: string): Promise<BuildProgress | undefined>;
  save(progress: BuildProgress): Promise<void>;
  savePiece(progress: BuildProgress, n: number, piece: BuildPiece): Promise<void>;
  readPieces(progress: BuildProgress): Promise<BuildPiece[]>;
}

/** Pieces read at once when a build ends (S3 GETs in flight). */
const PIECE_READS = 16;

/** Progress kept in the archive beside the index, so that another invocation goes on with it. */
export function archivedProgress(store: ObjectStore): BuildProgressStore {
  const damaged = (key: string) => (problem: string) => new SearchIndexDamagedError(key, problem);
  return {
    read: (jobId) =>
      readJsonObject(store, searchBuildKey(jobId), {
        schema: buildProgressSchema,
        expected: `a search index build's checkpoint (${BUILD_PROGRESS_FORMAT} version ${BUILD_PROGRESS_VERSION})`,
        damaged: damaged(searchBuildKey(jobId)),
      }),
    save: async (progress) => {
      await store.put(searchBuildKey(progress.jobId), json(progress), { contentType: "application/json" });
    },
    savePiece: async (progress, n, piece) => {
      const key = searchBuildPieceKey(progress.jobId, progress.build, n);
      await store.put(key, json(piece), { contentType: "application/json" });
    },
    readPieces: async (progress) => {
      const pieces: BuildPiece[] = [];
      for (let n = 0; n < progress.pieces; n += PIECE_READS) {
        const window = Array.from({ length: Math.min(PIECE_READS, progress.pieces - n) }, (_, k) => n + k);
        const read = await Promise.all(
          window.map(async (k) => {
            const key = searchBuildPieceKey(progress.jobId, progress.build, k);
            const piece = await readJsonObject(store, key, {
              schema: buildPieceSchema,
              expected: `piece ${k} of search index build ${progress.build}`,
              damaged: damaged(key),
            });
            if (!piece) {
              throw new SearchIndexDamagedError(
                key,
                `expected piece ${k} of build ${progress.build}, found none`,
              );
            }
            return piece;
          }),
        );
        pieces.push(...read);
      }
      return pieces;
    },
  };
}

/** Progress held in memory: a build run whole in one process (`mailstream index`). */
export function memoryProgress(): BuildProgressStore {
  let pieces: BuildPiece[] = [];
  return {
    read: async () => undefined,
    save: async () => {},
    savePiece: async (_progress, n, piece) => {
      pieces = pieces.slice(0, n);
      pieces[n] = piece;
    },
    readPieces: async () => pieces,
  };
}

/**
 * The build under way, if any: the newest checkpoint, unless finished (one LIST of the
 * checkpoints, one GET). An older unfinished one was given up for a newer build.
 */
export async function buildUnderWay(store: ObjectStore): Promise<BuildProgress | undefined> {
  let newest: string | undefined;
  for await (const { key } of store.list(SEARCH_BUILDS_PREFIX)) {
    const jobId = parseSearchBuildKey(key);
    if (jobId && (newest === undefined || compareJobIds(jobId, newest) > 0)) newest = jobId;
  }
  if (newest === undefined) return undefined;
  const progress = await archivedProgress(store)
    .read(newest)
    .catch((error: unknown) => {
      // A damaged checkpoint is passed over: a build as of that job starts afresh.
      if (error instanceof SearchIndexDamagedError) return undefined;
      throw error;
    });
  return progress?.finished ? undefined : progress;
}
