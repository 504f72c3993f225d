import type { StreamQueue } from "../queue/stream-queue.js";
import type { DiscoveryTask, StreamTask } from "../queue/stream-task.js";
import type { DiscoveryView, OpenJobView, SweepStatePort } from "./ports.js";

/** Continuations re-sent without discovery making progress before the sweep gives the job up. */
export const MAX_DISCOVERY_RESENDS = 3;

export interface SweepDeps {
  state: SweepStatePort;
  queue: StreamQueue;
  finalizeJob(jobId: string): Promise<void>;
  /** A stream with no sign of life for this long is re-sent. Milliseconds. Default 300 000 (5 min). */
  staleAfterMs?: number;
  /**
   * A job whose discovery made no progress this long (no piece begun or committed) lost its
   * continuation: it is re-sent; after {@link MAX_DISCOVERY_RESENDS} re-sends without progress
   * the job is closed `failed` (one still `planning` is finalized: its manifest covers the folder
   * lists its pieces wrote). Milliseconds. Default 1 200 000 (20 min: a Lambda invocation lasts
   * 15 at most).
   */
  planningStaleAfterMs?: number;
  now?: () => number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface SweepOutcome {
  jobs: number;
  resent: StreamTask[];
  /** Discovery continuations re-sent. */
  discoveryResent: DiscoveryTask[];
  finalized: string[];
  /** Jobs whose discovery was given up (those still planning are also in {@link finalized}). */
  abandoned: string[];
}

/**
 * The coordinator's safety net, run on every tick and on its own schedule: a stream whose
 * heartbeat is stale (its invocation died without a word) gets a new task with the next `seq`,
 * so it resumes its unit from the checkpoint and any late copy of the old task is dropped; a job
 * whose streams have all finished but was never finalized (the finalizer died) is finalized; a
 * job whose discovery stopped moving (its coordinator or continuation died) gets its next piece
 * re-sent, and is given up only when re-sends do not move it either.
 */
export async function sweep(deps: SweepDeps): Promise<SweepOutcome> {
  const now = deps.now ?? Date.now;
  const staleAfterMs = deps.staleAfterMs ?? 300_000;
  const log = deps.log ?? (() => {});
  const planningStaleAfterMs = deps.planningStaleAfterMs ?? 1_200_000;
  const outcome: SweepOutcome = { jobs: 0, resent: [], discoveryResent: [], finalized: [], abandoned: [] };
  for (const job of await deps.state.openJobs()) {
    outcome.jobs++;
    if (job.status === "planning" || job.status === "running") {
      const discovery = await deps.state.discovery(job.jobId);
      if (discovery?.discovering && now() - Date.parse(discovery.updatedAt) > planningStaleAfterMs) {
        await sweepDiscovery(job, discovery, now() - Date.parse(discovery.updatedAt), deps, outcome, log);
      }
      if (job.status === "planning") continue;
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

/** A discovery that stopped moving: its next piece re-sent, or the job given up after re-sends. */
async function sweepDiscovery(
  job: OpenJobView,
  discovery: DiscoveryView,
  idleMs: number,
  deps: SweepDeps,
  outcome: SweepOutcome,
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<void> {
  const { jobId } = job;
  if (discovery.resends < MAX_DISCOVERY_RESENDS) {
    // Conditional on the discovery as read: two sweeps re-send once.
    if (!(await deps.state.markContinuationResent(jobId, discovery.piece, discovery.resends))) return;
    const next: DiscoveryTask = { kind: "discover", jobId, piece: discovery.piece };
    await deps.queue.sendDiscovery(next);
    outcome.discoveryResent.push(next);
    log("sweep.discovery.resent", { jobId, piece: discovery.piece, resends: discovery.resends + 1 });
    return;
  }
  const reason = `discovery was interrupted: no progress for ${Math.round(idleMs / 1000)} s at piece ${discovery.piece} after ${discovery.resends} re-sent continuations; the next run backs up what this one would have`;
  if (discovery.status === "planning") {
    if (!(await deps.state.failPlanning(jobId, reason))) return;
    await deps.finalizeJob(jobId);
    outcome.finalized.push(jobId);
  } else if (!(await deps.state.abandonDiscovery(jobId, reason))) return;
  // A running job's streams finish the units it has; the last one finalizes it.
  outcome.abandoned.push(jobId);
  log("sweep.job.abandoned", { jobId, piece: discovery.piece });
}
