/**
 * The records of the state table as plain objects (keys `pk`/`sk` and TTL stripped). See
 * docs/design.md "State": one job META, N streams and the units under `JOB#<jobId>`; committed sync
 * state and mailbox facts under `MBX#<mailboxId>`.
 */
import type { UnitCheckpoint as BackupUnitCheckpoint, FinalizeProgress } from "../backup/ports.js";

/** Counters kept on units, streams and the job, each updated with atomic ADD. */
export const COUNTER_NAMES = ["items", "bytes", "removed", "deduplicated", "requests", "throttled"] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type Counters = Record<CounterName, number>;

export type JobStatus = "planning" | "running" | "finalizing" | "complete" | "partial" | "failed";
/** Statuses after which a job never changes again. */
export const CLOSED_JOB_STATUSES: readonly JobStatus[] = ["complete", "partial", "failed"];

export interface JobRecord extends Counters {
  jobId: string;
  /** What started the job, e.g. `schedule` or `on-demand`. */
  trigger: string;
  /** Free-form trigger facts (event id, request id, tick time). */
  triggerDetails?: Record<string, string>;
  status: JobStatus;
  createdAt: string;
  /** When the status last changed (ISO time). */
  updatedAt: string;
  endedAt?: string;
  /** When the plan was written and the stream tasks went out (the job became `running`). */
  plannedAt?: string;
  /** Why the job failed before any unit ran (its planning failed or was abandoned): one line. */
  failure?: string;
  /** Zero until the plan is written. */
  unitCount: number;
  streamCount: number;
  totalCost: number;
  predictedMakespanSeconds: number;
  lowerBoundSeconds: number;
  /** Index of the next pending unit to hand out (units below it were claimed). */
  nextUnit: number;
  /** Units released by the sweep from a dead stream, claimable again (ascending). */
  orphanedUnits: number[];
  streamsFinished: number;
  /**
   * Units ended by versions before 2026-12-07 (session 14), by how they ended: since then a
   * unit's end is counted on its stream ({@link StreamRecord.unitsEnded}), so these are a lower
   * bound of the job's ended units (a job in flight across the upgrade has some of each).
   */
  unitsDone: number;
  unitsFailed: number;
  unitsSkipped: number;
  /**
   * Σ cost and Σ recorded errors of the units ended by versions before 2026-12-07 (session 14),
   * added by the transaction that ended each (since then: on the stream, {@link
   * StreamRecord.costEnded}), so that live progress reads the job, its streams and their held
   * units instead of every unit. Absent on jobs created by older code still, which kept no sums.
   */
  costDone?: number;
  errorsRecorded?: number;
  /**
   * True while mailbox discovery may still add units and streams (lib/state/discovery.ts):
   * streams that find no unit wait instead of finishing, and the job is not finalized. Removed
   * when discovery is done; absent on jobs planned by versions that planned in one piece.
   */
  discoveryOpen?: boolean;
  /**
   * The `unitCount` at which a stream sweeping the job's tail listed every unit and found none
   * pending (lib/state/claims.ts): later streams at the tail skip that listing. Absent until then,
   * and on jobs run by older code.
   */
  tailSweptUnits?: number;
  /**
   * The stream sweeping the job's tail for a lost pending unit, and when it began (epoch ms):
   * one stream at a time lists the unit records; a sweep older than a minute is free to take.
   */
  tailSweeper?: number;
  tailSweepAt?: number;
  /** When the last discovery piece was committed (ISO time). */
  discoveredAt?: string;
  /** Mailboxes discovery planned (Σ over its pieces). */
  discoveredMailboxes?: number;
  /**
   * The lower bound's two terms over every piece so far (lib/plan/lower-bound.ts): Σ of the
   * mailboxes' stream seconds and the longest mailbox's minimum seconds.
   */
  workStreamSeconds?: number;
  workMailboxSeconds?: number;
  /** The longest unit's estimated seconds (the predicted makespan's tail term). */
  longestUnitSeconds?: number;
  /**
   * Where the job's finalization stands once its report and manifest are written
   * (lib/state/finalization.ts): what is left to promote, and the report's end time and status.
   * Absent before, and on jobs finalized by older code.
   */
  finalizeProgress?: FinalizeProgress;
  /**
   * True when the job's mailbox records (`MAILBOX#<m>`) list their units' indexes (`units`), as
   * every piece of discovery writes them since 2026-12-07: finalization then reads the report's
   * per-mailbox lists a page at a time. Absent on jobs created by older code (their report is
   * built in one step, as before).
   */
  mailboxUnitsListed?: boolean;
}

/**
 * A job's discovery checkpoint (`JOB#<jobId>`/`DISCOVERY`): the pieces committed and where the
 * next one starts. Apart from the job record, so that a piece's writes (guarded by its lease)
 * never contend with the streams' claims on the job record.
 */
export interface DiscoveryRecord {
  jobId: string;
  /** Pieces committed (the next piece's number). */
  piece: number;
  /** The directory page the next piece reads (a Graph nextLink); absent before the first piece and when done. */
  nextPage?: string;
  /** The invocation running the next piece (a second delivery of the piece takes it over). */
  lease?: string;
  /** Last progress (ISO): a piece begun or committed, or a continuation re-sent. */
  updatedAt: string;
  /** Continuations the sweep re-sent since the last progress. */
  resends?: number;
  done?: boolean;
}

export interface JobSummary {
  jobId: string;
  trigger: string;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
}

export type StreamStatus = "pending" | "running" | "finished";

export interface StreamRecord extends Counters {
  jobId: string;
  streamId: number;
  status: StreamStatus;
  /** The current task's sequence number; older tasks are stale. */
  seq: number;
  /** The lease of the invocation running the current task (see `StreamTask.lease`). */
  lease?: string;
  /** Last sign of life (ISO time): plan, task start, heartbeat, checkpoint. */
  heartbeatAt: string;
  /**
   * Units the stream holds (a stream starts its next small unit while the last one ends, so it
   * may hold more than one). A number set, absent when empty.
   */
  heldUnits?: Set<number>;
  /** The unit the stream held, as versions before {@link heldUnits} recorded it; read, never written. */
  currentUnit?: number;
  unitsDone: number;
  /**
   * The units this stream ended since 2026-12-07 (session 14), their Σ cost and Σ recorded
   * errors, added by the transaction that ends each (lib/state/units.ts `completeUnit`): the
   * job's live progress is the job record's sums (what older versions added there) plus these.
   * Not the stream's `unitsDone`: that counts the ends older versions also added to the job
   * record, so a job in flight across the upgrade would count those twice. Absent until the
   * stream's first such end.
   */
  unitsEnded?: number;
  costEnded?: number;
  errorsEnded?: number;
  /** Times the sweep released this stream's unit as orphaned. */
  orphanings: number;
  finishedAt?: string;
}

export type UnitStatus = "pending" | "running" | "orphaned" | "done" | "mailbox-skipped" | "failed";
/** The ways a unit can end, as {@link UnitStatus} values. */
export type UnitEndStatus = "done" | "mailbox-skipped" | "failed";

/**
 * Where a unit stands, as stored: the checkpoint the unit backup writes (lib/backup/ports.ts),
 * plus `folderId`, the id of the folder at `folderIndex` that older records carry (for reading,
 * the index is authoritative).
 */
export type UnitCheckpoint = BackupUnitCheckpoint & { folderId?: string };

export interface RecordedError {
  /** What the error is about: `message <id>`, `folder <id>`, `mailbox <id>`, `unit <i>`. */
  subject: string;
  name: string;
  message: string;
  /** Reported, but nothing was lost (a folder resynced after a lost sync state). */
  notice?: boolean;
}

/** A unit as the planner hands it to a discovery piece ({@link StateStore.writePieceRecords}). */
export interface PlannedUnit {
  mailboxId: string;
  folderIds: string[];
  /**
   * How each folder is read, one letter per folder (lib/backup/ports.ts `FolderRead`: `m`
   * message delta and MIME, `b` plus export streams, `p`/`a` item delta and export streams of
   * the primary mailbox/the archive). Absent (plans before item kinds): every folder `m`.
   */
  folderReads?: string;
  /** The user's mailboxes in the import/export API (`MBX:…`), for `b`, `p` and `a` folders. */
  mailboxIds?: { primary: string; archive?: string };
  /** Estimated cost (planner units, ≥ 0). */
  cost: number;
  /** Estimated duration in seconds (≥ 0). */
  estimatedSeconds: number;
  /** Concurrent MIME downloads for the unit. Range 1–4. */
  concurrency: number;
  /**
   * Slots the unit may borrow up to while its stream has them free (stream bins,
   * lib/plan/bins.ts): `concurrency`–4. Absent (older plans, and units that borrow none): its
   * `concurrency`.
   */
  maxConcurrency?: number;
  /**
   * Whether a folder of the unit had a committed sync state when the job was planned. False lets
   * the unit skip reading sync states (every folder gets a full pass). Absent (older plans): true.
   */
  hasSyncStates?: boolean;
}

export interface UnitRecord extends PlannedUnit, Counters {
  jobId: string;
  /** Position in the plan: 0 is the largest unit and is handed out first. */
  index: number;
  status: UnitStatus;
  /** Stream holding (or last holding) the unit. */
  claimedBy?: number;
  /** `seq` of the task that claimed it; tasks of the same stream with a lower seq are zombies. */
  claimSeq?: number;
  /** Claims so far (a reclaim after orphaning counts again). */
  attempts: number;
  checkpoint?: UnitCheckpoint;
  startedAt?: string;
  endedAt?: string;
  errors: RecordedError[];
  incompleteFolders: string[];
}

export interface MailboxInfo {
  mailboxId: string;
  address: string;
  displayName: string;
  /** `user`, `shared`, `room`, … (mailboxSettings.userPurpose). */
  type: string;
  /**
   * In a job's mailbox record: the hash of the folder tree the job wrote for the mailbox
   * (`folders.jsonl`), promoted at finalization (folder-trees.ts). Absent: it wrote none.
   */
  folderTreeHash?: string;
  /**
   * In a job's mailbox record: the indexes of the job's units of this mailbox (ascending), so
   * that finalization finds a page of mailboxes' units without listing every unit. Absent in
   * records written by older code (see {@link JobRecord.mailboxUnitsListed}).
   */
  units?: number[];
}

export interface MailboxRecord extends MailboxInfo {
  updatedAt: string;
  /** Newest job that finished with this mailbox fully backed up. */
  lastSuccessfulJob?: string;
}

export interface SkippedMailbox {
  userId: string;
  address?: string;
  reason: string;
}

export interface StagedSyncState {
  mailboxId: string;
  folderId: string;
  deltaLink: string;
  /** `items`: an item delta link (committed under `ITEMS#`). Absent: a message delta link (`FOLDER#`). */
  via?: "items";
  /** Display path of the folder from the root, joined by "/". */
  path?: string;
}

export interface CommittedSyncState extends StagedSyncState {
  /** The job whose completed pass produced {@link deltaLink}. */
  lastJob: string;
  updatedAt: string;
}
