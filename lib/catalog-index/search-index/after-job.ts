/**
 * Keeps the search index current after each job: the finalizer sends an index task (a message on
 * the stream queue) and a controller runs it apart from the job, so the index never delays or
 * fails a job. The index is brought up to the newest finalized job, whichever job's task runs:
 * a task that finds it current does nothing (one LIST of the jobs, one GET of the manifest), so
 * copies, late deliveries and tasks of older jobs cost next to nothing, and a task that failed is
 * made good by its redelivery or by the next job's task. The build keeps the rows of every
 * mailbox whose catalog the job did not change (build.ts): what it replays and writes grows with
 * the mailboxes the job changed.
 */
import { randomUUID } from "node:crypto";
import { listFinalizedJobs } from "../../archive/manifest.js";
import type { ObjectStore } from "../../archive/store.js";
import { RetryableError } from "../../errors.js";
import { SearchIndexDamagedError } from "../errors.js";
import { type BuildIndexOptions, type BuildIndexResult, buildSearchIndex } from "./build.js";
import { isCurrent, readIndexManifest } from "./index-manifest.js";

export type IndexAfterJobOutcome =
  /** No job is finalized yet: nothing to index. */
  | { status: "none" }
  /** The index as of the newest finalized job was already current. */
  | { status: "current"; jobId: string }
  | { status: "built"; jobId: string; build: BuildIndexResult };

/** The build lease (lib/state/index-lease.ts through the state store). */
export interface IndexLease {
  acquireIndexLease(owner: string, untilMs: number): Promise<boolean>;
  releaseIndexLease(owner: string): Promise<void>;
}

/** How long a build may hold the lease, ms: Lambda's longest invocation. */
export const INDEX_LEASE_MS = 900_000;

/** Another index task is building the search index: this one is to be delivered again later. */
export class SearchIndexBusyError extends RetryableError {}

/** Brings the search index up to the newest finalized job (see the module's comment). */
export async function indexAfterJob(
  store: ObjectStore,
  opts: Omit<BuildIndexOptions, "at"> & { lease?: IndexLease } = {},
): Promise<IndexAfterJobOutcome> {
  const { lease, ...build } = opts;
  const current = async () => {
    const finalized = await listFinalizedJobs(store);
    const newest = finalized.at(-1);
    if (!newest) return { newest };
    const manifest = await readIndexManifest(store, newest).catch((error: unknown) => {
      // A damaged manifest is built again (the build writes a whole new one).
      if (error instanceof SearchIndexDamagedError) return undefined;
      throw error;
    });
    return { newest, current: manifest !== undefined && isCurrent(manifest, finalized) };
  };
  // What the index needs as seen: nothing, nothing more, or a build as of the newest job.
  const bringUpToDate = async (seen: Awaited<ReturnType<typeof current>>): Promise<IndexAfterJobOutcome> => {
    if (!seen.newest) return { status: "none" };
    if (seen.current) return { status: "current", jobId: seen.newest };
    return {
      status: "built",
      jobId: seen.newest,
      build: await buildSearchIndex(store, { ...build, at: seen.newest }),
    };
  };
  const before = await current();
  if (!lease || !before.newest || before.current) return bringUpToDate(before);
  const owner = randomUUID();
  if (!(await lease.acquireIndexLease(owner, Date.now() + INDEX_LEASE_MS))) {
    throw new SearchIndexBusyError(
      `search index: expected to build it as of job ${before.newest}, found another index task building it`,
    );
  }
  try {
    // Looked at again under the lease: the task that held it may have built this very index.
    return await bringUpToDate(await current());
  } finally {
    await lease.releaseIndexLease(owner);
  }
}
