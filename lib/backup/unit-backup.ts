import { finished } from "node:stream/promises";
import PQueue from "p-queue";
import {
  isTransientFailure,
  MailboxUnavailableError,
  RetryableError,
  ruleFor,
  SkipError,
  SyncStateLostError,
} from "../errors.js";
import { type RetryBudget, retry } from "../retry.js";
import type {
  ArchiveSink,
  CatalogEntry,
  DeltaPageView,
  LastCheckpoint,
  MailSource,
  MessageMeta,
  RecordedError,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
  UnitWork,
} from "./ports.js";
import { addProgress, emptyProgress, trafficMeter } from "./progress.js";
import { UnitLedger } from "./unit-ledger.js";

export type { UnitWork } from "./ports.js";
export { emptyProgress } from "./progress.js";

export interface UnitBackupDeps {
  source: MailSource;
  archive: ArchiveSink;
  state: UnitStatePort;
  /** True when the invocation must stop starting new pages (near the Lambda deadline). */
  shouldYield(): boolean;
  /**
   * How long one message is tried again when its download breaks mid-stream or its write to the
   * archive fails transiently (lib/retry.ts; the Graph request itself has its own retries).
   * Default: lib/retry.ts's defaults (5 minutes, 500 ms base, 30 s cap).
   */
  messageRetry?: RetryBudget;
  /**
   * The stream's request slots, shared with another unit the stream runs meanwhile: each Graph
   * request of this unit takes one of them besides one of the unit's own. Default: none.
   */
  streamSlots?: { add<T>(run: () => Promise<T>): Promise<T> };
  /** Called once, when the unit's last folder has started (what is left is its tail). */
  onTail?: () => void;
  /**
   * Least time between two checkpoint writes of the unit (the first counts from its start), so
   * that a unit of many small folders does not write one per folder; its last checkpoint is
   * written as soon as it ends. A crash costs at most this much re-fetching. Milliseconds,
   * 0–60 000. Default 1 000.
   */
  checkpointIntervalMs?: number;
  /**
   * When the unit finishes, leave its last checkpoint unwritten and return it (`last`), so that
   * the unit's completion writes it in the same transaction; not when more than `maxStaged`
   * folder links would ride along. Default: the last checkpoint is written here.
   */
  deferLastCheckpoint?: { maxStaged: number };
}

export type UnitOutcome =
  | {
      status: "done";
      progress: UnitProgress;
      errors: RecordedError[];
      incompleteFolders: string[];
      /** With `deferLastCheckpoint`: what the unit's end must write (nothing when all is written). */
      last?: LastCheckpoint;
    }
  | {
      status: "paused";
      progress: UnitProgress;
      errors: RecordedError[];
      checkpoint: UnitCheckpoint;
      /**
       * Set when the unit paused on a retryable failure that could not be waited out in place
       * (not at the invocation's deadline): the wait the service asked for, ms (0 when it named
       * none). The unit goes on in a later task.
       */
      retryAfterMs?: number;
    }
  | { status: "mailbox-skipped"; progress: UnitProgress; errors: RecordedError[] };

function recorded(subject: string, error: unknown): RecordedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return { subject, name: e.name, message: e.message };
}

/**
 * Why a unit's folders stop before the end: the invocation's deadline, the mailbox gone, a
 * failure to be waited out in a later task (the rule `redeliver` of lib/errors.ts), or any other
 * error (the stream runner applies its rule).
 */
type UnitStop =
  | { kind: "yield" }
  | { kind: "mailbox"; error: unknown }
  | { kind: "later"; error: unknown }
  | { kind: "error"; error: unknown };

/** How a folder's failure stops the unit (or null: record the folder and go on). */
function stopFor(error: unknown): UnitStop | null {
  if (error instanceof MailboxUnavailableError) return { kind: "mailbox", error };
  if (error instanceof SkipError) return null;
  if (ruleFor(error) === "redeliver") return { kind: "later", error };
  return { kind: "error", error };
}

/**
 * Backs up one unit from its checkpoint. Its folders run concurrently, and every Graph request of
 * the unit (delta pages and MIME downloads alike) takes one of the unit's `concurrency` slots, so
 * the mailbox's request slots stay busy between folders and pages instead of idling while one
 * folder waits for its next delta page. For each folder: follow the delta pages from its resume
 * link (or committed sync state, or an initial round); store every new or changed message's MIME,
 * then the page's catalog part, then checkpoint. A folder's new delta link is staged only when
 * every item of the folder was stored, so the sync state never runs ahead of the archive.
 */
export async function backupUnit(
  unit: UnitWork,
  start: UnitCheckpoint,
  deps: UnitBackupDeps,
): Promise<UnitOutcome> {
  const progress = emptyProgress();
  const errors: RecordedError[] = [];
  const ledger = new UnitLedger(unit, start, deps.state, deps.checkpointIntervalMs ?? 1_000);
  const meter = trafficMeter(deps.source, unit.mailboxId);
  const unitSlots = new PQueue({ concurrency: Math.max(1, unit.concurrency) });
  const streamSlots = deps.streamSlots;
  const slots: RequestSlots = {
    add: streamSlots ? (run) => unitSlots.add(() => streamSlots.add(run)) : (run) => unitSlots.add(run),
  };
  const pending = ledger.pendingFolders();
  let stop: UnitStop | undefined;
  const ctx: FolderContext = {
    unit,
    deps,
    slots,
    transfers: new PQueue({ concurrency: 2 * Math.max(1, unit.concurrency) }),
    ledger,
    errors,
    meter,
    progress,
    shouldStop: () => {
      if (!stop && ledger.failure !== undefined)
        stop = stopFor(ledger.failure) ?? { kind: "error", error: ledger.failure };
      if (!stop && deps.shouldYield()) stop = { kind: "yield" };
      return stop !== undefined;
    },
  };

  // Twice as many folders as slots: while some wait for their catalog writes and checkpoints,
  // the others keep the slots busy.
  const lanes = Math.min(pending.length, 2 * Math.max(1, unit.concurrency));
  let next = 0;
  if (pending.length === 0) deps.onTail?.();
  const lane = async () => {
    while (next < pending.length && !ctx.shouldStop()) {
      const i = pending[next++]!;
      if (next === pending.length) deps.onTail?.();
      const folderId = unit.folderIds[i]!;
      try {
        await backupFolder(folderId, ctx);
      } catch (error) {
        const folderStop = stopFor(error);
        if (folderStop) {
          stop ??= folderStop;
        } else {
          // The folder vanished, is closed, or kept failing for the whole retry budget: record
          // it and go on with the next one (it keeps its sync state: incomplete in this job).
          errors.push(recorded(`folder ${folderId}`, error));
          ledger.folderFinished(folderId, undefined, emptyProgress(), false);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  let last: LastCheckpoint | undefined;
  try {
    const defer = deps.deferLastCheckpoint;
    const finished = stop === undefined && ledger.pendingFolders().length === 0;
    if (finished && defer && ledger.unwrittenLinks() <= defer.maxStaged) last = await ledger.takeUnwritten();
    else await ledger.flush();
  } catch (error) {
    stop = stopFor(error) ?? { kind: "error", error };
  }

  if (stop?.kind === "mailbox") {
    return {
      status: "mailbox-skipped",
      progress,
      errors: [...errors, recorded(`mailbox ${unit.mailboxId}`, stop.error)],
    };
  }
  if (stop?.kind === "error") throw stop.error;
  if (stop?.kind === "later") {
    const retryAfterMs = stop.error instanceof RetryableError ? (stop.error.retryAfterMs ?? 0) : 0;
    return { status: "paused", progress, errors, checkpoint: ledger.snapshot(), retryAfterMs };
  }
  if (ledger.pendingFolders().length > 0) {
    return { status: "paused", progress, errors, checkpoint: ledger.snapshot() };
  }
  return {
    status: "done",
    progress,
    errors,
    incompleteFolders: ledger.incompleteFolders(),
    ...(last ? { last } : {}),
  };
}

/** Where a Graph request waits for its turn. */
interface RequestSlots {
  add<T>(run: () => Promise<T>): Promise<T>;
}

interface FolderContext {
  unit: UnitWork;
  deps: UnitBackupDeps;
  /** The unit's Graph request slots (within the stream's, when it shares them). */
  slots: RequestSlots;
  /**
   * Messages in transfer (downloading, or read and being written to the archive): twice the
   * slots, so that writes overlap the next downloads while the memory of read-but-unwritten
   * messages stays bounded.
   */
  transfers: PQueue;
  ledger: UnitLedger;
  errors: RecordedError[];
  meter: (into: UnitProgress) => void;
  progress: UnitProgress;
  /** True once the unit must stop starting pages (yield, mailbox gone, unexpected error). */
  shouldStop(): boolean;
}

/** Follows one folder's delta pages until its round ends or the unit must stop. */
async function backupFolder(folderId: string, ctx: FolderContext): Promise<void> {
  const { unit, deps, ledger } = ctx;
  const resume = ledger.resumePoint(folderId);
  let part = resume.part;
  let link =
    resume.link ??
    (unit.hasSyncStates === false ? undefined : await deps.state.syncState(unit.mailboxId, folderId));
  // Without a link the round enumerates the whole folder: the catalog must say so, so that a
  // replay drops what an earlier job saw in the folder and this round no longer reports.
  let fullRound = link === undefined;
  let resyncs = 0;
  let folderHadItemErrors = false;

  for (;;) {
    try {
      const pages = deps.source.folderDelta(unit.mailboxId, folderId, link)[Symbol.asyncIterator]();
      for (;;) {
        const step = await ctx.slots.add(() => pages.next());
        if (step.done) break;
        const view = step.value;
        const entries: CatalogEntry[] = fullRound ? [{ kind: "folder-reset", folderId }] : [];
        fullRound = false;
        const pageProgress = emptyProgress();
        const failed = await storePage(unit, folderId, view, entries, pageProgress, ctx);
        if (failed > 0) folderHadItemErrors = true;
        await deps.archive.writeCatalogPart(
          { jobId: unit.jobId, mailboxId: unit.mailboxId, folderId, unit: unit.index, page: part },
          entries,
        );
        part++;
        ctx.meter(pageProgress);
        addProgress(ctx.progress, pageProgress);
        if (view.deltaLink) {
          ledger.folderFinished(
            folderId,
            folderHadItemErrors ? undefined : view.deltaLink,
            pageProgress,
            true,
          );
          return;
        }
        if (!view.nextLink) break;
        ledger.pageStored(folderId, view.nextLink, part, pageProgress);
        link = view.nextLink;
        if (ctx.shouldStop()) {
          await pages.return?.();
          return;
        }
      }
      // A delta round always ends with a deltaLink; a source that stops without one is broken.
      throw new SkipError(
        `folder ${folderId}: expected the delta round to end with @odata.deltaLink, found the end of pages without it`,
      );
    } catch (error) {
      if (error instanceof SyncStateLostError && resyncs < 2) {
        // 410 SyncStateNotFound: only this folder starts over, from the fresh initial link the
        // service offers (or a plain initial round).
        resyncs++;
        link = error.location;
        fullRound = true;
        continue;
      }
      throw error;
    }
  }
}

/**
 * Stores the MIME of every upsert of a page; returns how many items could not be stored (each
 * recorded). A failure that is not the item's own (to be waited out in a later task, a lost
 * claim, a fatal one) stops the page once every transfer of it has settled.
 */
async function storePage(
  unit: UnitWork,
  folderId: string,
  view: DeltaPageView,
  entries: CatalogEntry[],
  pageProgress: UnitProgress,
  ctx: FolderContext,
): Promise<number> {
  const stored: Array<CatalogEntry | undefined> = new Array(view.upserts.length);
  let failed = 0;
  let stopping: { error: unknown } | undefined;
  await Promise.all(
    view.upserts.map(async (meta, i) => {
      try {
        const entry = await storeMessage(unit, folderId, meta, ctx);
        stored[i] = entry.entry;
        pageProgress.items++;
        pageProgress.bytes += entry.entry.size;
        if (entry.existed) pageProgress.deduplicated++;
      } catch (error) {
        if (ruleFor(error) !== "record") {
          stopping ??= { error };
          return;
        }
        failed++;
        ctx.errors.push(recorded(`message ${meta.id} in folder ${folderId}`, error));
      }
    }),
  );
  if (stopping) throw stopping.error;
  // Keep the page's order in the catalog: replays apply lines in order.
  for (const e of stored) if (e) entries.push(e);
  for (const id of view.removed) {
    entries.push({ kind: "removed", messageId: id, folderId });
    pageProgress.removed++;
  }
  return failed;
}

async function storeMessage(
  unit: UnitWork,
  folderId: string,
  meta: MessageMeta,
  ctx: FolderContext,
): Promise<{ entry: Extract<CatalogEntry, { kind: "upsert" }>; existed: boolean }> {
  if (typeof meta.id !== "string" || meta.id.length === 0) {
    throw new SkipError(`delta item: expected a message id, found ${JSON.stringify(meta).slice(0, 120)}`);
  }
  const { deps } = ctx;
  const blob = await retry(
    () =>
      ctx.transfers.add(async () => {
        // The request's slot is held until its body has been read, not while the archive
        // writes the blob: the unit's next request goes out meanwhile.
        const { storing } = await ctx.slots.add(async () => {
          const stream = await deps.source.openMime(unit.mailboxId, meta.id);
          const storing = deps.archive.storeBlob("mime", stream, { mailboxId: unit.mailboxId });
          await Promise.race([finished(stream).catch(() => {}), storing.catch(() => {})]);
          return { storing };
        });
        return await storing;
      }),
    {
      ...deps.messageRetry,
      what: `message ${meta.id}`,
      // A connection dropped mid-stream or a transient archive failure may pass; an item that
      // is gone or refused will not come back, and one whose request already spent its budget
      // is recorded as it is.
      decide: (error) =>
        error instanceof RetryableError || (!(error instanceof SkipError) && isTransientFailure(error))
          ? { retry: true, delay: "backoff" }
          : { retry: false },
    },
  );
  return {
    entry: { kind: "upsert", messageId: meta.id, folderId, sha256: blob.sha256, size: blob.size, meta },
    existed: blob.existed,
  };
}
