/**
 * A job's live progress (overall, per unit cost, per stream) from its state records, for the
 * CLI's `status` and the local runtime's view.
 */
import { heldIndexes, type StateStore } from "../state/index.js";

/** A job's progress as read from the state store. */
export interface JobProgressSnapshot {
  jobId: string;
  status: string;
  unitsTotal: number;
  unitsDone: number;
  /** Planned work in cost units (≈ Graph requests); done = the finished units' cost plus the running ones' share. */
  costTotal: number;
  costDone: number;
  items: number;
  bytes: number;
  errors: number;
  throttled: number;
  streams: Array<{
    streamId: number;
    status: string;
    unit?: number;
    mailbox?: string;
    unitsDone: number;
    items: number;
    bytes: number;
  }>;
}

const FINISHED_UNIT = new Set(["done", "mailbox-skipped", "failed"]);

/** Reads a job's progress from its records: overall, per unit cost, and per stream. */
export async function readJobProgress(
  state: StateStore,
  jobId: string,
): Promise<JobProgressSnapshot | undefined> {
  const job = await state.getJob(jobId);
  if (!job) return undefined;
  const [units, streams] = await Promise.all([state.listUnits(jobId), state.listStreams(jobId)]);
  const byIndex = new Map(units.map((u) => [u.index, u]));
  let costDone = 0;
  let items = 0;
  let bytes = 0;
  let errors = 0;
  let throttled = 0;
  for (const u of units) {
    items += u.items;
    bytes += u.bytes;
    errors += u.errors.length;
    throttled += u.throttled;
    if (FINISHED_UNIT.has(u.status)) costDone += u.cost;
    else if (u.status === "running" && u.checkpoint) {
      // A running unit counts by the share of its folders already finished: coarse, but monotone.
      const finished = u.checkpoint.folderIndex + (u.checkpoint.doneFolders?.length ?? 0);
      const share = u.folderIds.length > 0 ? finished / u.folderIds.length : 0;
      costDone += u.cost * share;
    }
  }
  return {
    jobId,
    status: job.status,
    unitsTotal: job.unitCount,
    unitsDone: units.filter((u) => FINISHED_UNIT.has(u.status)).length,
    costTotal: job.totalCost,
    costDone,
    items,
    bytes,
    errors,
    throttled,
    streams: streams.map((s) => {
      // The lowest held unit: the one a stream works on first when it holds two.
      const index = heldIndexes(s).find((i) => byIndex.get(i)?.status === "running");
      const unit = index !== undefined ? byIndex.get(index) : undefined;
      return {
        streamId: s.streamId,
        status: s.status,
        ...(index !== undefined ? { unit: index } : {}),
        ...(unit ? { mailbox: unit.mailboxId.slice(0, 8) } : {}),
        unitsDone: s.unitsDone,
        items: s.items,
        bytes: s.bytes,
      };
    }),
  };
}
