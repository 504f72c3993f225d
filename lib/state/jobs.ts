import { StateInvariantError, StateRecordMissingError } from "./errors.js";
import {
  JOB_MAILBOX_PREFIX,
  JOBS_PK,
  jobPk,
  MAX_STREAMS,
  MAX_UNITS,
  META,
  SKIPPED_PREFIX,
  streamSk,
  unitSk,
} from "./keys.js";
import {
  CLOSED_JOB_STATUSES,
  type JobRecord,
  type JobStatus,
  type JobSummary,
  type MailboxInfo,
  type PlannedUnit,
  type SkippedMailbox,
} from "./records.js";
import { type Item, type StateTable, strip, type TransactItem, zeroCounters } from "./table.js";

export interface NewJob {
  /** From {@link jobIdForTick}. */
  jobId: string;
  /** What started it, e.g. `schedule` or `on-demand`. */
  trigger: string;
  triggerDetails?: Record<string, string>;
}

/**
 * Creates the job (status `planning`) and its `JOBS` listing entry in one transaction. A tick
 * delivered twice finds the job of the first delivery: `{created: false}`.
 */
export async function createJob(t: StateTable, job: NewJob): Promise<{ created: boolean; job: JobRecord }> {
  const createdAt = t.nowIso();
  const expiresAt = t.expiresAt(createdAt);
  const record: JobRecord = {
    jobId: job.jobId,
    trigger: job.trigger,
    ...(job.triggerDetails ? { triggerDetails: job.triggerDetails } : {}),
    status: "planning",
    createdAt,
    updatedAt: createdAt,
    unitCount: 0,
    streamCount: 0,
    totalCost: 0,
    predictedMakespanSeconds: 0,
    lowerBoundSeconds: 0,
    nextUnit: 0,
    orphanedUnits: [],
    streamsFinished: 0,
    unitsDone: 0,
    unitsFailed: 0,
    unitsSkipped: 0,
    costDone: 0,
    errorsRecorded: 0,
    discoveryOpen: true,
    mailboxUnitsListed: true,
    ...zeroCounters(),
  };
  const { orphanedUnits: _none, ...stored } = record; // an empty set cannot be stored
  const summary: JobSummary = {
    jobId: job.jobId,
    trigger: job.trigger,
    status: "planning",
    createdAt,
    updatedAt: createdAt,
  };
  const outcome = await t.transact([
    {
      Put: {
        TableName: t.name,
        Item: { pk: jobPk(job.jobId), sk: META, ...stored, expiresAt },
        ConditionExpression: "attribute_not_exists(pk)",
      },
    },
    {
      Put: {
        TableName: t.name,
        Item: { pk: JOBS_PK, sk: job.jobId, ...summary, expiresAt },
        ConditionExpression: "attribute_not_exists(pk)",
      },
    },
  ]);
  if (outcome.ok) return { created: true, job: record };
  return { created: false, job: await requireJob(t, job.jobId) };
}

export async function getJob(t: StateTable, jobId: string): Promise<JobRecord | undefined> {
  const item = await t.get(jobPk(jobId), META);
  return item ? jobFromItem(item) : undefined;
}

export async function requireJob(t: StateTable, jobId: string): Promise<JobRecord> {
  const job = await getJob(t, jobId);
  if (!job) throw new StateRecordMissingError(`job ${jobId}: expected its META record, found none`);
  return job;
}

/** A planned unit's record: pending, not yet claimed, counters at zero. */
export function unitItem(jobId: string, index: number, u: PlannedUnit, expiresAt: number): Item {
  return {
    pk: jobPk(jobId),
    sk: unitSk(index),
    expiresAt,
    jobId,
    index,
    mailboxId: u.mailboxId,
    folderIds: u.folderIds,
    ...(u.folderReads !== undefined ? { folderReads: u.folderReads } : {}),
    ...(u.mailboxIds !== undefined ? { mailboxIds: u.mailboxIds } : {}),
    cost: u.cost,
    estimatedSeconds: u.estimatedSeconds,
    concurrency: u.concurrency,
    ...(u.maxConcurrency !== undefined ? { maxConcurrency: u.maxConcurrency } : {}),
    ...(u.hasSyncStates !== undefined ? { hasSyncStates: u.hasSyncStates } : {}),
    status: "pending",
    attempts: 0,
    errors: [],
    incompleteFolders: [],
    ...zeroCounters(),
  };
}

/** A new stream's record: pending at seq 0, its heartbeat now (the sweep re-sends a task that never arrived). */
export function streamItem(jobId: string, streamId: number, expiresAt: number, now: string): Item {
  return {
    pk: jobPk(jobId),
    sk: streamSk(streamId),
    expiresAt,
    jobId,
    streamId,
    status: "pending",
    seq: 0,
    heartbeatAt: now,
    unitsDone: 0,
    orphanings: 0,
    ...zeroCounters(),
  };
}

export function validatePlan(jobId: string, plan: { units: PlannedUnit[]; streams: number }): void {
  const bad = (what: string, found: unknown) =>
    new StateInvariantError(`plan of job ${jobId}: expected ${what}, found ${JSON.stringify(found)}`);
  // A job with nothing to do may plan no streams; any unit needs at least one stream.
  const minStreams = plan.units.length > 0 ? 1 : 0;
  if (!Number.isInteger(plan.streams) || plan.streams < minStreams || plan.streams > MAX_STREAMS) {
    throw bad(`streams an integer ${minStreams}–${MAX_STREAMS}`, plan.streams);
  }
  if (plan.units.length > MAX_UNITS) throw bad(`at most ${MAX_UNITS} units`, plan.units.length);
  plan.units.forEach((u, i) => {
    if (!u.mailboxId) throw bad(`unit ${i} to name a mailbox`, u.mailboxId);
    if (!Array.isArray(u.folderIds)) throw bad(`unit ${i} folderIds to be a list`, u.folderIds);
    if (
      u.folderReads !== undefined &&
      (u.folderReads.length !== u.folderIds.length || !/^[mbpa]*$/.test(u.folderReads))
    ) {
      throw bad(`unit ${i} folderReads to be one of m, b, p, a per folder`, u.folderReads);
    }
    if (/[bpa]/.test(u.folderReads ?? "") && !u.mailboxIds?.primary) {
      throw bad(`unit ${i} to name its import/export mailbox ids for its item folders`, u.mailboxIds);
    }
    if (!Number.isFinite(u.cost) || u.cost < 0) throw bad(`unit ${i} cost ≥ 0`, u.cost);
    if (!Number.isInteger(u.concurrency) || u.concurrency < 1 || u.concurrency > 4) {
      throw bad(`unit ${i} concurrency an integer 1–4`, u.concurrency);
    }
    if (
      u.maxConcurrency !== undefined &&
      (!Number.isInteger(u.maxConcurrency) || u.maxConcurrency < u.concurrency || u.maxConcurrency > 4)
    ) {
      throw bad(`unit ${i} maxConcurrency an integer from its concurrency to 4`, u.maxConcurrency);
    }
  });
}

/**
 * Sets the job's status (META and its `JOBS` entry together). With `expected`, only from that
 * status: returns false when the job is in another one.
 */
export async function setJobStatus(
  t: StateTable,
  jobId: string,
  status: JobStatus,
  options: { expected?: JobStatus | JobStatus[]; endedAt?: string } = {},
): Promise<boolean> {
  const now = t.nowIso();
  const expected = options.expected === undefined ? [] : [options.expected].flat();
  const values: Record<string, unknown> = { ":status": status, ":now": now };
  expected.forEach((s, i) => {
    values[`:from${i}`] = s;
  });
  const condition =
    expected.length > 0
      ? `attribute_exists(pk) AND #status IN (${expected.map((_, i) => `:from${i}`).join(", ")})`
      : "attribute_exists(pk)";
  let set = "SET #status = :status, updatedAt = :now";
  if (status === "running") set += ", plannedAt = if_not_exists(plannedAt, :now)";
  if (options.endedAt) {
    set += ", endedAt = :ended";
    values[":ended"] = options.endedAt;
  }
  const outcome = await t.transact([
    t.update(jobPk(jobId), META, set, values, condition, { "#status": "status" }),
    jobsEntryStatus(t, jobId, status, now),
  ]);
  if (outcome.ok) return true;
  if (expected.length === 0)
    throw new StateRecordMissingError(`job ${jobId}: expected its META record, found none`);
  if (!(await getJob(t, jobId))) {
    throw new StateRecordMissingError(`job ${jobId}: expected its META record, found none`);
  }
  return false;
}

/** The job list's entry (`JOBS`/`<jobId>`) set to `status`: rides with every status change of META. */
export function jobsEntryStatus(t: StateTable, jobId: string, status: JobStatus, now: string): TransactItem {
  return t.update(
    JOBS_PK,
    jobId,
    "SET #status = :status, updatedAt = :now",
    { ":status": status, ":now": now },
    undefined,
    { "#status": "status" },
  );
}

/**
 * Moves a running job to `finalizing` once every stream has finished and no unit waits to be
 * reclaimed. True for exactly one caller; false for everyone else and for every later call.
 */
export async function tryFinalizeJob(t: StateTable, jobId: string): Promise<boolean> {
  return toFinalizing(
    t,
    jobId,
    // A job still discovering may add units and streams: it is finalized once discovery is done.
    "#status = :from AND streamsFinished = streamCount AND attribute_not_exists(orphanedUnits) AND attribute_not_exists(discoveryOpen)",
    "running",
  );
}

/**
 * Closes a job whose planning failed or was abandoned: `planning` → `finalizing`, with `reason`
 * (one line) as its failure, so that finalization reports it `failed` and writes its manifest
 * (which covers the folder lists its planning already wrote to the archive). False when the job
 * was no longer `planning`.
 */
export async function failPlanning(t: StateTable, jobId: string, reason: string): Promise<boolean> {
  return toFinalizing(t, jobId, "#status = :from", "planning", reason);
}

/** Moves the job (META and its `JOBS` entry) to `finalizing` when `condition` holds on META. */
async function toFinalizing(
  t: StateTable,
  jobId: string,
  condition: string,
  from: JobStatus,
  failure?: string,
): Promise<boolean> {
  const now = t.nowIso();
  const status = { "#status": "status" };
  const outcome = await t.transact([
    t.update(
      jobPk(jobId),
      META,
      `SET #status = :finalizing, updatedAt = :now${failure === undefined ? "" : ", failure = :failure"}`,
      {
        ":finalizing": "finalizing",
        ":from": from,
        ":now": now,
        ...(failure === undefined ? {} : { ":failure": failure }),
      },
      condition,
      status,
    ),
    t.update(
      JOBS_PK,
      jobId,
      "SET #status = :finalizing, updatedAt = :now",
      { ":finalizing": "finalizing", ":now": now },
      undefined,
      status,
    ),
  ]);
  return outcome.ok;
}

/** Jobs, newest first. */
export async function listJobs(t: StateTable, limit?: number): Promise<JobSummary[]> {
  const items = await t.query(JOBS_PK, "", { newestFirst: true, ...(limit ? { limit } : {}) });
  return items.map((i) => strip(i) as unknown as JobSummary);
}

/** Jobs not yet closed (planning, running, finalizing), oldest first. */
export async function openJobs(t: StateTable): Promise<JobSummary[]> {
  const items = await t.query(JOBS_PK, "");
  return items
    .map((i) => strip(i) as unknown as JobSummary)
    .filter((j) => !CLOSED_JOB_STATUSES.includes(j.status));
}

export async function jobMailboxes(t: StateTable, jobId: string): Promise<MailboxInfo[]> {
  return (await t.query(jobPk(jobId), JOB_MAILBOX_PREFIX)).map((i) => strip(i) as unknown as MailboxInfo);
}

export async function skippedMailboxes(t: StateTable, jobId: string): Promise<SkippedMailbox[]> {
  return (await t.query(jobPk(jobId), SKIPPED_PREFIX)).map((i) => strip(i) as unknown as SkippedMailbox);
}

/** A job's META item (as read, or as a refused write found it) as its record. */
export function jobFromItem(item: Item): JobRecord {
  const rest = strip(item);
  const orphaned = rest.orphanedUnits as Set<number> | undefined;
  return {
    ...(rest as unknown as JobRecord),
    orphanedUnits: orphaned ? [...orphaned].sort((a, b) => a - b) : [],
  };
}
