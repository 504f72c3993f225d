import type { JobRecord, PlannedUnit, StateStore } from "../../state/index.js";

/**
 * Plans a created job in one discovery piece, as the coordinator would: the units' records
 * written, `streams` streams added and the piece committed, so the job is running with its
 * claim cursor at 0. For tools and tests that need a running job on a real table without a
 * tenant (bench/state-request-cost.ts, the state integration tests).
 */
export async function commitOnePiece(
  store: StateStore,
  job: JobRecord,
  planned: readonly PlannedUnit[],
  streams: number,
  seconds = 1,
): Promise<void> {
  const { jobId } = job;
  await store.beginPiece(jobId, 0, "lease");
  await store.writePieceRecords(
    jobId,
    0,
    "lease",
    { base: 0, units: [...planned], mailboxes: [], skipped: [] },
    job,
  );
  await store.addStreams(job, 0, streams);
  await store.commitPiece(jobId, 0, "lease", {
    unitCount: planned.length,
    streamCount: streams,
    cost: planned.reduce((sum, u) => sum + u.cost, 0),
    mailboxes: planned.length,
    workStreamSeconds: 0,
    workMailboxSeconds: 0,
    longestUnitSeconds: 0,
    lowerBoundSeconds: seconds,
    predictedMakespanSeconds: seconds,
  });
}
