/**
 * Keeps the search index current after each job: the finalizer sends an index task (a message on
 * the stream queue) and a controller runs it apart from the job, so the index never delays or
 * fails a job. The index is brought up to the newest finalized job, whichever job's task runs:
 * a task that finds it current does nothing (one LIST of the jobs, one GET of the manifest, one
 * LIST of the builds under way), so copies, late deliveries and tasks of older jobs cost next to
 * nothing, and a task that failed is made good by its redelivery or by the next job's task. The
 * build keeps the rows of every mailbox whose catalog the job did not change (build.ts): what it
 * replays and writes grows with the mailboxes the job changed.
 *
 * A build runs in pieces (build.ts): near the invocation's deadline it stops at a checkpoint and
 * hands on (another index task); the next task, or the redelivered one after a crash, goes on
 * from the checkpoint. A build under way is finished before a newer job's is begun, so that a
 * first build longer than the time between jobs still ends.
 */
import { randomUUID } from "node:crypto";
import { compareJobIds } from "../../archive/keys.js";
import { listFinalizedJobs } from "../../archive/manifest.js";
import type { ObjectStore } from "../../archive/store.js";
import { RetryableError } from "../../errors.js";
import { SearchIndexDamagedError } from "../errors.js";
import { type BuildIndexOptions, type BuildIndexResult, buildSearchIndexInPieces } from "./build.js";
import { archivedProgress, type BuildProgress, buildUnderWay } from "./build-progress.js";
import { isCurrent, readIndexManifest } from "./index-manifest.js";

export type IndexAfterJobOutcome =
  /** No job is finalized yet: nothing to index. */
  | { status: "none" }
  /** The index as of the newest finalized job was already current. */
  | { status: "current"; jobId: string }
  | { status: "built"; jobId: string; build: BuildIndexResult }
  /** The build as of the job stopped near the deadline at a checkpoint and was handed on. */
  | { status: "continued"; jobId: string; progress: BuildProgress; mailboxes: number; mailboxesDone: number };

/** The build lease (lib/state/index-lease.ts through the state store). */
export interface IndexLease {
  acquireIndexLease(owner: string, untilMs: number): Promise<boolean>;
  releaseIndexLease(owner: string): Promise<void>;
}

/**
 * How long a build may hold the lease without a deadline, ms: Lambda's longest invocation. With
 * a deadline (`remainingMs`), the lease lasts the invocation's time left: a build that dies with
 * its invocation frees it then, for the redelivered task to go on.
 */
export const INDEX_LEASE_MS = 900_000;
/** The shortest lease a build takes, ms (see {@link indexAfterJob}). */
const MIN_LEASE_MS = 60_000;

/** Another index task is building the search index: this one is to be delivered again later. */
export class SearchIndexBusyError extends RetryableError {}

export type IndexAfterJobOptions = Omit<BuildIndexOptions, "at" | "progress" | "onPiece"> & {
  lease?: IndexLease;
  /** Sends the build on to another invocation (an index task); absent: the next job's task goes on. */
  handOn?: () => Promise<void>;
  onPiece?: BuildIndexOptions["onPiece"];
};

/** Brings the search index up to the newest finalized job (see the module's comment). */
export async function indexAfterJob(
  store: ObjectStore,
  opts: IndexAfterJobOptions = {},
): Promise<IndexAfterJobOutcome> {
  const { lease, handOn, ...build } = opts;
  const currentAt = async (jobId: string, finalized: readonly string[]) => {
    const manifest = await readIndexManifest(store, jobId).catch((error: unknown) => {
      // A damaged manifest is built again (the build writes a whole new one).
      if (error instanceof SearchIndexDamagedError) return undefined;
      throw error;
    });
    return manifest !== undefined && isCurrent(manifest, finalized);
  };
  const current = async () => {
    const finalized = await listFinalizedJobs(store);
    const newest = finalized.at(-1);
    if (!newest) return { newest, finalized };
    return { newest, finalized, current: await currentAt(newest, finalized) };
  };
  // What the index needs as seen: nothing, nothing more, or a build (the one under way first).
  const bringUpToDate = async (seen: Awaited<ReturnType<typeof current>>): Promise<IndexAfterJobOutcome> => {
    if (!seen.newest) return { status: "none" };
    if (seen.current) return { status: "current", jobId: seen.newest };
    const underWay = await buildUnderWay(store);
    // Gone on with while the finalized jobs up to its job are those it began with, and no
    // current index as of its job was written meanwhile (`mailstream index`).
    const resumable =
      underWay !== undefined &&
      sameJobs(
        underWay.finalizedJobs,
        seen.finalized.filter((j) => compareJobIds(j, underWay.jobId) <= 0),
      ) &&
      !(await currentAt(underWay.jobId, underWay.finalizedJobs));
    const at = resumable ? underWay.jobId : seen.newest;
    const outcome = await buildSearchIndexInPieces(store, {
      ...build,
      at,
      progress: archivedProgress(store),
    });
    if (!outcome.done) {
      const { progress, mailboxes, mailboxesDone } = outcome;
      return { status: "continued", jobId: at, progress, mailboxes, mailboxesDone };
    }
    return { status: "built", jobId: at, build: outcome.result };
  };
  const before = await current();
  let outcome: IndexAfterJobOutcome;
  if (!lease || !before.newest || before.current) outcome = await bringUpToDate(before);
  else {
    const owner = randomUUID();
    // The invocation's time left (it cannot outlive it), yet at least a minute: a piece begun
    // with less time left than that (every invocation does one) still holds it to its end.
    const leaseMs = build.remainingMs
      ? Math.min(Math.max(build.remainingMs(), MIN_LEASE_MS), INDEX_LEASE_MS)
      : INDEX_LEASE_MS;
    if (!(await lease.acquireIndexLease(owner, Date.now() + leaseMs))) {
      throw new SearchIndexBusyError(
        `search index: expected to build it as of job ${before.newest}, found another index task building it`,
      );
    }
    try {
      // Looked at again under the lease: the task that held it may have built this very index.
      outcome = await bringUpToDate(await current());
    } finally {
      await lease.releaseIndexLease(owner);
    }
  }
  // Handed on once the lease is free, so that the next task can take it. A crash before this
  // leaves the task undeleted: its redelivery goes on from the checkpoint.
  if (outcome.status === "continued" || (outcome.status === "built" && outcome.jobId !== before.newest)) {
    await handOn?.();
  }
  return outcome;
}

const sameJobs = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
