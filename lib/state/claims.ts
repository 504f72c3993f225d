/** Claims: how a stream task gets its next unit (orphaned ones first, then tickets) and finds the units it holds. */
import { MAX_TASK_UNITS, type StreamTask } from "../queue/stream-task.js";
import { StateContentionError } from "./errors.js";
import { jobFromItem, requireJob } from "./jobs.js";
import { jobPk, META, streamSk, unitSk } from "./keys.js";
import { getUnit, heldIndexes, isHeldBy, requireUnit, unitsByIndex } from "./reads.js";
import type { JobRecord, StreamRecord, UnitRecord } from "./records.js";
import { unitsPage } from "./report-pages.js";
import { type StateTable, strip, type TransactItem } from "./table.js";
import { currentTaskCondition, staleError } from "./task-guard.js";

const STATUS = { "#status": "status" };

/** The units the task's stream holds (a continuation resumes them), in index order. */
export async function heldUnits(t: StateTable, task: StreamTask): Promise<UnitRecord[]> {
  const stream = await t.get(jobPk(task.jobId), streamSk(task.streamId));
  if (!stream) return [];
  const units = await Promise.all(
    heldIndexes(strip(stream) as unknown as StreamRecord).map((i) => getUnit(t, task.jobId, i)),
  );
  return units.filter((u): u is UnitRecord => u !== undefined && isHeldBy(u, task));
}

/**
 * Hands the task's stream the next unit, largest first, never one unit to two streams:
 *
 * 1. Units the sweep released from dead streams (the job's orphaned set, lowest index first):
 *    one transaction takes the index out of the set and the unit for this stream.
 * 2. Else a ticket: an atomic ADD on the job's cursor gives this claimer alone the next index
 *    (no lost rounds however many streams race), then a transaction sets that unit running for
 *    this stream (attempts + 1) and records it on the stream. A ticket that cannot be used
 *    (the task turned stale) goes back through the orphaned set.
 * 3. Once the cursor is exhausted while some units have not ended, pending units below it
 *    (a claimer died between ticket and claim) are claimed directly.
 *
 * Null when nothing is left or the job is not running; "later" when nothing is claimable now but
 * the job's discovery may still add units (decided on the same read of the job as its unit
 * count, so a stream never finishes before the last piece's units); {@link StaleTaskError} when
 * the task is no longer current.
 */
export async function claimUnit(
  t: StateTable,
  task: StreamTask,
  onJob?: (job: JobRecord) => void,
): Promise<UnitRecord | null | "later"> {
  /** The job as the first ticket's refusal found it: no read of its own needed. */
  let refusedBy: JobRecord | undefined;
  // Every lost round means another claimer won a unit, so rounds are bounded by the units left;
  // the cap only guards against a table that never settles.
  for (let round = 0; round < 10_000; round++) {
    // The common case first, without reading the job: a running job with no orphans and
    // tickets left hands this claimer the next index in one write. A refusal answers with the
    // job record, which the rest of the round reads (at a stream's tail, one request, not two).
    if (round === 0) {
      const ticket = await takePlainTicket(t, task.jobId);
      if (typeof ticket === "number") {
        // The unit is read beside its claim (one round trip less before its first request): a
        // pending unit has no holder, so nothing but this claim writes it meanwhile, and what
        // the claim sets is known.
        const now = t.nowIso();
        const [outcome, unit] = await Promise.all([
          takeUnit(t, task, ticket, ["pending"], undefined, now),
          getUnit(t, task.jobId, ticket),
        ]);
        if (outcome !== "claimed") continue;
        // Read before the claim landed: the claim's fields on it; after: as read.
        if (unit?.status === "pending") return asClaimed(unit, task, now);
        return unit && isHeldBy(unit, task) ? unit : await requireUnit(t, task.jobId, ticket);
      }
      refusedBy = ticket;
    }
    const job = refusedBy ?? (await requireJob(t, task.jobId));
    refusedBy = undefined;
    onJob?.(job);
    if (job.status !== "running") return null;
    const orphan = job.orphanedUnits[0];
    if (orphan !== undefined) {
      const outcome = await takeUnit(
        t,
        task,
        orphan,
        ["orphaned", "pending"],
        takeOrphan(t, task.jobId, orphan),
      );
      if (outcome === "claimed") return await requireUnit(t, task.jobId, orphan);
      continue;
    }
    if (job.nextUnit < job.unitCount) {
      const ticket = await takeTicket(t, task.jobId);
      if (ticket === undefined) continue; // the last ticket went to someone else: look again
      const outcome = await takeUnit(t, task, ticket, ["pending"]);
      if (outcome === "claimed") return await requireUnit(t, task.jobId, ticket);
      continue; // a tail sweeper (step 3) claimed it first
    }
    const nothingNow = job.discoveryOpen === true ? "later" : null;
    // The units ended that the job record counts: those ended by versions before 2026-12-07
    // (session 14; since then a unit's end is counted on its stream), so a lower bound: when it
    // says all have ended they have, else the tail's sweep (once per job, below) finds out.
    const ended = job.unitsDone + job.unitsFailed + job.unitsSkipped;
    if (ended >= job.unitCount) return nothingNow;
    // Below an exhausted cursor no unit turns pending again (a released one goes through the
    // orphaned set), so once a listing of the job's first `unitCount` units found none pending,
    // the streams that reach the tail after it need not list them again, and a later piece's
    // units are listed from that mark on.
    if (job.tailSweptUnits === job.unitCount) return nothingNow;
    // Swept by another stream when the job was read: the same answer its refusal would give,
    // without the request (the read is this round's, as fresh as the write would be).
    if (sweptByAnother(job, task, Date.parse(t.nowIso()))) return nothingNow;
    // One stream sweeps at a time: every stream reaches the tail within seconds of the others,
    // and 32 listings of 20,000 unit records at once stalled the table for minutes (DynamoDB
    // Local serves them one after another; on DynamoDB they are 32 × the job's records read).
    // The others leave it to the sweeper, which claims a lost unit itself.
    if (!(await takeTailSweep(t, task))) return nothingNow;
    const from =
      job.tailSweptUnits !== undefined && job.tailSweptUnits < job.unitCount ? job.tailSweptUnits : 0;
    const lost = await firstPendingUnit(t, task.jobId, from, job.unitCount);
    await endTailSweep(t, task, job.unitCount, lost === undefined);
    if (lost === undefined) return nothingNow; // the rest is running elsewhere
    const outcome = await takeUnit(t, task, lost, ["pending"]);
    if (outcome === "claimed") return await requireUnit(t, task.jobId, lost);
  }
  throw new StateContentionError(
    `job ${task.jobId}: expected to claim a unit, found the job's records never settling`,
  );
}

/** How long a stream's sweep of the job's tail keeps the others out, ms (a sweeper that died frees it). */
export const TAIL_SWEEP_LEASE_MS = 60_000;

/** The job record shows another stream's tail sweep within its lease. */
function sweptByAnother(job: JobRecord, task: StreamTask, now: number): boolean {
  return (
    job.tailSweepAt !== undefined &&
    job.tailSweepAt >= now - TAIL_SWEEP_LEASE_MS &&
    job.tailSweeper !== task.streamId
  );
}

/**
 * Takes the job's tail sweep for the task's stream: true when no other stream swept within
 * {@link TAIL_SWEEP_LEASE_MS}, or this stream did (its next round).
 */
async function takeTailSweep(t: StateTable, task: StreamTask): Promise<boolean> {
  const now = Date.parse(t.nowIso());
  const taken = await t.updateReturning({
    Key: { pk: jobPk(task.jobId), sk: META },
    UpdateExpression: "SET tailSweeper = :stream, tailSweepAt = :now",
    ConditionExpression: "attribute_not_exists(tailSweepAt) OR tailSweepAt < :stale OR tailSweeper = :stream",
    ExpressionAttributeValues: { ":stream": task.streamId, ":now": now, ":stale": now - TAIL_SWEEP_LEASE_MS },
  });
  return taken !== undefined;
}

/**
 * Ends this stream's sweep of the tail. `swept`: its listing of the job's first `unitCount` units,
 * below an exhausted cursor, found none pending, recorded as `tailSweptUnits` (conditional on the
 * count: a piece that added units meanwhile voids the mark; the sweep is freed all the same).
 */
async function endTailSweep(
  t: StateTable,
  task: StreamTask,
  unitCount: number,
  swept: boolean,
): Promise<void> {
  const free = "REMOVE tailSweeper, tailSweepAt";
  const mine = "tailSweeper = :stream";
  if (swept) {
    const marked = await t.updateReturning({
      Key: { pk: jobPk(task.jobId), sk: META },
      UpdateExpression: `SET tailSweptUnits = :n ${free}`,
      ConditionExpression: "unitCount = :n AND nextUnit >= unitCount",
      ExpressionAttributeValues: { ":n": unitCount },
    });
    if (marked !== undefined) return;
  }
  await t.updateReturning({
    Key: { pk: jobPk(task.jobId), sk: META },
    UpdateExpression: free,
    ConditionExpression: mine,
    ExpressionAttributeValues: { ":stream": task.streamId },
  });
}

/** Units read per page while looking for a lost one (a page is at most 1 MB however many). */
const TAIL_PAGE_UNITS = 1000;

/**
 * The lowest index in [`from`, `unitCount`) of a unit still pending, reading the job's unit
 * records a page at a time from `from` and stopping at the first one found.
 */
async function firstPendingUnit(
  t: StateTable,
  jobId: string,
  from: number,
  unitCount: number,
): Promise<number | undefined> {
  let after = from > 0 ? unitSk(from - 1) : undefined;
  for (;;) {
    const page = await unitsPage(t, jobId, after, TAIL_PAGE_UNITS, unitCount);
    const pending = page.records.find((u) => u.status === "pending");
    if (pending) return pending.index;
    // A page of nothing but a re-plan's leftovers (past the plan) ends the plan's units.
    if (page.last === undefined || page.records.length === 0) return undefined;
    after = page.last;
  }
}

/** Removes `index` from the job's orphaned set; condition: it is in the set. */
function takeOrphan(t: StateTable, jobId: string, index: number) {
  return t.update(
    jobPk(jobId),
    META,
    "DELETE orphanedUnits :set",
    { ":i": index, ":set": new Set([index]) },
    "contains(orphanedUnits, :i)",
  );
}

/** The next index of the job's cursor for this caller alone, or undefined when all are handed out. */
async function takeTicket(t: StateTable, jobId: string): Promise<number | undefined> {
  const attributes = await t.updateReturning({
    Key: { pk: jobPk(jobId), sk: META },
    UpdateExpression: "ADD nextUnit :one",
    ConditionExpression: "nextUnit < unitCount",
    ExpressionAttributeValues: { ":one": 1 },
    ReturnValues: "UPDATED_OLD",
  });
  return attributes?.nextUnit as number | undefined;
}

/**
 * The next index of the job's cursor for this caller alone when the job is running with no
 * orphaned unit waiting (those go first) and tickets are left, so that a caller may try this
 * before reading the job; else the job record as the refusal found it (undefined: none).
 */
async function takePlainTicket(t: StateTable, jobId: string): Promise<number | JobRecord | undefined> {
  const answer = await t.updateOrRead({
    Key: { pk: jobPk(jobId), sk: META },
    UpdateExpression: "ADD nextUnit :one",
    ConditionExpression:
      "nextUnit < unitCount AND #status = :running AND attribute_not_exists(orphanedUnits)",
    ExpressionAttributeValues: { ":one": 1, ":running": "running" },
    ExpressionAttributeNames: STATUS,
    ReturnValues: "UPDATED_OLD",
  });
  if ("written" in answer) return answer.written.nextUnit as number;
  return answer.refused ? jobFromItem(answer.refused) : undefined;
}

/**
 * The write that sets unit `index` running for the task's stream (attempts + 1), conditional on
 * its status being one of `from`.
 */
function runningFor(
  t: StateTable,
  task: StreamTask,
  index: number,
  from: Array<"pending" | "orphaned">,
  now: string,
): TransactItem {
  const fromValues = Object.fromEntries(from.map((status, i) => [`:from${i}`, status]));
  return t.update(
    jobPk(task.jobId),
    unitSk(index),
    "SET #status = :running, claimedBy = :stream, claimSeq = :seq, claimedAt = :now, " +
      "startedAt = if_not_exists(startedAt, :now) ADD attempts :one",
    {
      ":running": "running",
      ":stream": task.streamId,
      ":seq": task.seq,
      ":now": now,
      ":one": 1,
      ...fromValues,
    },
    `#status IN (${Object.keys(fromValues).join(", ")})`,
    STATUS,
  );
}

/** A pending unit as the claim that set it running for `task` at `now` left it. */
function asClaimed(unit: UnitRecord, task: StreamTask, now: string): UnitRecord {
  return {
    ...unit,
    status: "running",
    claimedBy: task.streamId,
    claimSeq: task.seq,
    startedAt: unit.startedAt ?? now,
    attempts: (unit.attempts ?? 0) + 1,
  };
}

/**
 * Begins a task that carries the units its stream was given at planning (`task.units`, the ones
 * the plan starts on it, whose tickets the plan's commit took) and claims them all, in one
 * transaction: the stream's {@link beginTask} (seq, not finished; the task's lease recorded;
 * the units added to its held units) and each unit `pending → running`; the units are read
 * beside it (one read, a batch for several). So a stream's first Graph requests wait for one
 * state round trip instead of three per unit (begin, then a ticket and a claim each).
 *
 * What caps the list: a transaction holds at most 100 items, the stream's and one per unit
 * (`MAX_TASK_UNITS`, 99); the plan deals a stream no more than its slots hold (≤ 4 × 8 with
 * Graph's C = 4).
 *
 * Undefined when the transaction is refused, whatever the reason: the task is stale, or a unit
 * is no longer pending (an earlier delivery of the same task claimed them, or a stream sweeping
 * the job's tail took one): the caller then begins the task as any other, which tells a stale
 * task, resumes what the stream holds and claims as usual; a start unit left pending below the
 * cursor is claimed by the tail's sweep, as a lost task's are. A stream whose transaction
 * succeeded holds nothing else: only an earlier delivery of its first task could have claimed
 * for it, and that delivery would have claimed these units first.
 *
 * `onRead`: the units are read first and, when all are pending, handed to it as the claim
 * would leave them, before the transaction is sent, so that the caller may start their requests
 * while the claim is in flight, gating what it writes on the outcome returned here
 * (backup/claim-gate.ts); a unit found not pending returns undefined at once (the claim would be
 * refused). Without it, the read goes beside the transaction.
 */
export async function beginTaskWithUnits(
  t: StateTable,
  task: StreamTask & { units: number[] },
  onRead?: (units: UnitRecord[]) => void,
): Promise<UnitRecord[] | undefined> {
  const indexes = [...new Set(task.units)].sort((a, b) => a - b);
  if (indexes.length === 0 || indexes.length > MAX_TASK_UNITS) {
    throw new RangeError(`beginTaskWithUnits: expected 1–${MAX_TASK_UNITS} units, found ${indexes.length}`);
  }
  const now = t.nowIso();
  const lease = task.lease === undefined ? "" : ", lease = :lease";
  const stream = t.update(
    jobPk(task.jobId),
    streamSk(task.streamId),
    `SET #status = :running, heartbeatAt = :now${lease} ADD heldUnits :held`,
    {
      ":running": "running",
      ":finished": "finished",
      ":seq": task.seq,
      ":now": now,
      ":held": new Set(indexes),
      ...(task.lease === undefined ? {} : { ":lease": task.lease }),
    },
    "seq = :seq AND #status <> :finished",
    STATUS,
  );
  const read: Promise<Array<UnitRecord | undefined>> =
    indexes.length === 1
      ? getUnit(t, task.jobId, indexes[0]!).then((u) => [u])
      : unitsByIndex(t, task.jobId, indexes).then((byIndex) => indexes.map((i) => byIndex.get(i)));
  const claim = () => t.transact([...indexes.map((i) => runningFor(t, task, i, ["pending"], now)), stream]);
  if (onRead) {
    // The read first, then the claim: the caller starts the units on the read, so it must not
    // wait behind the transaction (beside each other, the transaction answered first about one
    // time in ten on a loaded DynamoDB Local, and most times on an idle one); and 16 streams'
    // reads at once are answered sooner without their transactions beside them. The claim lands
    // one read later (on DynamoDB Local ≈ 0.2 s after the task arrived, on DynamoDB ≈ 20 ms),
    // still well before the first answers (Graph's ≈ 0.4 s) that wait for it.
    const units = await read;
    // Not all pending: the claim would be refused (an earlier delivery or the tail's sweep has one).
    if (units.some((u) => u?.status !== "pending")) return undefined;
    const claimed = (units as UnitRecord[]).map((unit) => asClaimed(unit, task, now));
    onRead(claimed);
    return (await claim()).ok ? claimed : undefined;
  }
  const [outcome, units] = await Promise.all([claim(), read]);
  if (!outcome.ok || units.some((u) => u === undefined)) return undefined;
  // Read before the claim landed: the claim's fields on it; after: as read.
  return (units as UnitRecord[]).map((unit) =>
    unit.status === "pending" ? asClaimed(unit, task, now) : unit,
  );
}

/**
 * Sets unit `index` running for the task's stream when its status is one of `from`, together
 * with `extra` (the job-side condition), and adds it to the stream's `heldUnits`.
 */
async function takeUnit(
  t: StateTable,
  task: StreamTask,
  index: number,
  from: Array<"pending" | "orphaned">,
  extra?: TransactItem,
  now = t.nowIso(),
): Promise<"claimed" | "lost"> {
  const pk = jobPk(task.jobId);
  const current = currentTaskCondition(task);
  const items: TransactItem[] = [
    runningFor(t, task, index, from, now),
    t.update(
      pk,
      streamSk(task.streamId),
      "SET heartbeatAt = :now ADD heldUnits :held",
      { ":held": new Set([index]), ":now": now, ...current.values, ":finished": "finished" },
      `${current.condition} AND #status <> :finished`,
      STATUS,
    ),
  ];
  if (extra) items.push(extra);
  const outcome = await t.transact(items);
  if (outcome.ok) return "claimed";
  if (outcome.failed[1]) {
    if (!outcome.failed[0] && !extra) {
      // A ticket this stale task cannot use: hand it back so another stream claims the unit.
      await t.transact([t.update(pk, META, "ADD orphanedUnits :set", { ":set": new Set([index]) })]);
    }
    throw await staleError(t, task);
  }
  if (extra && !outcome.failed[2] && outcome.failed[0]) {
    // In the orphaned set but not claimable (it ended meanwhile): drop it from the set.
    await t.transact([extra]);
  }
  return "lost";
}
