import PQueue from "p-queue";
import { FatalError, ruleFor } from "../errors.js";
import type { StreamQueue } from "../queue/stream-queue.js";
import type {
  CoordinatorStatePort,
  DiscoveredMailbox,
  FolderInfo,
  FolderListing,
  JobPlan,
  JobTrigger,
  MailboxDirectory,
  MailboxForPlanning,
  SkippedMailbox,
} from "./ports.js";

export interface CoordinatorDeps {
  directory: MailboxDirectory;
  state: CoordinatorStatePort;
  plan(mailboxes: MailboxForPlanning[]): JobPlan;
  queue: StreamQueue;
  /** Records each mailbox's folder tree for this job (paths and renames in the archive). */
  recordFolders(jobId: string, mailbox: DiscoveredMailbox, folders: FolderInfo[]): Promise<void>;
  /** Writes the report of a job that has nothing to do (no units), as the last stream would. */
  finalizeJob(jobId: string): Promise<void>;
  /**
   * Mailboxes whose folders are listed at once (one request per mailbox at a time, so Graph's
   * per-mailbox limits are not touched); discovery is on every job's critical path. Range 1–64.
   * Default 32.
   */
  listConcurrency?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export type StartJobOutcome =
  | { status: "duplicate"; jobId: string; jobStatus: string }
  | { status: "started"; jobId: string; plan: JobPlan; mailboxes: number; skipped: SkippedMailbox[] }
  | { status: "empty"; jobId: string; skipped: SkippedMailbox[] }
  /** Planning could not go on (refused credentials, an unreachable tenant): the job is closed `failed`. */
  | { status: "failed"; jobId: string; reason: string };

/** An error as the one line a job's failure records. */
export function failureLine(error: unknown): string {
  if (error instanceof FatalError || (error instanceof Error && ruleFor(error) !== "record"))
    return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Plans a job and sends its stream tasks: discover the mailboxes, list their folders, plan units
 * and streams, write the records, then one task per stream. A duplicate trigger finds its job
 * and does nothing; a job left in `planning` by a crash is planned again (every write is
 * idempotent).
 */
export async function startJob(trigger: JobTrigger, deps: CoordinatorDeps): Promise<StartJobOutcome> {
  const log = deps.log ?? (() => {});
  const jobId = deps.state.jobIdFor(trigger);
  const job = await deps.state.createJob(jobId, trigger);
  if (!job.created && job.status !== "planning") {
    log("job.duplicate", { jobId, status: job.status });
    return { status: "duplicate", jobId, jobStatus: job.status };
  }

  try {
    return await planJob(jobId, deps, log);
  } catch (error) {
    // Waiting would help (a Retry-After longer than this invocation, the state store down): the
    // job stays `planning`; the trigger's retry plans it again, or the sweep closes it.
    if (ruleFor(error) === "redeliver") throw error;
    const reason = failureLine(error);
    log("job.planning.failed", { jobId, error: reason });
    if (await deps.state.failPlanning(jobId, reason)) await deps.finalizeJob(jobId);
    return { status: "failed", jobId, reason };
  }
}

/** Discovery, listing and planning of a job in `planning`, then its records and stream tasks. */
async function planJob(
  jobId: string,
  deps: CoordinatorDeps,
  log: (event: string, fields: Record<string, unknown>) => void,
): Promise<StartJobOutcome> {
  const discovery = await deps.directory.discover();
  log("job.discovered", { jobId, mailboxes: discovery.mailboxes.length, skipped: discovery.skipped.length });
  const skipped = [...discovery.skipped];
  const planning: MailboxForPlanning[] = [];
  const listing = new PQueue({ concurrency: deps.listConcurrency ?? 32 });
  const listed = discovery.mailboxes.map((mailbox) =>
    listing.add(async () => {
      const syncedFolderIds = deps.state.syncedFolderIds(mailbox.userId);
      const syncedItemFolderIds =
        deps.state.syncedItemFolderIds?.(mailbox.userId) ?? Promise.resolve(undefined);
      let listing: FolderListing;
      try {
        listing = await deps.directory.listFolders(mailbox.userId);
      } catch (error) {
        // A mailbox that vanished, closed, or whose listing kept failing for the whole retry
        // budget (or asked for a longer wait) is recorded; the job goes on with the others.
        // Refused credentials stop the job: every mailbox would fail alike.
        syncedFolderIds.catch(() => {});
        syncedItemFolderIds.catch(() => {});
        if (ruleFor(error) === "stop") throw error;
        skipped.push({
          userId: mailbox.userId,
          address: mailbox.address,
          reason: failureLine(error),
        });
        return;
      }
      await deps.recordFolders(jobId, mailbox, listing.folders);
      const items = await syncedItemFolderIds;
      planning.push({
        mailbox,
        folders: listing.folders,
        ...(listing.mailboxIds ? { mailboxIds: listing.mailboxIds } : {}),
        syncedFolderIds: await syncedFolderIds,
        ...(items ? { syncedItemFolderIds: items } : {}),
      });
    }),
  );
  // Every listing settles before a failure ends the planning: none is left running unobserved.
  const failed = (await Promise.allSettled(listed)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  // Listing runs concurrently: restore discovery order so the same tenant plans the same way.
  const order = new Map(discovery.mailboxes.map((m, i) => [m.userId, i]));
  planning.sort((a, b) => order.get(a.mailbox.userId)! - order.get(b.mailbox.userId)!);

  const plan = deps.plan(planning);
  const written = await deps.state.writePlan(jobId, plan, {
    mailboxes: planning.map((p) => p.mailbox),
    skipped,
    syncedFolderIds: new Map(planning.map((p) => [p.mailbox.userId, p.syncedFolderIds])),
    syncedItemFolderIds: new Map(
      planning.map((p) => [p.mailbox.userId, p.syncedItemFolderIds ?? new Set<string>()]),
    ),
    mailboxIds: new Map(
      planning.flatMap((p) => (p.mailboxIds ? [[p.mailbox.userId, p.mailboxIds] as const] : [])),
    ),
  });
  if (!written) {
    // The sweep closed the job while this invocation planned it (it took too long): leave it.
    log("job.planning.superseded", { jobId });
    return { status: "duplicate", jobId, jobStatus: "closed while planning" };
  }
  if (plan.units.length === 0) {
    await deps.finalizeJob(jobId);
    return { status: "empty", jobId, skipped };
  }
  await deps.state.setJobStatus(jobId, "running");
  await deps.queue.sendAll(
    Array.from({ length: plan.streams }, (_, streamId) => ({ jobId, streamId, seq: 0 })),
  );
  log("job.started", {
    jobId,
    units: plan.units.length,
    streams: plan.streams,
    predictedMakespanSeconds: plan.predictedMakespanSeconds,
    lowerBoundSeconds: plan.lowerBoundSeconds,
  });
  return { status: "started", jobId, plan, mailboxes: planning.length, skipped };
}
