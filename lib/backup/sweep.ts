import type { StreamQueue } from "../queue/stream-queue.js";
import type { StreamTask } from "../queue/stream-task.js";
import type { SweepStatePort } from "./ports.js";

export interface SweepDeps {
  state: SweepStatePort;
  queue: StreamQueue;
  finalizeJob(jobId: string): Promise<void>;
  /** A stream with no sign of life for this long is re-sent. Milliseconds. Default 300 000 (5 min). */
  staleAfterMs?: number;
  /**
   * A job still `planning` this long after its last change lost its coordinator: it is closed
   * `failed` and finalized (its manifest covers the folder lists its planning wrote).
   * Milliseconds. Default 1 200 000 (20 min: a Lambda invocation lasts 15 at most).
   */
  planningStaleAfterMs?: number;
  now?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface SweepOutcome {
  jobs: number;
  resent: StreamTask[];
  finalized: string[];
  /** Jobs closed because their planning was abandoned (also in {@link finalized}). */
  abandoned: string[];
}

/**
 * The coordinator's safety net, run on every tick and on its own schedule: a stream whose
 * heartbeat is stale (its invocation died without a word) gets a new task with the next `seq`,
 * so it resumes its unit from the checkpoint and any late copy of the old task is dropped; a job
 * whose streams have all finished but was never finalized (the finalizer died) is finalized; a
 * job whose coordinator died while planning it is closed `failed` and finalized.
 */
export async function sweep(deps: SweepDeps): Promise<SweepOutcome> {
  const now = deps.now ?? Date.now;
  const staleAfterMs = deps.staleAfterMs ?? 300_000;
  const log = deps.log ?? (() => {});
  const planningStaleAfterMs = deps.planningStaleAfterMs ?? 1_200_000;
  const outcome: SweepOutcome = { jobs: 0, resent: [], finalized: [], abandoned: [] };
  for (const job of await deps.state.openJobs()) {
    outcome.jobs++;
    if (job.status === "planning") {
      const idleMs = now() - Date.parse(job.updatedAt);
      if (idleMs <= planningStaleAfterMs) continue;
      const reason = `planning was interrupted: the job stayed in planning for ${Math.round(idleMs / 1000)} s without a plan (its coordinator stopped); the next run backs up what this one would have`;
      if (await deps.state.failPlanning(job.jobId, reason)) {
        await deps.finalizeJob(job.jobId);
        outcome.abandoned.push(job.jobId);
        outcome.finalized.push(job.jobId);
        log("sweep.job.abandoned", { jobId: job.jobId });
      }
      continue;
    }
    if (job.status === "finalizing") {
      // Finalization is idempotent: run it again when the first finalizer went quiet.
      if (now() - Date.parse(job.updatedAt) > staleAfterMs) {
        await deps.finalizeJob(job.jobId);
        outcome.finalized.push(job.jobId);
      }
      continue;
    }
    if (job.status !== "running") continue;
    const streams = await deps.state.streams(job.jobId);
    for (const s of streams) {
      if (s.status === "finished") continue;
      if (now() - Date.parse(s.heartbeatAt) <= staleAfterMs) continue;
      const next = await deps.state.handOn({ jobId: job.jobId, streamId: s.streamId, seq: s.seq });
      await deps.queue.send(next);
      outcome.resent.push(next);
      log("sweep.stream.resent", { ...next });
    }
    if (streams.length > 0 && streams.every((s) => s.status === "finished")) {
      if (await deps.state.tryFinalizeJob(job.jobId)) {
        await deps.finalizeJob(job.jobId);
        outcome.finalized.push(job.jobId);
      }
    }
  }
  return outcome;
}
