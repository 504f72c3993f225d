/**
 * The archive's key layout, in one place (mirrored by infra/archive-layout.ts and described in
 * docs/archive-format.md). Keys are `/`-separated and identical on S3 and in a local folder.
 */
import type { BlobKind } from "../backup/ports.js";

export type { BlobKind };

import { InvalidKeyError } from "./errors.js";

/**
 * Encodes an id (mailbox, folder, job) as one key segment. Exchange ids are base64-like and may
 * hold `/`, `+` or `=`; percent-encoding keeps each id inside its segment and stays reversible.
 */
export function keySegment(id: string): string {
  if (id.length === 0) throw new InvalidKeyError(id, "found an empty id");
  return encodeURIComponent(id);
}

/** Reverses {@link keySegment}. */
export function fromKeySegment(segment: string): string {
  return decodeURIComponent(segment);
}

/**
 * Checks that a key is safe on every target: relative, no empty, `.` or `..` segment, no
 * backslash or NUL (a local folder must never be escaped through a key).
 */
export function assertValidKey(key: string): void {
  if (key.length === 0) throw new InvalidKeyError(key, "found an empty key");
  if (key.length > 1024) throw new InvalidKeyError(key, `found ${key.length} characters (at most 1024)`);
  if (key.includes("\\") || key.includes("\0")) throw new InvalidKeyError(key, "found a backslash or NUL");
  for (const segment of key.split("/")) {
    if (segment === "") throw new InvalidKeyError(key, "found an empty segment");
    if (segment === "." || segment === "..") throw new InvalidKeyError(key, `found a "${segment}" segment`);
  }
}

/** Everything under it is written once (content addresses, packs, pack indexes). */
export const BLOBS_ROOT = "blobs/";
export const BLOB_PREFIX = "blobs/sha256/";
export const STAGING_PREFIX = "staging/";

/** The file extension of each kind of blob: `.eml` (MIME), `.fts` (export stream, FastTransfer). */
export const BLOB_EXTENSIONS: Readonly<Record<BlobKind, string>> = Object.freeze({
  mime: "eml",
  export: "fts",
});

/**
 * `blobs/sha256/<aa>/<bb>/<sha256>.<ext>[.gz]`: two fan-out levels keep listings and folders
 * small; the extension says the kind (`.eml` MIME, `.fts` export stream), and `.gz` that the
 * object is the body gzip-compressed (its address stays the SHA-256 of the uncompressed body).
 */
export function blobKey(sha256: string, kind: BlobKind = "mime", encoding?: "gzip"): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    throw new InvalidKeyError(sha256, "expected a lowercase hex SHA-256 (64 characters)");
  }
  const suffix = encoding === "gzip" ? ".gz" : "";
  return `${BLOB_PREFIX}${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}.${BLOB_EXTENSIONS[kind]}${suffix}`;
}

export const PACK_PREFIX = "blobs/packs/";

/** `blobs/packs/mailbox=<m>/`: the packs (and their indexes) a mailbox's backups wrote. */
export function packPrefix(mailboxId: string): string {
  return `${PACK_PREFIX}mailbox=${keySegment(mailboxId)}/`;
}

/** `blobs/packs/mailbox=<m>/<packId>.pack`: small item bodies, one after the other. */
export function packKey(mailboxId: string, packId: string): string {
  return `${packPrefix(mailboxId)}${keySegment(packId)}.pack`;
}

/** `blobs/packs/mailbox=<m>/<name>.index.json`: where each body of one pack (or of several, merged) lies. */
export function packIndexKey(mailboxId: string, name: string): string {
  return `${packPrefix(mailboxId)}${keySegment(name)}.index.json`;
}

/** Identifies one catalog part: a page of one folder's delta in one unit of one job. */
export interface CatalogPartId {
  mailboxId: string;
  jobId: string;
  folderId: string;
  /** Unit index in the job's plan (≥ 0). */
  unit: number;
  /** Page number inside the unit (≥ 0), unique across restarts and resyncs. */
  page: number;
}

/** `catalog/mailbox=<id>/` */
export function mailboxCatalogPrefix(mailboxId: string): string {
  return `catalog/mailbox=${keySegment(mailboxId)}/`;
}

/** `catalog/mailbox=<id>/job=<id>/` */
export function jobCatalogPrefix(mailboxId: string, jobId: string): string {
  return `${mailboxCatalogPrefix(mailboxId)}job=${keySegment(jobId)}/`;
}

function nonNegativeInt(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidKeyError(String(n), `expected ${name} to be an integer ≥ 0, found ${n}`);
  }
}

/** `catalog/mailbox=<m>/job=<j>/folder=<f>/part-<unit:4>-<page:6>.jsonl` (zero-padded so names sort). */
export function catalogPartKey(id: CatalogPartId): string {
  nonNegativeInt("unit", id.unit);
  nonNegativeInt("page", id.page);
  const unit = String(id.unit).padStart(4, "0");
  const page = String(id.page).padStart(6, "0");
  return `${jobCatalogPrefix(id.mailboxId, id.jobId)}folder=${keySegment(id.folderId)}/part-${unit}-${page}.jsonl`;
}

const PART_KEY = /(?:^|\/)catalog\/mailbox=([^/]+)\/job=([^/]+)\/folder=([^/]+)\/part-(\d+)-(\d+)\.jsonl$/;

/** Parses a key written by {@link catalogPartKey}; undefined for any other key. */
export function parseCatalogPartKey(key: string): CatalogPartId | undefined {
  const m = PART_KEY.exec(key);
  if (!m) return undefined;
  return {
    mailboxId: fromKeySegment(m[1]!),
    jobId: fromKeySegment(m[2]!),
    folderId: fromKeySegment(m[3]!),
    unit: Number(m[4]),
    page: Number(m[5]),
  };
}

/** `catalog/mailbox=<m>/job=<j>/folders.jsonl`: the mailbox's folder tree as the job saw it. */
export function foldersKey(mailboxId: string, jobId: string): string {
  return `${jobCatalogPrefix(mailboxId, jobId)}folders.jsonl`;
}

/** `snapshots/mailbox=<m>/` */
export function snapshotPrefix(mailboxId: string): string {
  return `snapshots/mailbox=${keySegment(mailboxId)}/`;
}

/** `snapshots/mailbox=<m>/job=<j>.jsonl` */
export function snapshotKey(mailboxId: string, jobId: string): string {
  return `${snapshotPrefix(mailboxId)}job=${keySegment(jobId)}.jsonl`;
}

/** The job id of a key written by {@link snapshotKey}; undefined for any other key. */
export function parseSnapshotKey(key: string): string | undefined {
  const m = /\/job=([^/]+)\.jsonl$/.exec(key);
  return m ? fromKeySegment(m[1]!) : undefined;
}

export const JOBS_PREFIX = "jobs/";

/** `jobs/<jobId>/manifest.json` */
export function manifestKey(jobId: string): string {
  return `${JOBS_PREFIX}${keySegment(jobId)}/manifest.json`;
}

/** `jobs/<jobId>/mailboxes-<nnnn>.json`: part `part` of a large job's manifest mailbox list. */
export function manifestPageKey(jobId: string, part: number): string {
  return `${JOBS_PREFIX}${keySegment(jobId)}/mailboxes-${String(part).padStart(4, "0")}.json`;
}

/** `reports/<jobId>/report.json` */
export function reportKey(jobId: string): string {
  return `reports/${keySegment(jobId)}/report.json`;
}

/** `reports/<jobId>/pages/<list>-<nnnn>.json`: part `part` of a paged list of the job's report. */
export function reportPageKey(jobId: string, list: string, part: number): string {
  return `reports/${keySegment(jobId)}/pages/${list}-${String(part).padStart(4, "0")}.json`;
}

/**
 * Orders job ids by time. Job ids start with an ISO-like UTC time to the millisecond
 * (`2026-11-29T04-38-00Z.123-ab12cd34`; ids of older versions `2026-11-29T04-38-00Z-ab12cd34`,
 * before every new id of their second: lib/state/job-id.ts), so a plain code-unit comparison is
 * time order; listings are never trusted to be sorted (emulators sort by locale).
 */
export function compareJobIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The search index (lib/catalog-index/search-index): point-in-time manifests and their segments. */
export const SEARCH_INDEX_PREFIX = "index/search/";

/** `index/search/job=<j>.json`: the search index as of a job (which segments, which mailboxes). */
export function searchIndexKey(jobId: string): string {
  return `${SEARCH_INDEX_PREFIX}job=${keySegment(jobId)}.json`;
}

/** The job id of a key written by {@link searchIndexKey}; undefined for any other key. */
export function parseSearchIndexKey(key: string): string | undefined {
  const m = /^index\/search\/job=([^/]+)\.json$/.exec(key);
  return m ? fromKeySegment(m[1]!) : undefined;
}

/**
 * `index/search/builds/job=<j>.json`: the checkpoint of a search index build as of job j that
 * runs in pieces across invocations (search-index/build-progress.ts).
 */
export function searchBuildKey(jobId: string): string {
  return `${SEARCH_INDEX_PREFIX}builds/job=${keySegment(jobId)}.json`;
}

/** Where the checkpoints of builds lie (one LIST finds the jobs with a build under way). */
export const SEARCH_BUILDS_PREFIX = `${SEARCH_INDEX_PREFIX}builds/`;

/** The job id of a key written by {@link searchBuildKey}; undefined for any other key. */
export function parseSearchBuildKey(key: string): string | undefined {
  const m = /^index\/search\/builds\/job=([^/]+)\.json$/.exec(key);
  return m ? fromKeySegment(m[1]!) : undefined;
}

/** `index/search/pieces/job=<j>/<build>/<nnnnnn>.json`: what piece n of a build wrote. */
export function searchBuildPieceKey(jobId: string, build: string, n: number): string {
  return `${SEARCH_INDEX_PREFIX}pieces/job=${keySegment(jobId)}/${keySegment(build)}/${String(n).padStart(6, "0")}.json`;
}

/**
 * `index/search/segments/job=<j>/<build>-<nnnn>.jsonl.gz`: segment n of one build as of job j.
 * `build` is new for every build, so a build never overwrites a segment an older manifest names.
 */
export function searchSegmentKey(jobId: string, build: string, n: number): string {
  return `${SEARCH_INDEX_PREFIX}segments/job=${keySegment(jobId)}/${keySegment(build)}-${String(n).padStart(4, "0")}.jsonl.gz`;
}
