/**
 * Binds the state ports of the backup pipeline (coordinator, stream runner, unit backup, sweep,
 * finalization; see lib/backup) to the {@link StateStore}. Translation only: every rule lives in
 * the store.
 */
import type {
  ClaimedUnit,
  CoordinatorStatePort,
  FinalizeStatePort,
  JobTrigger,
  StreamStatePort,
  SweepStatePort,
  UnitProgress,
  UnitStatePort,
} from "../backup/ports.js";
import type { ReportHead, ReportInput, UnitRecordView } from "../backup/report.js";
import type { StreamTask } from "../queue/stream-task.js";
import { isDiscovering } from "./discovery.js";
import { StateRecordMissingError } from "./errors.js";

/** Whether a folder read (a `FolderRead` letter; absent: `m`) goes through item delta. */
function readsItems(read: string | undefined): boolean {
  return read === "p" || read === "a";
}

import { jobIdForTick } from "./job-id.js";
import type { Counters, JobRecord, JobStatus, UnitRecord } from "./records.js";
import type { StateStore } from "./state-store.js";
import { type KnownUnit, knownFrom } from "./units.js";

export interface BackupStatePorts {
  coordinator: CoordinatorStatePort;
  stream: StreamStatePort;
  sweep: SweepStatePort;
  finalize: FinalizeStatePort;
}

/**
 * What distinguishes two jobs of the same second: the kind, and for on-demand runs the request.
 * A schedule's event id is left out on purpose: one deployment has one schedule, and a
 * redelivered tick must map to the same job whatever its envelope says.
 */
export function triggerKey(trigger: JobTrigger): string {
  return trigger.kind === "schedule" ? "schedule" : `on-demand:${trigger.requestId ?? ""}`;
}

export function createBackupStatePorts(store: StateStore): BackupStatePorts {
  const coordinator: CoordinatorStatePort = {
    jobIdFor: (trigger) => jobIdForTick(new Date(trigger.time), triggerKey(trigger)),
    async createJob(jobId, trigger) {
      const details: Record<string, string> = { time: trigger.time };
      if (trigger.kind === "schedule" && trigger.eventId) details.eventId = trigger.eventId;
      if (trigger.kind === "on-demand" && trigger.requestId) details.requestId = trigger.requestId;
      const { created, job } = await store.createJob({
        jobId,
        trigger: trigger.kind,
        triggerDetails: details,
      });
      return { created, status: job.status };
    },
    async syncedFolderIds(mailboxId) {
      return new Set((await store.committedSyncStates(mailboxId)).keys());
    },
    async syncedItemFolderIds(mailboxId) {
      return new Set((await store.committedSyncStates(mailboxId, "items")).keys());
    },
    committedFolderTree: (mailboxId) => store.committedFolderTree(mailboxId),
    async committedMailbox(mailboxId) {
      const state = await store.committedMailboxState(mailboxId);
      return {
        syncedFolderIds: new Set(state.messages.keys()),
        syncedItemFolderIds: new Set(state.items.keys()),
        ...(state.tree ? { folderTree: state.tree } : {}),
      };
    },
    olderJobOpen: (jobId) => store.olderJobOpen(jobId),
    nextPiece: async (jobId) => (await store.getDiscovery(jobId))?.piece ?? 0,
    async beginPiece(jobId, piece, lease) {
      const start = await store.beginPiece(jobId, piece, lease);
      if (!start) return undefined;
      const { job } = start;
      const view = {
        createdAt: job.createdAt,
        unitCount: job.unitCount,
        streamCount: job.streamCount,
        workStreamSeconds: job.workStreamSeconds ?? 0,
        workMailboxSeconds: job.workMailboxSeconds ?? 0,
        longestUnitSeconds: job.longestUnitSeconds ?? 0,
      };
      return {
        job: view,
        ...(start.cursor ? { cursor: start.cursor } : {}),
        ...(start.redo ? { redo: true } : {}),
      };
    },
    async writePiece(jobId, piece, lease, base, plan, discovery, job) {
      const units = [...plan.units].sort((a, b) => a.index - b.index);
      return await store.writePieceRecords(
        jobId,
        piece,
        lease,
        {
          base,
          units: units.map((u) => {
            const messages = discovery.syncedFolderIds.get(u.mailboxId);
            const items = discovery.syncedItemFolderIds?.get(u.mailboxId);
            const mailboxIds = discovery.mailboxIds?.get(u.mailboxId);
            return {
              mailboxId: u.mailboxId,
              folderIds: u.folderIds,
              ...(u.folderReads !== undefined ? { folderReads: u.folderReads } : {}),
              ...(mailboxIds ? { mailboxIds } : {}),
              cost: u.cost,
              estimatedSeconds: u.estimatedSeconds,
              concurrency: u.concurrency,
              ...(u.maxConcurrency !== undefined ? { maxConcurrency: u.maxConcurrency } : {}),
              hasSyncStates: u.folderIds.some((f, i) =>
                readsItems(u.folderReads?.[i]) ? (items?.has(f) ?? false) : (messages?.has(f) ?? false),
              ),
            };
          }),
          mailboxes: discovery.mailboxes.map((m) => {
            const folderTreeHash = discovery.folderTreeHashes?.get(m.userId);
            return {
              mailboxId: m.userId,
              address: m.address,
              displayName: m.displayName,
              type: m.purpose,
              ...(folderTreeHash ? { folderTreeHash } : {}),
            };
          }),
          skipped: discovery.skipped,
        },
        job,
      );
    },
    addStreams: (jobId, job, from, to) => store.addStreams({ jobId, createdAt: job.createdAt }, from, to),
    commitPiece: (jobId, piece, lease, commit) => store.commitPiece(jobId, piece, lease, commit),
    tryFinalizeJob: (jobId) => store.tryFinalizeJob(jobId),
    failPlanning: (jobId, reason) => store.failPlanning(jobId, reason),
    abandonDiscovery: (jobId, reason) => store.abandonDiscovery(jobId, reason),
  };

  // What each held unit's task knows of its record (its cost, as claimed), so that the unit's
  // end need not read it first (units.ts `known`).
  const knownUnits = new Map<string, KnownUnit>();
  const unitKey = (task: StreamTask, index: number) =>
    `${task.jobId}\u0000${task.streamId}\u0000${task.seq}\u0000${task.lease ?? ""}\u0000${index}`;
  const claimedBy = (task: StreamTask, unit: UnitRecord): ClaimedUnit => {
    // A controller's tasks end their units or pause them; a few paused ones are forgotten here.
    if (knownUnits.size >= 256) knownUnits.clear();
    knownUnits.set(unitKey(task, unit.index), knownFrom(unit));
    return claimed(unit);
  };

  const unitState = (task: StreamTask, index: number): UnitStatePort => {
    // One query reads every committed sync state of the mailbox, of both kinds; a unit asks for each folder.
    const committed = new Map<string, ReturnType<StateStore["committedMailboxState"]>>();
    const committedOf = async (mailboxId: string, folderId: string, via?: "items") => {
      let states = committed.get(mailboxId);
      if (!states) {
        states = store.committedMailboxState(mailboxId);
        committed.set(mailboxId, states);
      }
      const state = (await states)[via === "items" ? "items" : "messages"].get(folderId);
      return state ? { deltaLink: state.deltaLink, updatedAt: state.updatedAt } : undefined;
    };
    return {
      async syncState(mailboxId, folderId, via) {
        return (await committedOf(mailboxId, folderId, via))?.deltaLink;
      },
      committedSyncState: committedOf,
      async checkpoint(checkpoint, delta, staged = []) {
        await store.checkpoint(task, index, checkpoint, counters(delta), staged);
      },
    };
  };

  const stream: StreamStatePort = {
    beginTask: (task) => store.beginTask(task),
    async beginTaskWithUnits(task, onRead) {
      const units = await store.beginTaskWithUnits(
        task,
        onRead && ((read) => onRead(read.map((unit) => claimedBy(task, unit)))),
      );
      return units?.map((unit) => claimedBy(task, unit));
    },
    heldUnits: async (task) => (await store.heldUnits(task)).map((unit) => claimedBy(task, unit)),
    async claimUnit(task) {
      const unit = await store.claimUnit(task);
      return unit === null || unit === "later" ? unit : claimedBy(task, unit);
    },
    unitState,
    async completeUnit(task, index, result) {
      const key = unitKey(task, index);
      const known = knownUnits.get(key);
      knownUnits.delete(key);
      await store.completeUnit(task, index, {
        ...(known ? { known } : {}),
        status: result.status,
        errors: result.errors,
        incompleteFolders: result.incompleteFolders,
        endedAt: result.endedAt,
        ...(result.last
          ? {
              last: {
                checkpoint: result.last.checkpoint,
                counters: counters(result.last.delta),
                staged: result.last.staged,
              },
            }
          : {}),
      });
    },
    heartbeat: (task) => store.heartbeat(task),
    handOn: (task) => store.handOn(task),
    finishStream: (task) => store.finishStream(task),
    tryFinalizeJob: (jobId) => store.tryFinalizeJob(jobId),
  };

  const sweep: SweepStatePort = {
    async openJobs() {
      return (await store.openJobs()).map((j) => ({
        jobId: j.jobId,
        status: j.status,
        updatedAt: j.updatedAt,
      }));
    },
    async streams(jobId) {
      return (await store.listStreams(jobId)).map((s) => ({
        streamId: s.streamId,
        seq: s.seq,
        status: s.status,
        heartbeatAt: s.heartbeatAt,
      }));
    },
    async discovery(jobId) {
      const [job, discovery] = await Promise.all([store.getJob(jobId), store.getDiscovery(jobId)]);
      if (!job) return undefined;
      return {
        discovering: isDiscovering(job),
        piece: discovery?.piece ?? 0,
        // A job an older version left in planning has no discovery record: its last change.
        updatedAt: discovery?.updatedAt ?? job.updatedAt,
        resends: discovery?.resends ?? 0,
        status: job.status,
      };
    },
    async markContinuationResent(jobId, piece, resends) {
      const job = await store.getJob(jobId);
      return job ? store.markContinuationResent(job, piece, resends) : false;
    },
    abandonDiscovery: (jobId, reason) => store.abandonDiscovery(jobId, reason),
    handOn: (task) => store.handOn(task),
    tryFinalizeJob: (jobId) => store.tryFinalizeJob(jobId),
    failPlanning: (jobId, reason) => store.failPlanning(jobId, reason),
  };

  // The job's unit count, read once per process and job (fixed once the job finalizes).
  const unitCounts = new Map<string, number>();
  const unitCountOf = async (jobId: string) => {
    const known = unitCounts.get(jobId);
    if (known !== undefined) return known;
    const count = (await requireJob(jobId)).unitCount;
    unitCounts.set(jobId, count);
    return count;
  };
  const requireJob = async (jobId: string) => {
    const job = await store.getJob(jobId);
    if (!job)
      throw new StateRecordMissingError(`job ${jobId}: expected its META record for the report, found none`);
    return job;
  };
  const finalize: FinalizeStatePort = {
    async reportHead(jobId) {
      const job = await requireJob(jobId);
      unitCounts.set(jobId, job.unitCount);
      return { ...reportHeadOf(job), inPieces: job.mailboxUnitsListed === true };
    },
    async unitPage(jobId, after, limit) {
      const { records, last } = await store.unitsPage(jobId, after, limit, await unitCountOf(jobId));
      return { records: records.map(unitView), ...(last !== undefined ? { last } : {}) };
    },
    async mailboxPage(jobId, after, limit) {
      const page = await store.mailboxesPage(jobId, after, limit, await unitCountOf(jobId));
      return {
        records: page.records.map(({ mailbox, units }) => ({
          mailboxId: mailbox.mailboxId,
          address: mailbox.address,
          units: units.map(unitView),
        })),
        ...(page.last !== undefined ? { last: page.last } : {}),
      };
    },
    async skippedPage(jobId, after, limit) {
      return store.skippedPage(jobId, after, limit);
    },
    async reportInput(jobId): Promise<Omit<ReportInput, "endedAt">> {
      const job = await requireJob(jobId);
      const [units, mailboxes, skipped] = await Promise.all([
        store.listUnits(jobId),
        store.jobMailboxes(jobId),
        store.skippedMailboxes(jobId),
      ]);
      return {
        ...reportHeadOf(job),
        mailboxes: mailboxes.map((m) => ({ mailboxId: m.mailboxId, address: m.address })),
        skippedMailboxes: skipped,
        units: units.map(unitView),
      };
    },
    async finalizeProgress(jobId) {
      return (await store.getJob(jobId))?.finalizeProgress;
    },
    saveFinalizeProgress: (jobId, progress) => store.saveFinalizeProgress(jobId, progress),
    async promoteSyncStatesPage(jobId, after, limit) {
      const { last, promoted, superseded } = await store.promoteSyncStatesPage(jobId, after, limit);
      return { records: promoted + superseded, ...(last !== undefined ? { last } : {}) };
    },
    mailboxEnds: (jobId) => store.mailboxEnds(jobId),
    mailboxEndsPage: async (jobId, after, limit) =>
      store.mailboxEndsPage(jobId, after, limit, await unitCountOf(jobId)),
    // The job's folder trees become the base of the next jobs' "unchanged tree" check, and a
    // mailbox counts as backed up by this job when every one of its units completed every folder.
    endMailboxes: (jobId, ends) => store.endMailboxes(jobId, ends),
    async markJobFinished(jobId, status, endedAt) {
      await store.setJobStatus(jobId, status as JobStatus, { endedAt });
    },
  };

  return { coordinator, stream, sweep, finalize };
}

/** The six counters alone, from a unit's progress or a record that carries them (same fields). */
function counters(delta: UnitProgress | Counters): Counters {
  return {
    items: delta.items,
    bytes: delta.bytes,
    removed: delta.removed,
    deduplicated: delta.deduplicated,
    requests: delta.requests,
    throttled: delta.throttled,
  };
}

function claimed(unit: UnitRecord): ClaimedUnit {
  return {
    work: {
      jobId: unit.jobId,
      index: unit.index,
      mailboxId: unit.mailboxId,
      folderIds: unit.folderIds,
      ...(unit.folderReads !== undefined ? { folderReads: unit.folderReads } : {}),
      ...(unit.mailboxIds !== undefined ? { mailboxIds: unit.mailboxIds } : {}),
      concurrency: unit.concurrency,
      ...(unit.maxConcurrency !== undefined ? { maxConcurrency: unit.maxConcurrency } : {}),
      estimatedSeconds: unit.estimatedSeconds,
      ...(unit.hasSyncStates === false ? { hasSyncStates: false } : {}),
    },
    checkpoint: unit.checkpoint ? { ...unit.checkpoint } : { folderIndex: 0, page: 0 },
  };
}

/** The job's fields at the head of its report, as both report paths read them from its META. */
function reportHeadOf(job: JobRecord): ReportHead {
  return {
    jobId: job.jobId,
    trigger: job.trigger,
    createdAt: job.createdAt,
    ...(job.plannedAt ? { plannedAt: job.plannedAt } : {}),
    ...(job.discoveredAt ? { discoveredAt: job.discoveredAt } : {}),
    ...(job.failure ? { failure: job.failure } : {}),
    streams: job.streamCount,
    predictedMakespanSeconds: job.predictedMakespanSeconds,
    lowerBoundSeconds: job.lowerBoundSeconds,
  };
}

function unitView(u: UnitRecord): UnitRecordView {
  return {
    index: u.index,
    mailboxId: u.mailboxId,
    folderIds: u.folderIds,
    cost: u.cost,
    estimatedSeconds: u.estimatedSeconds,
    concurrency: u.concurrency,
    status: u.status,
    ...(u.claimedBy !== undefined ? { streamId: u.claimedBy } : {}),
    ...(u.startedAt ? { startedAt: u.startedAt } : {}),
    ...(u.endedAt ? { endedAt: u.endedAt } : {}),
    progress: counters(u),
    requests: u.requests,
    throttled: u.throttled,
    errors: u.errors,
    incompleteFolders: u.incompleteFolders,
  };
}
