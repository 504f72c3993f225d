import type { FinalizeProgress, MailboxEnd } from "../backup/ports.js";
import type { StreamTask } from "../queue/stream-task.js";
import type { RetryDeadline } from "../retry.js";
import * as claims from "./claims.js";
import * as discovery from "./discovery.js";
import * as finalization from "./finalization.js";
import type { CommittedFolderTree } from "./folder-trees.js";
import * as folderTrees from "./folder-trees.js";
import * as indexLease from "./index-lease.js";
import * as jobs from "./jobs.js";
import * as mailboxes from "./mailboxes.js";
import * as reads from "./reads.js";
import type {
  CommittedSyncState,
  Counters,
  DiscoveryRecord,
  JobRecord,
  JobStatus,
  JobSummary,
  MailboxInfo,
  MailboxRecord,
  SkippedMailbox,
  StagedSyncState,
  StreamRecord,
  UnitCheckpoint,
  UnitRecord,
} from "./records.js";
import * as reportPages from "./report-pages.js";
import * as streams from "./streams.js";
import * as syncStates from "./sync-states.js";
import { StateTable, type StateTableOptions } from "./table.js";
import * as units from "./units.js";

export type StateStoreOptions = StateTableOptions;

/**
 * mailstream's job, stream, unit and sync state on one DynamoDB table (docs/design.md "State", docs/state.md).
 * Every write is conditional or keyed so that repeating it is harmless; every method that acts
 * for a stream takes its task `{jobId, streamId, seq}`, so a stale task cannot change anything.
 *
 * Lifecycle: {@link createJob} (planning, discovery open) → discovery pieces ({@link beginPiece},
 * {@link writePieceRecords}, {@link addStreams}, {@link commitPiece}; streams run meanwhile) →
 * streams {@link beginTask}, {@link claimUnit}/{@link heldUnits}, {@link checkpoint} per
 * page, {@link completeUnit}, {@link handOn} to continue, {@link finishStream} → one
 * {@link tryFinalizeJob} wins → {@link promoteSyncStatesPage} pages, {@link endMailboxes} → {@link setJobStatus} complete/partial/failed
 * (lib/backup/finalize.ts, in steps with a checkpoint: {@link saveFinalizeProgress}).
 */
export class StateStore {
  readonly table: StateTable;
  /**
   * Jobs' stream counts as this store's claims read them once discovery was done (final then):
   * a stream's finish uses it to learn whether others are still to finish ({@link finishStream}).
   * Shared with the store's views ({@link withRetryDeadline}): one per process.
   */
  private finalStreamCounts = new Map<string, number>();

  constructor(private readonly options: StateStoreOptions) {
    this.table = new StateTable(options);
  }

  /**
   * The same store (client, table, what its claims learnt) whose retries wait no longer than
   * `deadline`: a stream task's, so that a state request retried near the invocation's end fails
   * the task (delivered again) instead of holding the invocation past it.
   */
  withRetryDeadline(deadline: RetryDeadline): StateStore {
    const view = new StateStore({ ...this.options, retryDeadline: deadline });
    view.finalStreamCounts = this.finalStreamCounts;
    return view;
  }

  // --- the search index's build lease (index-lease.ts) ---

  /** Takes the lease for `owner` until `untilMs` (epoch ms) unless someone holds it; false then. */
  acquireIndexLease(owner: string, untilMs: number): Promise<boolean> {
    return indexLease.acquireIndexLease(this.table, owner, untilMs);
  }

  /** Gives the lease back if `owner` still holds it. */
  releaseIndexLease(owner: string): Promise<void> {
    return indexLease.releaseIndexLease(this.table, owner);
  }

  // --- jobs ---

  /** Conditional create (status `planning`); a tick delivered twice returns the first job with `created: false`. */
  createJob(job: jobs.NewJob): Promise<{ created: boolean; job: JobRecord }> {
    return jobs.createJob(this.table, job);
  }

  getJob(jobId: string): Promise<JobRecord | undefined> {
    return jobs.getJob(this.table, jobId);
  }

  /** With `expected`, only from that status (false otherwise). */
  setJobStatus(
    jobId: string,
    status: JobStatus,
    options?: { expected?: JobStatus | JobStatus[]; endedAt?: string },
  ): Promise<boolean> {
    return jobs.setJobStatus(this.table, jobId, status, options);
  }

  /** planning → finalizing with the failure's one line (see jobs.failPlanning); false once the job left planning. */
  failPlanning(jobId: string, reason: string): Promise<boolean> {
    return jobs.failPlanning(this.table, jobId, reason);
  }

  /** running → finalizing once all streams finished: true for exactly one caller. */
  tryFinalizeJob(jobId: string): Promise<boolean> {
    return jobs.tryFinalizeJob(this.table, jobId);
  }

  /** Jobs newest first, at most `limit` (default all). */
  listJobs(limit?: number): Promise<JobSummary[]> {
    return jobs.listJobs(this.table, limit);
  }

  /** Jobs in planning, running or finalizing, oldest first. */
  openJobs(): Promise<JobSummary[]> {
    return jobs.openJobs(this.table);
  }

  jobMailboxes(jobId: string): Promise<MailboxInfo[]> {
    return jobs.jobMailboxes(this.table, jobId);
  }

  skippedMailboxes(jobId: string): Promise<SkippedMailbox[]> {
    return jobs.skippedMailboxes(this.table, jobId);
  }

  // --- discovery in pieces (lib/state/discovery.ts) ---

  getDiscovery(jobId: string): Promise<DiscoveryRecord | undefined> {
    return discovery.getDiscovery(this.table, jobId);
  }

  /** Takes the lease of the job's next discovery piece; undefined when `piece` is not it. */
  beginPiece(jobId: string, piece: number, lease: string): Promise<discovery.PieceStart | undefined> {
    return discovery.beginPiece(this.table, jobId, piece, lease);
  }

  /** A piece's units and mailbox records, guarded by its lease; false once the lease is lost. */
  writePieceRecords(
    jobId: string,
    piece: number,
    lease: string,
    records: discovery.PieceRecords,
    job: Pick<JobRecord, "createdAt">,
  ): Promise<boolean> {
    return discovery.writePieceRecords(this.table, jobId, piece, lease, records, job);
  }

  addStreams(job: Pick<JobRecord, "jobId" | "createdAt">, from: number, to: number): Promise<void> {
    return discovery.addStreams(this.table, job, from, to);
  }

  /** Moves discovery to the next piece and adds the piece's units and streams to the job; false once the lease is lost. */
  commitPiece(jobId: string, piece: number, lease: string, commit: discovery.PieceCommit): Promise<boolean> {
    return discovery.commitPiece(this.table, jobId, piece, lease, commit);
  }

  markContinuationResent(
    job: Pick<JobRecord, "jobId" | "createdAt">,
    piece: number,
    resends: number,
  ): Promise<boolean> {
    return discovery.markContinuationResent(this.table, job, piece, resends);
  }

  abandonDiscovery(jobId: string, reason: string): Promise<boolean> {
    return discovery.abandonDiscovery(this.table, jobId, reason);
  }

  // --- streams ---

  async listStreams(jobId: string): Promise<StreamRecord[]> {
    const job = await jobs.getJob(this.table, jobId);
    return reads.listStreams(this.table, jobId, job?.streamCount);
  }

  getStream(jobId: string, streamId: number): Promise<StreamRecord | undefined> {
    return reads.getStream(this.table, jobId, streamId);
  }

  /** "stale": drop the task; "current": the stream is marked running. */
  beginTask(task: StreamTask): Promise<"current" | "stale"> {
    return streams.beginTask(this.table, task);
  }

  isStaleTask(task: StreamTask): Promise<boolean> {
    return streams.isStaleTask(this.table, task);
  }

  heartbeat(task: StreamTask): Promise<void> {
    return streams.heartbeat(this.table, task);
  }

  /** seq → seq + 1, conditional on `task.seq`; returns the continuation task. */
  handOn(task: StreamTask): Promise<StreamTask> {
    return streams.handOn(this.table, task);
  }

  /**
   * Marks the stream finished; `othersLeft` when another stream of the job was still to finish
   * (known when this store's claims read the job's stream count once its discovery was done).
   */
  finishStream(task: StreamTask): Promise<{ othersLeft: boolean }> {
    return streams.finishStream(this.table, task, this.finalStreamCounts.get(task.jobId));
  }

  /** Unfinished streams without a sign of life for `olderThanMs` milliseconds. */
  staleStreams(jobId: string, olderThanMs: number): Promise<StreamRecord[]> {
    return streams.staleStreams(this.table, jobId, olderThanMs);
  }

  /** Releases a dead stream's unit as orphaned and moves the stream to the next seq; returns the task that revives it. */
  markStreamOrphaned(task: StreamTask): Promise<{ next: StreamTask; orphanedUnits: number[] }> {
    return streams.markStreamOrphaned(this.table, task);
  }

  // --- units ---

  async listUnits(jobId: string): Promise<UnitRecord[]> {
    const job = await jobs.getJob(this.table, jobId);
    return reads.listUnits(this.table, jobId, job?.unitCount);
  }

  getUnit(jobId: string, index: number): Promise<UnitRecord | undefined> {
    return reads.getUnit(this.table, jobId, index);
  }

  /**
   * Orphaned units first, then the next pending one (largest first); null when none is left,
   * "later" when none is pending now but discovery is still adding units.
   */
  /** Begins a task carrying its start units and claims them in one transaction; undefined: begin as usual. */
  beginTaskWithUnits(
    task: StreamTask & { units: number[] },
    onRead?: (units: UnitRecord[]) => void,
  ): Promise<UnitRecord[] | undefined> {
    return claims.beginTaskWithUnits(this.table, task, onRead);
  }

  claimUnit(task: StreamTask): Promise<UnitRecord | null | "later"> {
    return claims.claimUnit(this.table, task, (job) => {
      // Discovery done: the job's stream count is final (finishStream's hint).
      if (job.discoveryOpen === true) return;
      if (this.finalStreamCounts.size >= 256) this.finalStreamCounts.clear();
      this.finalStreamCounts.set(task.jobId, job.streamCount);
    });
  }

  /** The units the stream already holds (to resume after a continuation), in index order. */
  heldUnits(task: StreamTask): Promise<UnitRecord[]> {
    return claims.heldUnits(this.table, task);
  }

  checkpoint(
    task: StreamTask,
    index: number,
    checkpoint: UnitCheckpoint,
    counters?: Partial<Counters>,
    staged?: StagedSyncState[],
  ): Promise<void> {
    return units.checkpoint(this.table, task, index, checkpoint, counters, staged);
  }

  completeUnit(task: StreamTask, index: number, end: units.UnitEnd): Promise<void> {
    return units.completeUnit(this.table, task, index, end);
  }

  failUnit(task: StreamTask, index: number, error: { name: string; message: string }): Promise<void> {
    return units.failUnit(this.table, task, index, error);
  }

  // --- sync state ---

  stagePendingSyncState(jobId: string, state: StagedSyncState): Promise<void> {
    return syncStates.stagePendingSyncState(this.table, jobId, state);
  }

  stagedSyncStates(jobId: string): Promise<StagedSyncState[]> {
    return syncStates.stagedSyncStates(this.table, jobId);
  }

  /** Message delta links by folder id, or with `via: "items"` item delta links. */
  committedSyncStates(mailboxId: string, via?: "items"): Promise<Map<string, CommittedSyncState>> {
    return syncStates.committedSyncStates(this.table, mailboxId, via);
  }

  committedSyncState(
    mailboxId: string,
    folderId: string,
    via?: "items",
  ): Promise<CommittedSyncState | undefined> {
    return syncStates.committedSyncState(this.table, mailboxId, folderId, via);
  }

  promoteSyncStates(jobId: string): Promise<{ promoted: number; superseded: number }> {
    return syncStates.promoteSyncStates(this.table, jobId);
  }

  /** One page of {@link promoteSyncStates}: the staged states after the sort key `after`. */
  promoteSyncStatesPage(
    jobId: string,
    after: string | undefined,
    limit = syncStates.PROMOTE_PAGE,
  ): Promise<{ promoted: number; superseded: number; records: number; last?: string }> {
    return syncStates.promoteSyncStatesPage(this.table, jobId, after, limit);
  }

  // --- finalization in pieces (finalization.ts, report-pages.ts) ---

  /** The job's units after the sort key `after`, at most `limit`, in index order. */
  unitsPage(jobId: string, after: string | undefined, limit: number, unitCount: number) {
    return reportPages.unitsPage(this.table, jobId, after, limit, unitCount);
  }

  /** The job's mailbox records after the sort key `after`, at most `limit`, each with its units. */
  mailboxesPage(jobId: string, after: string | undefined, limit: number, unitCount: number) {
    return reportPages.mailboxesPage(this.table, jobId, after, limit, unitCount);
  }

  /** The job's skipped-mailbox records after the sort key `after`, at most `limit`. */
  skippedPage(jobId: string, after: string | undefined, limit: number) {
    return reportPages.skippedPage(this.table, jobId, after, limit);
  }

  saveFinalizeProgress(jobId: string, progress: FinalizeProgress): Promise<boolean> {
    return finalization.saveFinalizeProgress(this.table, jobId, progress);
  }

  /** The job's mailboxes as finalization ends them (their trees, whether complete), in id order. */
  async mailboxEnds(jobId: string): Promise<MailboxEnd[]> {
    const [mailboxRecords, unitRecords] = await Promise.all([
      finalization.jobMailboxTrees(this.table, jobId),
      this.listUnits(jobId),
    ]);
    return finalization.mailboxEnds(mailboxRecords, unitRecords);
  }

  /** One page of {@link mailboxEnds} after the mailbox id `after` (jobs whose mailbox records list their units). */
  mailboxEndsPage(jobId: string, after: string | undefined, limit: number, unitCount: number) {
    return finalization.mailboxEndsPage(this.table, jobId, after, limit, unitCount);
  }

  endMailboxes(jobId: string, ends: readonly MailboxEnd[]): Promise<void> {
    return finalization.endMailboxes(this.table, jobId, ends);
  }

  // --- folder trees (which `folders.jsonl` the archive holds per mailbox) ---

  /** A mailbox's committed sync states of both kinds and its folder tree, in one query. */
  committedMailboxState(mailboxId: string): Promise<syncStates.CommittedMailboxState> {
    return syncStates.committedMailboxState(this.table, mailboxId);
  }

  committedFolderTree(mailboxId: string): Promise<CommittedFolderTree | undefined> {
    return folderTrees.committedFolderTree(this.table, mailboxId);
  }

  olderJobOpen(jobId: string): Promise<boolean> {
    return folderTrees.olderJobOpen(this.table, jobId);
  }

  // --- mailboxes ---

  putMailbox(mailbox: MailboxInfo): Promise<void> {
    return mailboxes.putMailbox(this.table, mailbox);
  }

  getMailbox(mailboxId: string): Promise<MailboxRecord | undefined> {
    return mailboxes.getMailbox(this.table, mailboxId);
  }
}
