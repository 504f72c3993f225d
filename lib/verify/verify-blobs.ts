/**
 * Reads back the blobs a job's catalog (or every job's) refers to and checks each one's SHA-256
 * and size against the catalog line that named it. Damaged catalog lines are reported too.
 */
import { readBlob } from "../archive/blobs.js";
import { listMailboxCatalog, readCatalogPart } from "../archive/catalog.js";
import { BlobIntegrityError, ObjectNotFoundError } from "../archive/errors.js";
import type { ObjectStore } from "../archive/store.js";
import { mailboxesOf, requireJobs, resolveJob } from "../catalog-index/directory.js";

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
  /** Damaged catalog lines, with their place. */
  catalogErrors: string[];
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
  sha256: string,
  size: number,
): Promise<{ bytes: number; error?: Omit<BlobProblem, "sha256" | "referencedBy"> }> {
  let bytes = 0;
  try {
    for await (const chunk of await readBlob(store, sha256, { verify: true }))
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

export async function verifyArchive(store: ObjectStore, options: VerifyOptions = {}): Promise<VerifyResult> {
  const jobs = await requireJobs(store);
  const only = options.jobId !== undefined ? resolveJob(jobs, options.jobId).jobId : undefined;
  const wanted = new Map<string, { size: number; referencedBy: BlobProblem["referencedBy"] }>();
  const catalogErrors: string[] = [];
  const checkedJobs = new Set<string>();
  for (const mailbox of mailboxesOf(jobs)) {
    for (const catalog of await listMailboxCatalog(store, mailbox.mailboxId)) {
      if (only !== undefined && catalog.jobId !== only) continue;
      checkedJobs.add(catalog.jobId);
      for (const part of catalog.parts) {
        const read = await readCatalogPart(store, part.key);
        catalogErrors.push(...read.errors.map((e) => e.message));
        for (const entry of read.entries) {
          if (entry.kind !== "upsert" || wanted.has(entry.sha256)) continue;
          wanted.set(entry.sha256, {
            size: entry.size,
            referencedBy: { mailboxId: mailbox.mailboxId, jobId: catalog.jobId, messageId: entry.messageId },
          });
        }
      }
    }
  }
  const list = [...wanted];
  const problems: BlobProblem[] = [];
  let bytesRead = 0;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < list.length) {
      const [sha256, ref] = list[next++]!;
      const checked = await checkBlob(store, sha256, ref.size);
      bytesRead += checked.bytes;
      if (checked.error) problems.push({ sha256, ...checked.error, referencedBy: ref.referencedBy });
      options.onProgress?.(++done, list.length);
    }
  };
  const concurrency = Math.min(64, Math.max(1, options.concurrency ?? 8));
  await Promise.all(Array.from({ length: concurrency }, worker));
  problems.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  return { jobs: [...checkedJobs].sort(), blobsChecked: list.length, bytesRead, problems, catalogErrors };
}
