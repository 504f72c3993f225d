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

type UnitView = Awaited<ReturnType<StateStore["listUnits"]>>[number];
type StreamView = Awaited<ReturnType<StateStore["listStreams"]>>[number];

/** A running unit counts by the share of its folders already finished: coarse, but monotone. */
function runningShare(u: UnitView): number {
  if (u.status !== "running" || !u.checkpoint) return 0;
  const finished = u.checkpoint.folderIndex + (u.checkpoint.doneFolders?.length ?? 0);
  const share = u.folderIds.length > 0 ? finished / u.folderIds.length : 0;
  return u.cost * share;
}

function streamRows(
  streams: readonly StreamView[],
  byIndex: ReadonlyMap<number, UnitView>,
): JobProgressSnapshot["streams"] {
  return streams.map((s) => {
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
  });
}

/**
 * Reads a job's progress: overall, per unit cost, and per stream. Reads the job record, its
 * streams and the units they hold, a constant number of records whatever the job's size (the
 * streams sum the units they ended, the job record the ones versions before 2026-12-07 ended;
 * the streams' counters include the running units' stored pages). A job created by older code,
 * whose record lacks those sums, is read unit by unit.
 */
export async function readJobProgress(
  state: StateStore,
  jobId: string,
): Promise<JobProgressSnapshot | undefined> {
  const job = await state.getJob(jobId);
  if (!job) return undefined;
  if (job.costDone === undefined || job.errorsRecorded === undefined) return readByUnits(state, job);
  const streams = await state.listStreams(jobId);
  const held = [...new Set(streams.flatMap((s) => heldIndexes(s)))];
  const units = (await Promise.all(held.map((i) => state.getUnit(jobId, i)))).filter(
    (u): u is UnitView => u !== undefined,
  );
  const sum = (name: "items" | "bytes" | "throttled" | "unitsEnded" | "costEnded" | "errorsEnded") =>
    streams.reduce((n, s) => n + (s[name] ?? 0), 0);
  return {
    jobId,
    status: job.status,
    unitsTotal: job.unitCount,
    unitsDone: job.unitsDone + job.unitsFailed + job.unitsSkipped + sum("unitsEnded"),
    costTotal: job.totalCost,
    costDone: job.costDone + sum("costEnded") + units.reduce((n, u) => n + runningShare(u), 0),
    items: sum("items"),
    bytes: sum("bytes"),
    errors: job.errorsRecorded + sum("errorsEnded"),
    throttled: sum("throttled"),
    streams: streamRows(streams, new Map(units.map((u) => [u.index, u]))),
  };
}

/** The same, from every unit record: jobs created by code that kept no sums on the job record. */
async function readByUnits(
  state: StateStore,
  job: NonNullable<Awaited<ReturnType<StateStore["getJob"]>>>,
): Promise<JobProgressSnapshot> {
  const [units, streams] = await Promise.all([state.listUnits(job.jobId), state.listStreams(job.jobId)]);
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
    costDone += FINISHED_UNIT.has(u.status) ? u.cost : runningShare(u);
  }
  return {
    jobId: job.jobId,
    status: job.status,
    unitsTotal: job.unitCount,
    unitsDone: units.filter((u) => FINISHED_UNIT.has(u.status)).length,
    costTotal: job.totalCost,
    costDone,
    items,
    bytes,
    errors,
    throttled,
    streams: streamRows(streams, new Map(units.map((u) => [u.index, u]))),
  };
}
