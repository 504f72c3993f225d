import { randomUUID } from "node:crypto";
import PQueue from "p-queue";
import { FatalError, ruleFor } from "../errors.js";
import type { StreamQueue } from "../queue/stream-queue.js";
import type { DiscoveryTask } from "../queue/stream-task.js";
import type {
  CoordinatorStatePort,
  DiscoveredMailbox,
  DiscoveryJobView,
  FolderInfo,
  FolderListing,
  JobPlan,
  JobTrigger,
  MailboxDirectory,
  MailboxForPlanning,
  SkippedMailbox,
} from "./ports.js";
import { dealStartUnits } from "./start-units.js";

export interface CoordinatorDeps {
  directory: MailboxDirectory;
  state: CoordinatorStatePort;
  plan(mailboxes: MailboxForPlanning[]): JobPlan;
  queue: StreamQueue;
  /**
   * Records each mailbox's folder tree for this job (paths and renames in the archive), unless
   * its hash is `unlessTreeHash`: the tree the archive already holds. Returns the tree's hash and
   * whether it was written (void: always written, no hash known).
   */
  recordFolders(
    jobId: string,
    mailbox: DiscoveredMailbox,
    folders: FolderInfo[],
    opts?: { unlessTreeHash?: string },
  ): Promise<{ treeHash: string; written: boolean } | undefined>;
  /** Writes the report of a job that has nothing to do (no units), or whose streams all ended. */
  finalizeJob(jobId: string): Promise<void>;
  /** Milliseconds left before the invocation must have returned. Default: no limit. */
  remainingMs?: () => number;
  /**
   * Stop starting discovery pieces when fewer milliseconds than this plus the longest piece so
   * far are left (the rest is handed on as a continuation). Default 60 000.
   */
  deadlineMarginMs?: number;
  /** Users per discovery piece (one directory page). Range 1–999. Default 999. */
  pieceMailboxes?: number;
  /** Most streams a job runs (the plan's maximum). Range 1–1000. Default 16. */
  maxStreams?: number;
  /**
   * Mailboxes whose folders are listed at once (one request per mailbox at a time, so Graph's
   * per-mailbox limits are not touched); discovery is on every job's critical path. Range 1–64.
   * Default 32.
   */
  listConcurrency?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** What one run of discovery pieces did (one coordinator or controller invocation). */
export interface DiscoveryRun {
  jobId: string;
  /** Pieces this run committed. */
  pieces: number;
  /** The job's units and streams after the last piece this run committed. */
  units: number;
  streams: number;
  /** Mailboxes planned and users skipped by this run's pieces. */
  mailboxes: number;
  skipped: number;
  predictedMakespanSeconds: number;
  /** The longest piece of this run, milliseconds, and the most users one of them read. */
  longestPieceMs: number;
  largestPiece: number;
}

export type DiscoveryOutcome =
  /** The piece was not the job's next one, or another delivery took it over: nothing done. */
  | { status: "stale"; jobId: string }
  /** The deadline came near: the next piece went out as a continuation. */
  | ({ status: "continued"; next: DiscoveryTask } & DiscoveryRun)
  /** Discovery is complete (an empty job is finalized). */
  | ({ status: "done"; empty: boolean } & DiscoveryRun)
  /** Discovery could not go on (refused credentials): the job records the reason. */
  | { status: "failed"; jobId: string; reason: string };

export type StartJobOutcome =
  | { status: "duplicate"; jobId: string; jobStatus: string }
  /** Discovery began (and went on as continuations, or is done); streams run on the units planned. */
  | ({ status: "started"; discovery: "continued" | "done" } & DiscoveryRun)
  | ({ status: "empty" } & DiscoveryRun)
  /** Planning could not go on (refused credentials, an unreachable tenant): the job is closed `failed`. */
  | { status: "failed"; jobId: string; reason: string };

/** An error as the one line a job's failure records. */
export function failureLine(error: unknown): string {
  if (error instanceof FatalError || (error instanceof Error && ruleFor(error) !== "record"))
    return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Starts a job: creates it, then discovers and plans its mailboxes in pieces (see
 * {@link runDiscovery}) until the invocation's deadline comes near, and hands the rest on. A
 * duplicate trigger finds its job and does nothing; a job left in `planning` (a crash, or an
 * older version) resumes from its last committed piece.
 */
export async function startJob(trigger: JobTrigger, deps: CoordinatorDeps): Promise<StartJobOutcome> {
  const log = deps.log ?? (() => {});
  const jobId = deps.state.jobIdFor(trigger);
  const job = await deps.state.createJob(jobId, trigger);
  if (!job.created && job.status !== "planning") {
    log("job.duplicate", { jobId, status: job.status });
    return { status: "duplicate", jobId, jobStatus: job.status };
  }
  // A job left in planning resumes at its next piece (0 for one an older version left).
  const outcome = await runDiscovery({ kind: "discover", jobId, piece: job.created ? 0 : -1 }, deps);
  switch (outcome.status) {
    case "stale":
      // Another invocation holds the job's discovery (or the sweep closed it meanwhile).
      return { status: "duplicate", jobId, jobStatus: job.status };
    case "failed":
      return outcome;
    case "done":
      if (outcome.empty) {
        const { status: _done, empty: _empty, ...run } = outcome;
        return { status: "empty", ...run };
      }
      return { ...outcome, status: "started", discovery: "done" };
    case "continued": {
      const { next: _next, ...run } = outcome;
      return { ...run, status: "started", discovery: "continued" };
    }
  }
}

/**
 * Runs a job's discovery from `task.piece` on, one piece after another, each bounded (one
 * directory page of at most `pieceMailboxes` users: probed, their folders listed, planned,
 * written and committed with a conditional write), until discovery is done or the invocation's
 * deadline comes near; then the next piece goes out as a continuation on the queue. Every
 * piece's units can be claimed from its commit on: the first streams start on the first piece.
 * `piece` -1: the job's next piece, whatever it is (a coordinator resuming a job).
 */
export async function runDiscovery(task: DiscoveryTask, deps: CoordinatorDeps): Promise<DiscoveryOutcome> {
  const log = deps.log ?? (() => {});
  const { jobId } = task;
  const margin = deps.deadlineMarginMs ?? 60_000;
  const remaining = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const run: DiscoveryRun = {
    jobId,
    pieces: 0,
    units: 0,
    streams: 0,
    mailboxes: 0,
    skipped: 0,
    predictedMakespanSeconds: 0,
    longestPieceMs: 0,
    largestPiece: 0,
  };
  let piece = task.piece;
  for (;;) {
    if (run.pieces > 0 && remaining() < margin + run.longestPieceMs) {
      // Too little time for another piece like the longest so far: hand the next one on. The
      // first piece of an invocation always runs (a piece is bounded and the margin is meant to
      // hold one), so that every invocation moves discovery on.
      const next: DiscoveryTask = { kind: "discover", jobId, piece };
      await deps.queue.sendDiscovery(next);
      log("discovery.continued", { jobId, piece, pieces: run.pieces });
      return { status: "continued", next, ...run };
    }
    const started = Date.now();
    const lease = randomUUID();
    const start = await beginAt(jobId, piece, lease, deps);
    if (!start) {
      log("discovery.piece.stale", { jobId, piece });
      return { status: "stale", jobId };
    }
    piece = start.piece;
    let result: PieceResult;
    try {
      result = await runPiece(jobId, piece, lease, start, deps, log);
    } catch (error) {
      // Waiting would help (a Retry-After longer than this invocation, the state store down):
      // the job stays discovering; the queue's redelivery, the trigger's retry or the sweep
      // runs the piece again.
      if (ruleFor(error) === "redeliver") throw error;
      const reason = failureLine(error);
      log("job.planning.failed", { jobId, piece, error: reason });
      if (await deps.state.failPlanning(jobId, reason)) await deps.finalizeJob(jobId);
      else await deps.state.abandonDiscovery(jobId, reason);
      return { status: "failed", jobId, reason };
    }
    if (result === "lost") {
      log("discovery.piece.superseded", { jobId, piece });
      return { status: "stale", jobId };
    }
    run.pieces++;
    run.units = result.units;
    run.streams = result.streams;
    run.mailboxes += result.mailboxes;
    run.skipped += result.skipped;
    run.predictedMakespanSeconds = result.predictedMakespanSeconds;
    run.longestPieceMs = Math.max(run.longestPieceMs, Date.now() - started);
    run.largestPiece = Math.max(run.largestPiece, result.users);
    piece++;
    if (result.last) {
      log("discovery.done", { jobId, pieces: piece, units: run.units, streams: run.streams });
      if (run.units === 0) {
        await deps.finalizeJob(jobId);
        return { status: "done", empty: true, ...run };
      }
      // Every stream may have ended already (a fatal error stopped them): finalize here then.
      if (await deps.state.tryFinalizeJob(jobId)) await deps.finalizeJob(jobId);
      return { status: "done", empty: false, ...run };
    }
  }
}

/** Takes the lease of `piece` (-1: the job's next piece, as its discovery record says). */
async function beginAt(
  jobId: string,
  piece: number,
  lease: string,
  deps: CoordinatorDeps,
): Promise<{ piece: number; job: DiscoveryJobView; cursor?: string } | undefined> {
  const at = piece >= 0 ? piece : await deps.state.nextPiece(jobId);
  const start = await deps.state.beginPiece(jobId, at, lease);
  return start && { piece: at, ...start };
}

type PieceResult =
  | "lost"
  | {
      last: boolean;
      /** Users the piece's directory page held. */
      users: number;
      mailboxes: number;
      skipped: number;
      /** The job's units and streams after the piece. */
      units: number;
      streams: number;
      predictedMakespanSeconds: number;
    };

/**
 * One piece: a directory page probed, its mailboxes' folders listed and planned, the units
 * written after the job's current ones, then the commit; the streams the job gains get their
 * first tasks. "lost" when another delivery of the piece took it over (it does the piece).
 */
async function runPiece(
  jobId: string,
  piece: number,
  lease: string,
  start: { job: DiscoveryJobView; cursor?: string; redo?: boolean },
  deps: CoordinatorDeps,
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<PieceResult> {
  const { job } = start;
  const page = await deps.directory.discoverPage(start.cursor, deps.pieceMailboxes ?? 999);
  const users = page.mailboxes.length + page.skipped.length;
  const { planning, skipped } = await listPiece(
    jobId,
    page.mailboxes,
    page.skipped,
    deps,
    start.redo === true,
  );
  const plan = deps.plan(planning);
  const written = await deps.state.writePiece(
    jobId,
    piece,
    lease,
    job.unitCount,
    plan,
    {
      mailboxes: planning.map((p) => p.mailbox),
      skipped,
      syncedFolderIds: new Map(planning.map((p) => [p.mailbox.userId, p.syncedFolderIds])),
      syncedItemFolderIds: new Map(
        planning.map((p) => [p.mailbox.userId, p.syncedItemFolderIds ?? new Set<string>()]),
      ),
      mailboxIds: new Map(
        planning.flatMap((p) => (p.mailboxIds ? [[p.mailbox.userId, p.mailboxIds] as const] : [])),
      ),
      folderTreeHashes: new Map(
        planning.flatMap((p) => (p.folderTreeHash ? [[p.mailbox.userId, p.folderTreeHash] as const] : [])),
      ),
    },
    job,
  );
  if (!written) return "lost";

  const last = page.next === undefined;
  const units = job.unitCount + plan.units.length;
  const sizing = sizeJob(job, plan, units, last, deps.maxStreams ?? 16);
  // The job's first streams each get the units they start on in their task (as their first
  // claims would have taken them, dealt by the plan's rule): nothing can have claimed before them.
  const startUnits =
    job.streamCount === 0 && job.unitCount === 0
      ? dealStartUnits(
          plan.units.map((u) => u.concurrency),
          sizing.streams,
          plan.streamSlots ?? 1,
        )
      : [];
  const firstUnits = startUnits.reduce((sum, units) => sum + units.length, 0);
  if (sizing.streams > job.streamCount)
    await deps.state.addStreams(jobId, job, job.streamCount, sizing.streams);
  const committed = await deps.state.commitPiece(jobId, piece, lease, {
    unitCount: units,
    streamCount: sizing.streams,
    cost: plan.units.reduce((sum, u) => sum + u.cost, 0),
    mailboxes: planning.length,
    ...(page.next !== undefined ? { next: page.next } : {}),
    workStreamSeconds: sizing.workStreamSeconds,
    workMailboxSeconds: sizing.workMailboxSeconds,
    longestUnitSeconds: sizing.longestUnitSeconds,
    lowerBoundSeconds: sizing.lowerBoundSeconds,
    predictedMakespanSeconds: sizing.predictedMakespanSeconds,
    ...(firstUnits > 0 ? { firstUnits } : {}),
  });
  if (!committed) return "lost";
  // New streams start on the units committed so far; a lost send is re-sent by the sweep (the
  // stream's heartbeat is its record's creation).
  if (sizing.streams > job.streamCount) {
    await deps.queue.sendAll(
      Array.from({ length: sizing.streams - job.streamCount }, (_, i) => ({
        jobId,
        streamId: job.streamCount + i,
        seq: 0,
        ...((startUnits[job.streamCount + i]?.length ?? 0) > 0
          ? { units: startUnits[job.streamCount + i]! }
          : {}),
      })),
    );
  }
  log("discovery.piece", {
    jobId,
    piece,
    users,
    mailboxes: planning.length,
    skipped: skipped.length,
    units,
    streams: sizing.streams,
    last,
  });
  return {
    last,
    users,
    mailboxes: planning.length,
    skipped: skipped.length,
    units,
    streams: sizing.streams,
    predictedMakespanSeconds: sizing.predictedMakespanSeconds,
  };
}

/** Lists the folders of a piece's mailboxes; a mailbox whose listing fails is recorded skipped. */
async function listPiece(
  jobId: string,
  mailboxes: DiscoveredMailbox[],
  pageSkipped: SkippedMailbox[],
  deps: CoordinatorDeps,
  redo: boolean,
): Promise<{ planning: MailboxForPlanning[]; skipped: SkippedMailbox[] }> {
  const skipped = [...pageSkipped];
  const planning: MailboxForPlanning[] = [];
  const queue = new PQueue({ concurrency: deps.listConcurrency ?? 32 });
  // An unchanged tree is not written again, unless an older job is still open (it could yet
  // write or finalize another tree, which readers would then take for this job's) or the piece
  // is done again (its first delivery may have written this job's tree of a moment before).
  const treesKnown =
    !redo && deps.state.committedFolderTree && !(await (deps.state.olderJobOpen?.(jobId) ?? true));
  const listed = mailboxes.map((mailbox) =>
    queue.add(async () => {
      const together = deps.state.committedMailbox?.(mailbox.userId);
      const syncedFolderIds = together
        ? together.then((m) => m.syncedFolderIds)
        : deps.state.syncedFolderIds(mailbox.userId);
      const syncedItemFolderIds = together
        ? together.then((m) => m.syncedItemFolderIds)
        : (deps.state.syncedItemFolderIds?.(mailbox.userId) ?? Promise.resolve(undefined));
      const committedTree = !treesKnown
        ? Promise.resolve(undefined)
        : together
          ? together.then((m) => m.folderTree)
          : deps.state.committedFolderTree!(mailbox.userId);
      let listing: FolderListing;
      try {
        listing = await deps.directory.listFolders(mailbox.userId);
      } catch (error) {
        // A mailbox that vanished, closed, or whose listing kept failing for the whole retry
        // budget (or asked for a longer wait) is recorded; the job goes on with the others.
        // Refused credentials stop the job: every mailbox would fail alike.
        syncedFolderIds.catch(() => {});
        syncedItemFolderIds.catch(() => {});
        committedTree.catch(() => {});
        if (ruleFor(error) === "stop") throw error;
        skipped.push({ userId: mailbox.userId, address: mailbox.address, reason: failureLine(error) });
        return;
      }
      // Only a tree of an older job can stand for this one's (a newer job's is not read for it).
      const tree = await committedTree;
      const recorded = await deps.recordFolders(
        jobId,
        mailbox,
        listing.folders,
        tree && tree.jobId < jobId ? { unlessTreeHash: tree.treeHash } : {},
      );
      const items = await syncedItemFolderIds;
      planning.push({
        mailbox,
        ...(recorded?.written ? { folderTreeHash: recorded.treeHash } : {}),
        folders: listing.folders,
        ...(listing.mailboxIds ? { mailboxIds: listing.mailboxIds } : {}),
        syncedFolderIds: await syncedFolderIds,
        ...(items ? { syncedItemFolderIds: items } : {}),
      });
    }),
  );
  // Every listing settles before a failure ends the piece: none is left running unobserved.
  const failed = (await Promise.allSettled(listed)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  // Listing runs concurrently: restore directory order so the same tenant plans the same way
  // (and a piece done again writes the same units at the same indexes).
  const order = new Map(mailboxes.map((m, i) => [m.userId, i]));
  planning.sort((a, b) => order.get(a.mailbox.userId)! - order.get(b.mailbox.userId)!);
  return { planning, skipped };
}

/**
 * The job's streams and bound after a piece. A tenant discovered in one piece keeps the
 * planner's choice (the fewest streams within tolerance of the best makespan: streams that
 * would only idle are not started). A tenant of several pieces has more mailboxes than a
 * directory page, so its backup is long beside one mailbox and the planner would choose the
 * most streams anyway: it gets one stream per unit known so far, up to the maximum, from its
 * first piece on, so the streams start early and never wait for the whole tenant to be known.
 * The lower bound adds up the pieces' terms; the prediction adds the longest unit to the
 * streams' share (list scheduling ends at most one unit after it).
 */
function sizeJob(
  job: DiscoveryJobView,
  plan: JobPlan,
  units: number,
  last: boolean,
  maxStreams: number,
): {
  streams: number;
  workStreamSeconds: number;
  workMailboxSeconds: number;
  longestUnitSeconds: number;
  lowerBoundSeconds: number;
  predictedMakespanSeconds: number;
} {
  const work = plan.work ?? {
    streamSeconds: plan.units.reduce((sum, u) => sum + u.estimatedSeconds, 0),
    mailboxSeconds: plan.units.reduce((max, u) => Math.max(max, u.estimatedSeconds), 0),
  };
  const workStreamSeconds = job.workStreamSeconds + work.streamSeconds;
  const workMailboxSeconds = Math.max(job.workMailboxSeconds, work.mailboxSeconds);
  const longestUnitSeconds = plan.units.reduce(
    (max, u) => Math.max(max, u.estimatedSeconds),
    job.longestUnitSeconds,
  );
  const wholeTenant = last && job.unitCount === 0 && job.streamCount === 0;
  if (wholeTenant) {
    return {
      streams: plan.streams,
      workStreamSeconds,
      workMailboxSeconds,
      longestUnitSeconds,
      lowerBoundSeconds: plan.lowerBoundSeconds,
      predictedMakespanSeconds: plan.predictedMakespanSeconds,
    };
  }
  const streams = Math.max(job.streamCount, Math.min(maxStreams, units));
  const lowerBoundSeconds = streams === 0 ? 0 : Math.max(workMailboxSeconds, workStreamSeconds / streams);
  return {
    streams,
    workStreamSeconds,
    workMailboxSeconds,
    longestUnitSeconds,
    lowerBoundSeconds,
    predictedMakespanSeconds:
      streams === 0 ? 0 : Math.max(lowerBoundSeconds, workStreamSeconds / streams + longestUnitSeconds),
  };
}
