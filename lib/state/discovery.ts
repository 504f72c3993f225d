/**
 * Discovery in pieces: a job's mailboxes are discovered and planned one directory page at a time,
 * each piece checkpointed in the job's `DISCOVERY` record.
 *
 * A piece (1) takes the record's lease for its number (a second delivery of the same piece takes
 * it over, so the first one's writes fail from then on), (2) writes its units after the job's
 * current ones and its mailbox records, each transaction guarded by the lease, (3) commits: one
 * transaction moves the discovery record to the next piece and the cursor to the next directory
 * page, and adds the units and streams to the job. Units beyond the job's `unitCount` are not
 * claimable, so a piece that dies before its commit left nothing anyone works on; its redo
 * writes the same indexes again. Nothing is planned twice, nothing is lost.
 */

import type { PieceCommitView } from "../backup/ports.js";
import { jobsEntryStatus, requireJob, streamItem, unitItem, validatePlan } from "./jobs.js";
import { DISCOVERY, jobMailboxSk, jobPk, META, mailboxPk, skippedSk } from "./keys.js";
import type { DiscoveryRecord, JobRecord, MailboxInfo, PlannedUnit, SkippedMailbox } from "./records.js";
import { type Item, inChunks, type StateTable, strip, type TransactItem } from "./table.js";

const STATUS = { "#status": "status" };
/** Items per transaction: DynamoDB's 100, less the lease check. */
const CHUNK = 99;

/** A piece that holds the lease: the job as it was and where the piece starts. */
export interface PieceStart {
  job: JobRecord;
  /** The directory page to read; undefined: the first one. */
  cursor?: string;
  /** True when an earlier delivery began this piece too (it may have written some of its objects). */
  redo?: boolean;
}

export async function getDiscovery(t: StateTable, jobId: string): Promise<DiscoveryRecord | undefined> {
  const item = await t.get(jobPk(jobId), DISCOVERY);
  return item ? (strip(item) as unknown as DiscoveryRecord) : undefined;
}

/** Whether a job may still get units from discovery: planning, or running with discovery open. */
export function isDiscovering(job: Pick<JobRecord, "status" | "discoveryOpen">): boolean {
  return job.status === "planning" || (job.status === "running" && job.discoveryOpen === true);
}

/**
 * Takes piece `piece`'s lease; undefined when the piece is not the job's next one (done already,
 * a stale copy) or the job is not discovering. A job left in `planning` by a version that
 * planned in one piece has no discovery record: its piece 0 starts from the first page.
 */
export async function beginPiece(
  t: StateTable,
  jobId: string,
  piece: number,
  lease: string,
): Promise<PieceStart | undefined> {
  const job = await requireJob(t, jobId);
  if (!isDiscovering(job)) return undefined;
  const now = t.nowIso();
  const attributes = await t.updateReturning({
    Key: { pk: jobPk(jobId), sk: DISCOVERY },
    UpdateExpression:
      "SET jobId = :job, piece = if_not_exists(piece, :p), lease = :lease, updatedAt = :now, expiresAt = :ttl",
    ConditionExpression:
      piece === 0
        ? "attribute_not_exists(piece) OR (piece = :p AND attribute_not_exists(done))"
        : "piece = :p AND attribute_not_exists(done)",
    ExpressionAttributeValues: {
      ":job": jobId,
      ":p": piece,
      ":lease": lease,
      ":now": now,
      ":ttl": t.expiresAt(job.createdAt),
    },
    // The record before: its page (unchanged by this update) and whether a lease was held (a
    // commit removes it, so one held means this piece began before).
    ReturnValues: "ALL_OLD",
  });
  if (!attributes) return undefined;
  const cursor = attributes.nextPage as string | undefined;
  return {
    job,
    ...(cursor ? { cursor } : {}),
    ...(attributes.lease !== undefined ? { redo: true } : {}),
  };
}

/** The lease check that rides in each of a piece's transactions. */
function leaseHeld(t: StateTable, jobId: string, piece: number, lease: string): TransactItem {
  return t.update(
    jobPk(jobId),
    DISCOVERY,
    "SET leaseAt = :now",
    { ":now": t.nowIso(), ":p": piece, ":lease": lease },
    "piece = :p AND lease = :lease",
  );
}

export interface PieceRecords {
  /** The piece's units, written at `base`, `base + 1`, … (base: the job's unit count at the piece's start). */
  base: number;
  units: PlannedUnit[];
  mailboxes: MailboxInfo[];
  skipped: SkippedMailbox[];
}

/**
 * Writes a piece's units, the job's mailbox and skipped-mailbox records and each mailbox's META,
 * in transactions guarded by the lease. False when the lease was lost (another delivery of the
 * piece took it over, or the piece was committed): the caller stops.
 */
export async function writePieceRecords(
  t: StateTable,
  jobId: string,
  piece: number,
  lease: string,
  records: PieceRecords,
  job: Pick<JobRecord, "createdAt">,
): Promise<boolean> {
  validatePlan(jobId, { units: records.units, streams: records.units.length > 0 ? 1 : 0 });
  const expiresAt = t.expiresAt(job.createdAt);
  const pk = jobPk(jobId);
  const now = t.nowIso();
  // Each mailbox record lists its units, so that finalization reads a page of mailboxes with
  // their units (lib/state/report-pages.ts) instead of every unit of the job.
  const unitsOf = new Map<string, number[]>();
  records.units.forEach((u, i) => {
    const list = unitsOf.get(u.mailboxId);
    if (list) list.push(records.base + i);
    else unitsOf.set(u.mailboxId, [records.base + i]);
  });
  const writes: TransactItem[] = [
    ...records.units.map((u, i) => put(t, unitItem(jobId, records.base + i, u, expiresAt))),
    ...records.mailboxes.map((m) =>
      put(t, { pk, sk: jobMailboxSk(m.mailboxId), expiresAt, ...m, units: unitsOf.get(m.mailboxId) ?? [] }),
    ),
    ...records.skipped.map((s) => put(t, { pk, sk: skippedSk(s.userId), expiresAt, ...s })),
    // Mailbox META is updated, not put, so that its lastSuccessfulJob survives.
    ...records.mailboxes.map((m) =>
      t.update(
        mailboxPk(m.mailboxId),
        META,
        "SET mailboxId = :id, address = :address, displayName = :name, #type = :type, updatedAt = :now",
        { ":id": m.mailboxId, ":address": m.address, ":name": m.displayName, ":type": m.type, ":now": now },
        undefined,
        { "#type": "type" },
      ),
    ),
  ];
  const chunks: TransactItem[][] = [];
  for (let i = 0; i < writes.length; i += CHUNK) chunks.push(writes.slice(i, i + CHUNK));
  // One after another: every transaction touches the discovery record (its lease).
  const outcomes = await inChunks(chunks, 1, (chunk) =>
    t.transact([leaseHeld(t, jobId, piece, lease), ...chunk]),
  );
  return outcomes.every((o) => o.ok);
}

function put(t: StateTable, item: Item): TransactItem {
  return { Put: { TableName: t.name, Item: item } };
}

/**
 * Creates the records of streams `from` … `to - 1` that do not exist yet (before the commit that
 * counts them; a stream record nobody counts is never read).
 */
export async function addStreams(
  t: StateTable,
  job: Pick<JobRecord, "jobId" | "createdAt">,
  from: number,
  to: number,
): Promise<void> {
  const expiresAt = t.expiresAt(job.createdAt);
  const now = t.nowIso();
  const ids = Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  await inChunks(ids, 16, (streamId) =>
    t.transact([
      {
        Put: {
          TableName: t.name,
          Item: streamItem(job.jobId, streamId, expiresAt, now),
          ConditionExpression: "attribute_not_exists(pk)",
        },
      },
    ]),
  );
}

/** A piece's commit: the job's totals after it, and the next page (undefined: the last piece). */
export type PieceCommit = PieceCommitView;

/**
 * Commits a piece: the discovery record moves to the next piece (its cursor to the next page),
 * the job gets the piece's units and streams and becomes `running` once it has a unit. One
 * transaction, conditional on the lease: false when another delivery took the piece over.
 */
export async function commitPiece(
  t: StateTable,
  jobId: string,
  piece: number,
  lease: string,
  commit: PieceCommit,
): Promise<boolean> {
  const now = t.nowIso();
  const last = commit.next === undefined;
  const status = commit.unitCount > 0 ? "running" : "planning";
  const discovery = t.update(
    jobPk(jobId),
    DISCOVERY,
    last
      ? "SET piece = :next, updatedAt = :now, done = :true, resends = :zero REMOVE lease, nextPage"
      : "SET piece = :next, updatedAt = :now, nextPage = :cursor, resends = :zero REMOVE lease",
    {
      ":p": piece,
      ":lease": lease,
      ":next": piece + 1,
      ":now": now,
      ":zero": 0,
      ...(last ? { ":true": true } : { ":cursor": commit.next }),
    },
    "piece = :p AND lease = :lease",
  );
  const values: Record<string, unknown> = {
    ":units": commit.unitCount,
    ":streams": commit.streamCount,
    ":cost": commit.cost,
    ":mailboxes": commit.mailboxes,
    ":ws": commit.workStreamSeconds,
    ":wm": commit.workMailboxSeconds,
    ":lu": commit.longestUnitSeconds,
    ":lb": commit.lowerBoundSeconds,
    ":pm": commit.predictedMakespanSeconds,
    ":status": status,
    ":now": now,
    ":planning": "planning",
    ":running": "running",
  };
  let set =
    "SET unitCount = :units, streamCount = :streams, workStreamSeconds = :ws, workMailboxSeconds = :wm, " +
    "longestUnitSeconds = :lu, lowerBoundSeconds = :lb, predictedMakespanSeconds = :pm, #status = :status, updatedAt = :now";
  if (status === "running") set += ", plannedAt = if_not_exists(plannedAt, :now)";
  if (commit.firstUnits !== undefined && commit.firstUnits > 0) {
    // The first streams' tasks carry these units: claims by ticket start after them.
    set += ", nextUnit = :first";
    values[":first"] = commit.firstUnits;
  }
  if (last) set += ", discoveredAt = :now";
  else {
    set += ", discoveryOpen = :true";
    values[":true"] = true;
  }
  const update = `${set} ADD totalCost :cost, discoveredMailboxes :mailboxes${last ? " REMOVE discoveryOpen" : ""}`;
  const outcome = await t.transact([
    discovery,
    t.update(jobPk(jobId), META, update, values, "#status IN (:planning, :running)", STATUS),
    jobsEntryStatus(t, jobId, status, now),
  ]);
  return outcome.ok;
}

/**
 * The sweep's re-send of a lost continuation: counts it on the discovery record (created for a
 * job an older version left in `planning`), conditional on the record being as the sweep read it
 * (`piece`, `resends`), so that two sweeps re-send once. False when discovery moved meanwhile.
 */
export async function markContinuationResent(
  t: StateTable,
  job: Pick<JobRecord, "jobId" | "createdAt">,
  piece: number,
  resends: number,
): Promise<boolean> {
  const outcome = await t.transact([
    t.update(
      jobPk(job.jobId),
      DISCOVERY,
      "SET jobId = :job, piece = if_not_exists(piece, :p), updatedAt = :now, resends = :more, expiresAt = :ttl",
      {
        ":job": job.jobId,
        ":p": piece,
        ":now": t.nowIso(),
        ":seen": resends,
        ":more": resends + 1,
        ":ttl": t.expiresAt(job.createdAt),
      },
      resends === 0
        ? "(attribute_not_exists(piece) OR piece = :p) AND (attribute_not_exists(resends) OR resends = :seen) AND attribute_not_exists(done)"
        : "piece = :p AND resends = :seen AND attribute_not_exists(done)",
    ),
  ]);
  return outcome.ok;
}

/**
 * Ends the discovery of a running job that stopped making progress: no more units will come,
 * `reason` becomes the job's failure (its report says the tenant was not covered), and the
 * streams finish the units it has. False when the job was no longer discovering.
 */
export async function abandonDiscovery(t: StateTable, jobId: string, reason: string): Promise<boolean> {
  const now = t.nowIso();
  const outcome = await t.transact([
    t.update(
      jobPk(jobId),
      META,
      "SET failure = :reason, updatedAt = :now, discoveredAt = :now REMOVE discoveryOpen",
      { ":reason": reason, ":now": now, ":running": "running", ":true": true },
      "#status = :running AND discoveryOpen = :true",
      STATUS,
    ),
    t.update(jobPk(jobId), DISCOVERY, "SET done = :true, updatedAt = :now", { ":true": true, ":now": now }),
  ]);
  return outcome.ok;
}
