/**
 * What a job's ended units add up to as the state table holds it: the sums each stream's unit
 * ends added to the stream (since 2026-12-07, session 14) plus what versions before added to the
 * job record, and the streams' counters (the stored pages of their units).
 */
import type { StateStore } from "../../lib/state/index.js";

export interface JobEnds {
  /** Units ended, whatever their end. */
  units: number;
  cost: number;
  errors: number;
  items: number;
  bytes: number;
  requests: number;
  throttled: number;
}

export async function jobEnds(store: StateStore, jobId: string): Promise<JobEnds> {
  const [job, streams] = await Promise.all([store.getJob(jobId), store.listStreams(jobId)]);
  if (!job) throw new Error(`job ${jobId}: expected its record, found none`);
  const sum = (
    name: "unitsEnded" | "costEnded" | "errorsEnded" | "items" | "bytes" | "requests" | "throttled",
  ) => streams.reduce((n, s) => n + ((s as unknown as Record<string, number | undefined>)[name] ?? 0), 0);
  return {
    units: job.unitsDone + job.unitsFailed + job.unitsSkipped + sum("unitsEnded"),
    cost: (job.costDone ?? 0) + sum("costEnded"),
    errors: (job.errorsRecorded ?? 0) + sum("errorsEnded"),
    items: sum("items"),
    bytes: sum("bytes"),
    requests: sum("requests"),
    throttled: sum("throttled"),
  };
}
