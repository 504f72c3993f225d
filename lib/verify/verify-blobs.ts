/**
 * Checks an archive (one job's catalog, or every job's) against what was written: every catalog
 * part and folders record against its header (lines and hash: nothing lost, nothing altered), and
 * each line; every blob the catalog names against its SHA-256 and size; and each finalized job's
 * catalog against its report's counts (items per mailbox, removals), so that a part lost whole is
 * found too.
 */
import { type BlobRef, type PackLocation, readBlob } from "../archive/blobs.js";
import { hasMime, listMailboxCatalog, readCatalogPart, readFolders } from "../archive/catalog.js";
import type { BodyEncoding } from "../archive/encoding.js";
import { BlobIntegrityError, ObjectNotFoundError } from "../archive/errors.js";
import type { BlobKind } from "../archive/keys.js";
import { FinalizedJobCache } from "../archive/manifest.js";
import { PackIndexDamageError, packIndexKeys, readPackIndexOrDamage } from "../archive/packs.js";
import { jobReading } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import {
  type ArchivedJob,
  mailboxesOf,
  requireJobs,
  resolveJob,
  wholeReport,
} from "../catalog-index/directory.js";

export interface BlobProblem {
  sha256: string;
  kind: "missing" | "damaged";
  detail: string;
  /** Where the catalog names it: mailbox, job, message. */
  referencedBy: { mailboxId: string; jobId: string; messageId: string };
}

export interface VerifyResult {
  /** Jobs whose catalog was checked. */
  jobs: string[];
  blobsChecked: number;
  bytesRead: number;
  problems: BlobProblem[];
  /** Damaged catalog lines and parts (truncated, altered, no header), with their place. */
  catalogErrors: string[];
  /** Where a job's catalog and its report disagree (counts of items or removals). */
  countProblems: string[];
  /**
   * Pack indexes that cannot be read (whole-archive checks only). Nothing the catalog names is
   * lost with one (lines name the pack), but the next backup stores its bodies again.
   */
  packIndexErrors: string[];
}

export interface VerifyOptions {
  /** Only the blobs this job's catalog wrote or named; every job when absent. */
  jobId?: string;
  /** Blobs read at once (GETs in flight). 1–64, default 8. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

async function checkBlob(
  store: ObjectStore,
  blob: BlobRef,
  size: number,
  blobKind: BlobKind,
): Promise<{ bytes: number; error?: Omit<BlobProblem, "sha256" | "referencedBy"> }> {
  let bytes = 0;
  try {
    for await (const chunk of await readBlob(store, blob, { verify: true, kind: blobKind }))
      bytes += (chunk as Buffer).length;
  } catch (error) {
    if (error instanceof ObjectNotFoundError)
      return { bytes, error: { kind: "missing", detail: "blob not found" } };
    if (error instanceof BlobIntegrityError)
      return { bytes, error: { kind: "damaged", detail: error.message } };
    throw error;
  }
  if (bytes !== size) {
    return { bytes, error: { kind: "damaged", detail: `expected ${size} bytes, found ${bytes}` } };
  }
  return { bytes };
}

/** Upserts per mailbox and removals in one job's catalog, as counted while reading it. */
interface JobCounts {
  upserts: Map<string, number>;
  removed: number;
}

export async function verifyArchive(store: ObjectStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const jobs = await requireJobs(store);
  const only = options.jobId !== undefined ? resolveJob(jobs, options.jobId).jobId : undefined;
  // By kind and place: an item's MIME (`.eml`) and export stream (`.fts`) are blobs apart, and a
  // body is checked once per place it lies (its own object, or each pack holding a copy).
  const wanted = new Map<
    string,
    {
      sha256: string;
      blobKind: BlobKind;
      size: number;
      pack?: PackLocation;
      encoding?: BodyEncoding;
      referencedBy: BlobProblem["referencedBy"];
    }
  >();
  const catalogErrors: string[] = [];
  const checkedJobs = new Set<string>();
  const counts = new Map<string, JobCounts>();
  // Every mailbox's catalog is read against the same jobs: read each job's manifest once.
  const finalizedJobs = new FinalizedJobCache();
  const packIndexErrors: string[] = [];
  for (const mailbox of mailboxesOf(jobs)) {
    if (only === undefined) packIndexErrors.push(...(await damagedPackIndexes(store, mailbox.mailboxId)));
    for (const catalog of await listMailboxCatalog(store, mailbox.mailboxId)) {
      if (only !== undefined && catalog.jobId !== only) continue;
      checkedJobs.add(catalog.jobId);
      const { requireHeader } = await jobReading(store, mailbox.mailboxId, catalog.jobId, finalizedJobs);
      const count = counts.get(catalog.jobId) ?? { upserts: new Map(), removed: 0 };
      counts.set(catalog.jobId, count);
      if (catalog.foldersKey) {
        const folders = await readFolders(store, catalog.foldersKey, { requireHeader });
        catalogErrors.push(...folders.errors.map((e) => e.message));
      }
      for (const part of catalog.parts) {
        const read = await readCatalogPart(store, part.key, { requireHeader });
        catalogErrors.push(...read.errors.map((e) => e.message));
        for (const entry of read.entries) {
          if (entry.kind === "removed") count.removed++;
          if (entry.kind !== "upsert") continue;
          count.upserts.set(mailbox.mailboxId, (count.upserts.get(mailbox.mailboxId) ?? 0) + 1);
          const referencedBy = {
            mailboxId: mailbox.mailboxId,
            jobId: catalog.jobId,
            messageId: entry.messageId,
          };
          const blobs: Array<{
            sha256: string;
            blobKind: BlobKind;
            size: number;
            pack?: PackLocation;
            encoding?: BodyEncoding;
          }> = [
            {
              sha256: entry.sha256,
              blobKind: hasMime(entry) ? "mime" : "export",
              size: entry.size,
              ...(entry.pack ? { pack: entry.pack } : {}),
              ...(entry.encoding ? { encoding: entry.encoding } : {}),
            },
            ...(entry.export
              ? [
                  {
                    sha256: entry.export.sha256,
                    blobKind: "export" as const,
                    size: entry.export.size,
                    ...(entry.export.pack ? { pack: entry.export.pack } : {}),
                    ...(entry.export.encoding ? { encoding: entry.export.encoding } : {}),
                  },
                ]
              : []),
          ];
          for (const blob of blobs) {
            const place = blob.pack
              ? `${blob.blobKind}:${blob.sha256}@${blob.pack.key}:${blob.pack.offset}`
              : `${blob.blobKind}:${blob.sha256}${blob.encoding ? `.${blob.encoding}` : ""}`;
            if (!wanted.has(place)) wanted.set(place, { ...blob, referencedBy });
          }
        }
      }
    }
  }
  const countProblems: string[] = [];
  for (const j of jobs.filter((j) => only === undefined || j.jobId === only)) {
    // One job's whole report at a time: a large job's report is paged.
    const report = await wholeReport(store, j);
    const count = counts.get(j.jobId) ?? { upserts: new Map(), removed: 0 };
    countProblems.push(...compareWithReport({ ...j, ...(report ? { report } : {}) }, count));
  }
  const list = [...wanted];
  const problems: BlobProblem[] = [];
  let bytesRead = 0;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < list.length) {
      const [, ref] = list[next++]!;
      const sha256 = ref.sha256;
      const checked = await checkBlob(
        store,
        { sha256, pack: ref.pack, encoding: ref.encoding },
        ref.size,
        ref.blobKind,
      );
      bytesRead += checked.bytes;
      if (checked.error) problems.push({ sha256, ...checked.error, referencedBy: ref.referencedBy });
      options.onProgress?.(++done, list.length);
    }
  };
  const concurrency = Math.min(64, Math.max(1, options.concurrency ?? 8));
  await Promise.all(Array.from({ length: concurrency }, worker));
  problems.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return {
    jobs: [...checkedJobs].sort(),
    blobsChecked: list.length,
    bytesRead,
    problems,
    catalogErrors,
    countProblems,
    packIndexErrors,
  };
}

/** Every pack index of a mailbox (merged ones and those they cover alike) that cannot be read. */
async function damagedPackIndexes(store: ObjectStore, mailboxId: string): Promise<string[]> {
  const out: string[] = [];
  for (const key of await packIndexKeys(store, mailboxId)) {
    const index = await readPackIndexOrDamage(store, key);
    if (index instanceof PackIndexDamageError) out.push(index.message);
  }
  return out;
}

/**
 * Where a finalized job's catalog and its report disagree: each mailbox's items (one upsert line
 * per item stored) and the job's removals. Jobs without a manifest or report are not compared.
 */
function compareWithReport(job: ArchivedJob, count: JobCounts): string[] {
  const r = job.report;
  if (!job.manifest || !r) return [];
  const out: string[] = [];
  for (const m of r.mailboxes) {
    const found = count.upserts.get(m.mailboxId) ?? 0;
    if (found !== m.items) {
      out.push(
        `job ${job.jobId} mailbox ${m.address}: expected ${m.items} stored messages in the catalog (as the report counts), found ${found}`,
      );
    }
  }
  if (count.removed !== r.totals.removed) {
    out.push(
      `job ${job.jobId}: expected ${r.totals.removed} removals in the catalog (as the report counts), found ${count.removed}`,
    );
  }
  return out;
}
