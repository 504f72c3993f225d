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
import { listFinalizedJobs } from "../../archive/manifest.js";
import type { ObjectStore } from "../../archive/store.js";
import { SearchIndexDamagedError } from "../errors.js";
import { type BuildIndexOptions, type BuildIndexResult, buildSearchIndex } from "./build.js";
import { isCurrent, readIndexManifest } from "./index-manifest.js";

export type IndexAfterJobOutcome =
  /** No job is finalized yet: nothing to index. */
  | { status: "none" }
  /** The index as of the newest finalized job was already current. */
  | { status: "current"; jobId: string }
  | { status: "built"; jobId: string; build: BuildIndexResult };

/** Brings the search index up to the newest finalized job (see the module's comment). */
export async function indexAfterJob(
  store: ObjectStore,
  opts: Omit<BuildIndexOptions, "at"> = {},
): Promise<IndexAfterJobOutcome> {
  const finalized = await listFinalizedJobs(store);
  const newest = finalized.at(-1);
  if (!newest) return { status: "none" };
  const manifest = await readIndexManifest(store, newest).catch((error: unknown) => {
    // A damaged manifest is built again (the build writes a whole new one).
    if (error instanceof SearchIndexDamagedError) return undefined;
    throw error;
  });
  if (manifest && isCurrent(manifest, finalized)) return { status: "current", jobId: newest };
  return { status: "built", jobId: newest, build: await buildSearchIndex(store, { ...opts, at: newest }) };
}
