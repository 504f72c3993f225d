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
import { type RetryBudget, type RetryDeadline, retry } from "../retry.js";
import { EXPORT_BATCH_LIMIT, splitExports } from "./export-batches.js";
import { ExportPool, type PooledOutcome } from "./export-pool.js";
import { FirstPageBatches, firstPageBatchOf } from "./first-page-batches.js";
import { PageCommits, type PageHoldOptions } from "./page-commits.js";
import { partialExportMayLeave } from "./partial-exports.js";
import type {
  ArchiveSink,
  CatalogEntry,
  DeltaPageView,
  FolderRead,
  ItemMailbox,
  ItemPageView,
  LastCheckpoint,
  MailSource,
  MessageMeta,
  RecordedError,
  RequestCount,
  StoredBlob,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
  UnitWork,
} from "./ports.js";
import { addProgress, emptyProgress, tallyMeter, trafficMeter } from "./progress.js";
import { type RequestKind, traceSlot } from "./request-trace.js";
import { UnitLedger } from "./unit-ledger.js";

export { exportBatchesOf, splitExports } from "./export-batches.js";
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
   * The moment no retry of the unit waits past (its Graph requests' and its own message
   * retries'): the stream runner's is when its invocation stops starting work. What is still
   * failing then pauses the unit; the task's next delivery resumes it. Default none.
   */
  retryDeadline?: RetryDeadline;
  /**
   * The stream's request slots, shared with another unit the stream runs meanwhile: each Graph
   * request of this unit takes one of them besides one of the unit's own. Default: none.
   */
  streamSlots?: { add<T>(run: () => Promise<T>): Promise<T> };
  /**
   * The controller's turns for large items (exported alone and streamed, above
   * STREAMED_EXPORT_BYTES), shared by every unit it runs: each such export waits for one before
   * its request is sent, so that the memory of large items in flight does not grow with the units
   * a stream runs at once (`controller.largeItemsAtOnce`). Default: none (no wait).
   */
  largeItemTurns?: { add<T>(run: () => Promise<T>): Promise<T> };
  /**
   * Items the unit's export pools may hold waiting while its item delta pages are still fetched
   * ahead of the exports waiting (see `exportBacklogRoom`). Many, so that a unit fetches its
   * pages first and its last page comes while exports still fill every slot: the pages are what
   * the exports depend on, and a last page fetched late leaves its exports to run alone at the
   * unit's end with slots idle beside them. Bounded, so that a mailbox of millions of items
   * does not hold them all in memory (an item waiting is its delta metadata, about 1 KB).
   * Items, at least the unit's slots × 20. Default {@link EXPORT_BACKLOG_ITEMS}.
   */
  exportBacklogItems?: number;
  /**
   * Called once, when the unit's last folder has started and its slots begin to idle (a slot free
   * with nothing queued after an event loop's turn), or when every folder has run: what is left
   * is its tail.
   */
  onTail?: () => void;
  /**
   * Called once, when the unit's requests have all answered (every delta page fetched, no item
   * waiting for its export, none queued or running) and the unit has not stopped: what is left is
   * storing its last items, its last catalog and pack writes and its last checkpoint (then its
   * completion, by the caller). A request sent after it (an item's transfer tried again) still
   * takes a slot as any other.
   */
  onRequestsDone?: () => void;
  /**
   * Called as the unit's end goes on, for the log's account of where its tail went: `stored`
   * when every folder has run (its last items stored, every page held), `committed` when its
   * last pages' parts are written and recorded (its last checkpoint is then taken or written).
   */
  onEndStep?: (step: "stored" | "committed") => void;
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
  /**
   * A folder whose round found no change keeps its committed sync state (no write)
   * while that state is younger than this; an older one is replaced by the round's new link, so
   * that the state the service keeps for it stays recent. Milliseconds, 0 (always replace) to
   * 30 days. Default 0; the deployment's is `controller.syncStateRefreshHours`.
   */
  syncStateRefreshMs?: number;
  /**
   * Most first item delta pages (of folders read `p`) that go out together in one `$batch`:
   * those whose requests hold one of the unit's slots at the same moment (lib/backup/
   * first-page-batches.ts). Each keeps its slot, so a batch of k holds k of the unit's slots and
   * min(k, 4) of the mailbox's, never more than the unit's share; none waits for others. Pages,
   * 1–4 (Outlook runs 4 inner requests of a batch at a time); 1 sends every page alone. Used
   * only with a source that offers `itemDeltaFirstPages`. Default 4.
   */
  firstPageBatch?: number;
  /**
   * How long stored pages wait for their catalog parts, so that the mailbox's pack fills over
   * many pages (lib/backup/page-commits.ts; defaults there: 64 pages, 20 s, a full pack).
   */
  pageHold?: PageHoldOptions;
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
      /** Why it paused when a retryable failure stopped it (the error's name and message), for the log. */
      reason?: string;
    }
  | { status: "mailbox-skipped"; progress: UnitProgress; errors: RecordedError[] };

/** An item the export answered with an error of its own (gone, malformed id, …): recorded, the job goes on. */
export class ItemExportError extends SkipError {
  override name = "ItemExportError";
  constructor(itemId: string, code: string, message: string) {
    super(`export of item ${itemId}: expected its data, found error ${code}${message ? `: ${message}` : ""}`);
  }
}

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
  given: UnitBackupDeps,
): Promise<UnitOutcome> {
  // The unit's requests counted as it sends them, by its own view of the source (whichever
  // unit's callback a shared queue starts them from), and kept to its deadline; a source that
  // cannot count them per piece of work gives the mailbox's counters instead.
  const tally: RequestCount = { requests: 0, throttled: 0 };
  const deps: UnitBackupDeps = given.source.withContext
    ? {
        ...given,
        source: given.source.withContext({ tally, deadline: given.retryDeadline }),
      }
    : given;
  const meter = given.source.withContext ? tallyMeter(tally) : trafficMeter(deps.source, unit.mailboxId);
  const progress = emptyProgress();
  const errors: RecordedError[] = [];
  const ledger = new UnitLedger(unit, start, deps.state, deps.checkpointIntervalMs ?? 1_000);
  const unitSlots = new PQueue({ concurrency: Math.max(1, unit.concurrency) });
  const streamSlots = deps.streamSlots;
  const pending = ledger.pendingFolders();
  /** Folders started whose delta pages are not all fetched yet, and whether all have started. */
  let fetching = 0;
  let lanesDone = false;
  /** The next of the pending folders a lane takes. */
  let next = 0;
  const exportPools = new Map<string, ExportPool<PoolItem, StoredBlob>>();
  /** Lets each export pool send its partial batch if it now may (see `sendPartialExports`). */
  const pokeExports = () => {
    for (const pool of exportPools.values()) pool.poke();
  };
  // A request ended (its slot went to the next one waiting, if any): a slot may be free with
  // nothing to run, for a partial export batch.
  unitSlots.on("next", pokeExports);
  // Whether a partial batch may leave before the unit's last page is decided after the event
  // loop's turn, never at once: the pages of one `$batch` answer together and are stored one after
  // another in microtasks, and a partial batch sent on the first one's items would be followed by
  // one for each of the others (many-small N = 64: ≈ 300 exports beyond the fewest, session 16).
  // After the turn their items wait together, and the folders about to ask for their next page
  // have asked. `unitIdle`: nothing was queued or running then (the unit waits on its own exports).
  let partialTurn = false;
  let unitIdle = false;
  let partialCheck: NodeJS.Immediate | undefined;
  const checkPartials = () => {
    partialCheck ??= setImmediate(() => {
      partialCheck = undefined;
      partialTurn = true;
      unitIdle = unitSlots.size === 0 && unitSlots.pending === 0;
      try {
        pokeExports();
      } finally {
        partialTurn = false;
        unitIdle = false;
      }
    });
  };
  unitSlots.on("idle", checkPartials);
  // Item delta pages are fetched while the export pools hold fewer items than the backlog limit
  // (see `exportBacklogRoom`), and before the exports waiting: the pages go first, the exports
  // fill the slots the pages leave and the unit's end; beyond the limit the slots carry exports.
  const backlogLimit = Math.max(
    Math.max(1, unit.concurrency) * EXPORT_BATCH_LIMIT,
    deps.exportBacklogItems ?? EXPORT_BACKLOG_ITEMS,
  );
  const backlog = () => {
    let items = 0;
    for (const pool of exportPools.values()) items += pool.waitingItems;
    return items;
  };
  const roomWaiters: Array<() => void> = [];
  const exportBacklogShrank = () => {
    if (roomWaiters.length === 0 || backlog() >= backlogLimit) return;
    for (const resolve of roomWaiters.splice(0)) resolve();
  };
  const exportBacklogRoom = () =>
    backlog() < backlogLimit ? Promise.resolve() : new Promise<void>((resolve) => roomWaiters.push(resolve));
  const slots: RequestSlots = {
    add: (kind, run, priority = 0) =>
      traceSlot({ kind, mailboxId: unit.mailboxId, unit: unit.index }, run, (traced) =>
        streamSlots
          ? unitSlots.add(() => streamSlots.add(traced), { priority })
          : unitSlots.add(traced, { priority }),
      ),
  };
  // A folder read `b` stores a page (its exports included) before it fetches the page after next.
  const exportsHoldPages = [...(unit.folderReads ?? "")].includes("b");
  const commits = new PageCommits(deps.archive, unit.mailboxId, deps.pageHold);
  let stop: UnitStop | undefined;
  let requestsDone = false;
  /**
   * Tells the stream once the unit's requests have all answered: every delta page fetched, no
   * item waiting for an export, no request queued or running (or, `all`, every folder has run).
   * Its items' storing, last writes and completion follow. Not for a unit that stops (a deadline,
   * a pause, a failure): its stream claims nothing more until it has seen why. A request sent
   * after it (an item's transfer tried again) still runs within the stream's slots.
   */
  const requestsMayBeDone = (all = false) => {
    if (requestsDone || stop !== undefined || !lanesDone || fetching > 0) return;
    if (!all && (backlog() > 0 || unitSlots.size > 0 || unitSlots.pending > 0)) return;
    requestsDone = true;
    deps.onRequestsDone?.();
  };
  const batchLimit = firstPageBatchOf(deps.firstPageBatch);
  const ctx: FolderContext = {
    unit,
    deps,
    slots,
    ...(deps.source.itemDeltaFirstPages && batchLimit > 1
      ? { firstPages: new FirstPageBatches(deps.source.itemDeltaFirstPages.bind(deps.source), batchLimit) }
      : {}),
    transfers: new PQueue({ concurrency: 2 * Math.max(1, unit.concurrency) }),
    exportPools,
    // A partial export batch leaves when no more items can come (every folder's pages fetched);
    // before that only after the event loop's turn (`checkPartials`) and by the rule of
    // partial-exports.ts: it never takes a slot that a delta page or a full batch could use, nor
    // sends a request the later items would fill.
    sendPartialExports: () => {
      if (lanesDone && fetching === 0) return true;
      if (!partialTurn) {
        checkPartials();
        return false;
      }
      return partialExportMayLeave({
        slots: unitSlots.concurrency,
        queued: unitSlots.size,
        running: unitSlots.pending,
        pageChains: (lanesDone ? 0 : pending.length - next) + fetching,
        unitIdle,
        exportsHoldPages,
      });
    },
    exportsAhead: { now: 0, most: Math.max(1, unit.concurrency - 1) },
    exportBacklogRoom,
    exportBacklogShrank,
    ledger,
    commits,
    errors,
    meter,
    progress,
    shouldStop: () => {
      const failure = ledger.failure ?? commits.failure;
      if (!stop && failure !== undefined) stop = stopFor(failure) ?? { kind: "error", error: failure };
      if (!stop && deps.shouldYield()) stop = { kind: "yield" };
      return stop !== undefined;
    },
  };

  // More folders than slots: while some wait for their catalog writes and checkpoints, the others
  // keep the slots busy. Twice as many when the unit reads MIME (a page's downloads fill the
  // slots); four times when it reads items, whose page needs a request or two (its delta page
  // and its share of the pooled exports), so that a folder holds a slot for less of its time.
  // A lane takes its next folder as soon as the folder's last delta page is fetched: the items
  // of that page are exported and its part held meanwhile (the folder's run goes on), so that
  // delta pages of the next folders overlap the exports instead of waiting for them.
  const itemReads = [...(unit.folderReads ?? "")].some((read) => read === "p" || read === "a");
  const lanes = Math.min(pending.length, (itemReads ? 4 : 2) * Math.max(1, unit.concurrency));
  // The unit's tail, for the stream's lookahead: its last folder has started and, after an event
  // loop's turn, a slot is free with nothing queued (its slots begin to idle). Not as soon as the
  // last folder starts: with four lanes a slot, a unit of ≈ 17 folders starts its last one within
  // its first second, and every stream of many-small N = 64 claimed a second unit at once; the
  // 64 streams took 128 of the 160 units in the first second and the last 32 went to the
  // streams that freed first (those with two units running), while the others ran dry early
  // (streams of 3 units ≈ 57 requests, of 2 units ≈ 38: backup 7.2 s where LB is 4.4 s).
  let lastFolderStarted = false;
  let tailTold = false;
  let tailCheck: NodeJS.Immediate | undefined;
  const tellTail = () => {
    if (tailTold) return;
    tailTold = true;
    unitSlots.off("next", checkTail);
    unitSlots.off("idle", checkTail);
    if (tailCheck) clearImmediate(tailCheck);
    deps.onTail?.();
  };
  const checkTail = () => {
    if (tailTold || !lastFolderStarted) return;
    tailCheck ??= setImmediate(() => {
      tailCheck = undefined;
      if (unitSlots.size === 0 && unitSlots.pending < unitSlots.concurrency) tellTail();
    });
  };
  unitSlots.on("next", checkTail);
  unitSlots.on("idle", checkTail);
  const lastFolderStarts = () => {
    lastFolderStarted = true;
    checkTail();
  };
  if (pending.length === 0) tellTail();
  const folderRuns: Array<Promise<void>> = [];
  const runFolder = async (folderId: string, read: FolderRead, onFetched: () => void) => {
    try {
      await backupFolder(folderId, read, ctx, onFetched);
    } catch (error) {
      const folderStop = stopFor(error);
      if (folderStop) {
        stop ??= folderStop;
      } else {
        // The folder vanished, is closed, or kept failing for the whole retry budget: record
        // it and go on with the next one (it keeps its sync state: incomplete in this job).
        errors.push(recorded(`folder ${folderId}`, error));
        // After the folder's held pages, in order (none of them may be lost by recording it done).
        await commits
          .hold({ record: () => ledger.folderFinished(folderId, undefined, emptyProgress(), false) })
          .catch((commitError: unknown) => {
            stop ??= stopFor(commitError) ?? { kind: "error", error: commitError };
          });
      }
    }
  };
  const lane = async () => {
    while (next < pending.length && !ctx.shouldStop()) {
      const i = pending[next++]!;
      if (next === pending.length) lastFolderStarts();
      let fetched!: () => void;
      const allFetched = new Promise<void>((resolve) => (fetched = resolve));
      fetching++;
      const run = runFolder(unit.folderIds[i]!, folderReadOf(unit, i), fetched).finally(() => fetched());
      folderRuns.push(run);
      await allFetched;
      fetching--;
      pokeExports();
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  lanesDone = true;
  // No more items can come: the partial batches waiting go now.
  pokeExports();
  unitSlots.on("idle", requestsMayBeDone);
  requestsMayBeDone();
  await Promise.all(folderRuns);
  deps.onEndStep?.("stored");
  unitSlots.off("idle", requestsMayBeDone);
  // Every folder has run: no partial batch is left to send early.
  unitSlots.off("idle", checkPartials);
  if (partialCheck) clearImmediate(partialCheck);
  // Every folder has run: the unit is in its tail (if no slot idled before, its last writes are).
  tellTail();
  requestsMayBeDone(true);
  let last: LastCheckpoint | undefined;
  // Every folder ran (their last pages are held, so the ledger does not know it yet): what the
  // last commit records may ride with the unit's end (below), or is written there at once.
  if (deps.deferLastCheckpoint && stop === undefined) {
    ledger.holdWrites();
  }
  try {
    // Whatever the unit stops for, the pages it stored count: write their parts, then record them.
    await commits.commit();
  } catch (error) {
    stop ??= stopFor(error) ?? { kind: "error", error };
  }
  deps.onEndStep?.("committed");
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
    const reason =
      stop.error instanceof Error ? `${stop.error.name}: ${stop.error.message}` : String(stop.error);
    return { status: "paused", progress, errors, checkpoint: ledger.snapshot(), retryAfterMs, reason };
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

/**
 * How an item's transfer is tried again: a connection dropped mid-stream or a transient archive
 * failure may pass; an item that is gone or refused will not come back, and one whose request
 * already spent its budget is recorded as it is.
 */
function transientOnly(error: unknown): { retry: true; delay: "backoff" } | { retry: false } {
  return error instanceof RetryableError || (!(error instanceof SkipError) && isTransientFailure(error))
    ? { retry: true, delay: "backoff" }
    : { retry: false };
}

/**
 * Items a unit's export pools hold waiting at most while its item delta pages are fetched ahead
 * (`UnitBackupDeps.exportBacklogItems`): 50 full export batches, about 1 MB of item metadata.
 * Until session 8 it was the unit's slots × 20 (80): a unit's pages then stalled behind its
 * exports, and its last page, fetched in its last rounds, left its exports to trail alone
 * (uniform shape, N = 1: 0.5–0.9 s of 3 idle slots at the end of a 4.5 s unit).
 */
export const EXPORT_BACKLOG_ITEMS = 1000;

/** Where a Graph request waits for its turn: higher `priority` first (default 0: delta pages, downloads). */
interface RequestSlots {
  add<T>(kind: RequestKind, run: () => Promise<T>, priority?: number): Promise<T>;
}

/**
 * Export requests go before the delta pages waiting for a slot: a full batch is the largest
 * request of the unit (up to 20 items' data), so running it early leaves the short delta pages
 * to fill the end, and the items of a page do not wait while later pages are fetched.
 */
const EXPORT_PRIORITY = 1;

/**
 * Up to the unit's slots less one (at least one) export requests at a time go before every delta
 * page waiting, a folder's next page included; the others wait behind the pages
 * (`EXPORT_PRIORITY`; item pages go first so that the last one is not fetched late, and a
 * partial batch leaves early only on a slot that would idle). A page is durable (committed, then
 * checkpointed) only once its items are exported, and with every export behind the pages, a unit
 * whose folders with items start first (lib/plan/plan.ts `folderStartOrder`) fetched all its pages
 * before its first export: no checkpoint until its end (session 16: the crash e2e test saw none
 * in a unit of 2–3.5 s). Ahead, a page's items leave within a round or two of its answer, and in a
 * unit of two slots or more one is always left to the pages (a one-slot unit sends a full batch
 * before its next page). bench/unit-rounds.ts (session 17): the fewest requests and
 * rounds on every shape as with the exports behind, and the crash test's tenant's first
 * checkpoint at round 3 (8 with every export behind; 3.5 with the mailbox's order).
 */
const EXPORT_AHEAD_PRIORITY = 4;

/**
 * An item delta page goes before the exports waiting: it is fetched only while the export
 * pools are short of items (`exportBacklogRoom`), to refill them before the slots run dry.
 */
const ITEM_PAGE_PRIORITY = 2;

/**
 * A folder's next item delta page (the one before named it with a nextLink) goes before the
 * first pages of the other folders waiting: a folder of p pages is a chain of p requests, each
 * sent only when the one before is answered, and behind the first pages of the unit's other lanes
 * (4 per slot) each of its pages would wait several rounds, so that a long folder, with the
 * exports of its last pages, would end the unit long after the rest. First its chain, one page a
 * round; the other folders fill the slots beside it.
 */
const ITEM_NEXT_PAGE_PRIORITY = 3;

interface FolderContext {
  unit: UnitWork;
  deps: UnitBackupDeps;
  /** The unit's Graph request slots (within the stream's, when it shares them). */
  slots: RequestSlots;
  /** First item delta pages batched (`firstPageBatch`); absent: every page goes alone. */
  firstPages?: FirstPageBatches;
  /**
   * Messages in transfer (downloading, or read and being written to the archive): twice the
   * slots, so that writes overlap the next downloads while the memory of read-but-unwritten
   * messages stays bounded.
   */
  transfers: PQueue;
  /** The unit's export pools, by import/export mailbox id: items of every folder batched together. */
  exportPools: Map<string, ExportPool<PoolItem, StoredBlob>>;
  /** Whether an export pool may send a partial batch now. */
  sendPartialExports(): boolean;
  /**
   * Export requests of the unit that wait for a slot, or hold one, ahead of its delta pages
   * (`EXPORT_AHEAD_PRIORITY`), and how many may at once: the unit's slots less one, at least one.
   */
  exportsAhead: { now: number; most: number };
  /**
   * Resolves when the items waiting in the unit's export pools are fewer than its slots can take
   * in full batches at once: a folder read by item delta fetches its next page only then.
   */
  exportBacklogRoom(): Promise<void>;
  /** Called by the export pools when items left them. */
  exportBacklogShrank(): void;
  ledger: UnitLedger;
  /** The unit's stored pages whose parts are held back until their pack fills. */
  commits: PageCommits;
  errors: RecordedError[];
  meter: (into: UnitProgress) => void;
  progress: UnitProgress;
  /** True once the unit must stop starting pages (yield, mailbox gone, unexpected error). */
  shouldStop(): boolean;
}

/** How the unit reads its folder at `index` (units planned before item kinds: `m`). */
function folderReadOf(unit: UnitWork, index: number): FolderRead {
  const read = unit.folderReads?.[index] ?? "m";
  return read === "b" || read === "p" || read === "a" ? read : "m";
}

/** The import/export mailbox a folder read goes to: the archive for `a`, else the primary. */
function itemMailboxOf(unit: UnitWork, read: FolderRead): ItemMailbox {
  const role = read === "a" ? "archive" : "primary";
  const apiId = role === "archive" ? unit.mailboxIds?.archive : unit.mailboxIds?.primary;
  if (!apiId) {
    throw new SkipError(
      `unit ${unit.index}: expected the ${role} mailbox's import/export id for a folder read '${read}', found none`,
    );
  }
  return { userId: unit.mailboxId, role, apiId };
}

/** A folder's pages, as the unit reads them: message delta (`m`, `b`) or item delta (`p`, `a`). */
type FolderPage = DeltaPageView | ItemPageView;

function folderPages(
  unit: UnitWork,
  folderId: string,
  read: FolderRead,
  link: string | undefined,
  deps: UnitBackupDeps,
): AsyncIterable<FolderPage> {
  if (read === "m" || read === "b") return deps.source.folderDelta(unit.mailboxId, folderId, link);
  if (!deps.source.itemDelta) throw new SkipError(`folder ${folderId}: this mail source reads no item delta`);
  return deps.source.itemDelta(itemMailboxOf(unit, read), folderId, link);
}

/**
 * A folder's round whose first page is fetched through the unit's first-page batches (in a
 * `$batch` with the first pages of other folders started in the same turn) and the rest, from
 * that page's nextLink, alone. A page the batch could not give (throttled there, or no other
 * page to batch with) is fetched alone on the same slot.
 */
function batchedRound(
  unit: UnitWork,
  folderId: string,
  read: FolderRead,
  link: string | undefined,
  firstPages: FirstPageBatches,
  deps: UnitBackupDeps,
): AsyncIterator<FolderPage> {
  let rest: AsyncIterator<FolderPage> | undefined;
  let first = true;
  return {
    async next(): Promise<IteratorResult<FolderPage>> {
      if (!first) return rest ? rest.next() : { done: true, value: undefined };
      first = false;
      const answer = await firstPages.fetch(itemMailboxOf(unit, read), folderId, link);
      if ("page" in answer) {
        const { nextLink } = answer.page;
        if (nextLink) rest = folderPages(unit, folderId, read, nextLink, deps)[Symbol.asyncIterator]();
        return { done: false, value: answer.page };
      }
      if ("error" in answer) throw answer.error;
      // Alone; from where a redirect in the batch pointed, if it did.
      rest = folderPages(unit, folderId, read, answer.from ?? link, deps)[Symbol.asyncIterator]();
      return rest.next();
    },
    async return(): Promise<IteratorResult<FolderPage>> {
      await rest?.return?.();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Follows one folder's delta pages until its round ends or the unit must stop. The next page is
 * fetched while the items of the pages before are stored: for MIME reads, one page ahead; for
 * item reads, as long as the unit's export pools have room (`exportBacklogRoom`). Pages are held
 * for their commit in their order. `onFetched` is called once the page carrying the delta link
 * is fetched: what is left of the folder is storing its last pages.
 */
async function backupFolder(
  folderId: string,
  read: FolderRead,
  ctx: FolderContext,
  onFetched: () => void = () => {},
): Promise<void> {
  const { unit, deps, ledger } = ctx;
  const itemRead = read === "p" || read === "a";
  // Item delta links are sync states of their own: a folder read in another way starts over.
  const via = itemRead ? ("items" as const) : undefined;
  const resume = ledger.resumePoint(folderId);
  let part = resume.part;
  const committed =
    resume.link !== undefined || unit.hasSyncStates === false
      ? undefined
      : await committedLinkOf(deps.state, unit.mailboxId, folderId, via);
  let link = resume.link ?? committed?.deltaLink;
  // The round runs from the committed state and has found nothing yet: if it ends so, the
  // folder may keep that state instead of staging its new link.
  let unchanged = committed !== undefined;
  // Without a link the round enumerates the whole folder: the catalog must say so, so that a
  // replay drops what an earlier job saw in the folder and this round no longer reports.
  let fullRound = link === undefined;
  let resyncs = 0;
  let folderHadItemErrors = false;

  /** Stores a fetched page's items, then (after the page before it) holds it for its commit. */
  const storeAndHold = async (
    view: FolderPage,
    entries: CatalogEntry[],
    page: number,
    before: Promise<void>,
  ): Promise<void> => {
    const pageProgress = emptyProgress();
    // The items' transfers start at once; a failure waits for the page before to settle.
    const storing = (
      read === "m" || read === "b"
        ? storePage(unit, folderId, view as DeltaPageView, read, entries, pageProgress, ctx)
        : storeItemPage(unit, folderId, view as ItemPageView, read, entries, pageProgress, ctx)
    ).then(
      (failed) => ({ failed }),
      (error: unknown) => ({ error }),
    );
    // Every transfer of the page settles before the page (or the one before it) fails the folder.
    const [prior, stored] = await Promise.all([
      before.then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
      storing,
    ]);
    if (prior) throw prior.error;
    if ("error" in stored) throw stored.error;
    if (stored.failed > 0) folderHadItemErrors = true;
    if (entries.length > 0 || stored.failed > 0) unchanged = false;
    // A page that changed nothing leaves no part: a job's catalog holds only what changed
    // (readers take a mailbox or folder without parts in a job as unchanged in it).
    // Its part is held back with the page (see PageCommits): the page counts as stored in the
    // ledger only once its part, and the pack holding its bodies, are written.
    const partKey = { jobId: unit.jobId, mailboxId: unit.mailboxId, folderId, unit: unit.index, page };
    const held = (record: () => void) =>
      ctx.commits.hold({ ...(entries.length > 0 ? { part: { key: partKey, entries } } : {}), record });
    ctx.meter(pageProgress);
    addProgress(ctx.progress, pageProgress);
    if (view.deltaLink && unchanged && keepsSyncState(committed, view.deltaLink, deps)) {
      await held(() => ledger.folderUnchanged(folderId, pageProgress));
    } else if (view.deltaLink) {
      const deltaLink = folderHadItemErrors ? undefined : view.deltaLink;
      await held(() => ledger.folderFinished(folderId, deltaLink, pageProgress, true, via));
    } else if (view.nextLink) {
      const nextLink = view.nextLink;
      const nextPart = page + 1;
      await held(() => ledger.pageStored(folderId, nextLink, nextPart, pageProgress));
    }
  };

  for (;;) {
    /** The pages fetched so far, stored and held in order (each waits for the one before). */
    let chain: Promise<void> = Promise.resolve();
    let pageFailed = false;
    /** Whether the page to fetch continues the round (a page before it named it). */
    let nextPage = false;
    try {
      const pages =
        read === "p" && ctx.firstPages
          ? batchedRound(unit, folderId, read, link, ctx.firstPages, deps)
          : folderPages(unit, folderId, read, link, deps)[Symbol.asyncIterator]();
      for (;;) {
        if (itemRead) await ctx.exportBacklogRoom();
        const step = await ctx.slots.add(
          itemRead ? "item-page" : "delta-page",
          () => pages.next(),
          itemRead ? (nextPage ? ITEM_NEXT_PAGE_PRIORITY : ITEM_PAGE_PRIORITY) : 0,
        );
        nextPage = true;
        if (step.done) break;
        const view = step.value;
        const entries: CatalogEntry[] = fullRound ? [{ kind: "folder-reset", folderId }] : [];
        fullRound = false;
        const before = chain;
        chain = storeAndHold(view, entries, part, before);
        // Observed here and at the next turn: a failure never goes unhandled meanwhile, and
        // stops the folder's fetching at its next page.
        chain.catch(() => {
          pageFailed = true;
        });
        part++;
        if (view.deltaLink) {
          onFetched();
          await chain;
          return;
        }
        if (!view.nextLink) break;
        link = view.nextLink;
        // MIME reads: at most one page stores while the next is fetched. Item reads fetch ahead
        // as long as the export pools have room (above), whatever the pages storing.
        if (!itemRead) await before;
        // A page that failed ends the folder's round (its error is thrown here).
        if (pageFailed) await chain;
        if (ctx.shouldStop()) {
          await chain;
          await pages.return?.();
          return;
        }
      }
      await chain;
      // A delta round always ends with a deltaLink; a source that stops without one is broken.
      throw new SkipError(
        `folder ${folderId}: expected the delta round to end with @odata.deltaLink, found the end of pages without it`,
      );
    } catch (error) {
      // Every page fetched before the failure settles first; a page's own failure comes first.
      const settled = await chain.then(
        () => undefined,
        (pageError: unknown) => ({ pageError }),
      );
      if (settled && settled.pageError !== error) throw settled.pageError;
      if (error instanceof SyncStateLostError && resyncs < 2) {
        // 410 SyncStateNotFound: only this folder starts over, from the fresh initial link the
        // service offers (or a plain initial round). Recorded, so the job report shows it.
        resyncs++;
        ctx.errors.push({
          ...recorded(`folder ${folderId}`, error),
          message: `${error.message}; the folder alone is read again in full`,
          notice: true,
        });
        link = error.location;
        fullRound = true;
        unchanged = false;
        continue;
      }
      throw error;
    }
  }
}

/** The folder's committed sync state, with the time it was written where the port tells it. */
async function committedLinkOf(
  state: UnitStatePort,
  mailboxId: string,
  folderId: string,
  via: "items" | undefined,
): Promise<{ deltaLink: string; updatedAt?: string } | undefined> {
  if (state.committedSyncState) return state.committedSyncState(mailboxId, folderId, via);
  const deltaLink = await state.syncState(mailboxId, folderId, via);
  return deltaLink === undefined ? undefined : { deltaLink };
}

/**
 * Whether a folder whose round found no change keeps its committed sync state: the round ended
 * on the same link, or the committed one is younger than `syncStateRefreshMs`.
 */
function keepsSyncState(
  committed: { deltaLink: string; updatedAt?: string } | undefined,
  deltaLink: string,
  deps: UnitBackupDeps,
): boolean {
  if (!committed) return false;
  if (committed.deltaLink === deltaLink) return true;
  const refreshMs = deps.syncStateRefreshMs ?? 0;
  const writtenAt = committed.updatedAt === undefined ? Number.NaN : Date.parse(committed.updatedAt);
  return refreshMs > 0 && Number.isFinite(writtenAt) && Date.now() - writtenAt < refreshMs;
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
  read: "m" | "b",
  entries: CatalogEntry[],
  pageProgress: UnitProgress,
  ctx: FolderContext,
): Promise<number> {
  const stored: Array<UpsertLine | undefined> = new Array(view.upserts.length);
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
  if (read === "b") {
    // Content mode both: each stored message's export stream too (its id is its item id).
    const kept = stored.filter((e): e is UpsertLine => e !== undefined);
    const exported = await exportBatches(
      folderId,
      itemMailboxOf(unit, "b"),
      kept.map((e) => ({ id: e.messageId, size: e.size })),
      ctx,
    );
    for (const e of kept) {
      const blob = exported.get(e.messageId);
      if (blob) e.export = { sha256: blob.sha256, size: blob.size };
    }
    // A message whose export failed keeps its MIME line; the folder's link is not staged.
    failed += kept.length - exported.size;
  }
  // Keep the page's order in the catalog: replays apply lines in order.
  for (const e of stored) if (e) entries.push(e);
  for (const id of view.removed) {
    entries.push({ kind: "removed", messageId: id, folderId });
    pageProgress.removed++;
  }
  return failed;
}

type UpsertLine = Extract<CatalogEntry, { kind: "upsert" }>;

/**
 * Stores the export stream of every upsert of an item delta page (every kind of item), in
 * export requests of up to 20 items; returns how many items could not be stored (each recorded).
 */
async function storeItemPage(
  unit: UnitWork,
  folderId: string,
  view: ItemPageView,
  read: "p" | "a",
  entries: CatalogEntry[],
  pageProgress: UnitProgress,
  ctx: FolderContext,
): Promise<number> {
  // An item without an id cannot be exported (and would fail its whole request): recorded.
  const valid = view.upserts.filter((item) => {
    if (typeof item.id === "string" && item.id.length > 0) return true;
    ctx.errors.push(
      recorded(
        `item in folder ${folderId}`,
        new SkipError(`delta item: expected an item id, found ${JSON.stringify(item).slice(0, 120)}`),
      ),
    );
    return false;
  });
  // Items of a folder another mailbox serves (an expanded archive's auxiliary) go to that one.
  const asked = itemMailboxOf(unit, read);
  const mailbox = view.servedBy ? { ...asked, apiId: view.servedBy } : asked;
  const exported = await exportBatches(folderId, mailbox, valid, ctx);
  for (const item of valid) {
    const blob = exported.get(item.id);
    if (!blob) continue;
    entries.push({
      kind: "upsert",
      messageId: item.id,
      folderId,
      sha256: blob.sha256,
      size: blob.size,
      meta: item.meta,
      content: "export",
      itemClass: item.itemClass,
    });
    pageProgress.items++;
    pageProgress.bytes += blob.size;
    if (blob.existed) pageProgress.deduplicated++;
  }
  for (const id of view.removed) {
    entries.push({ kind: "removed", messageId: id, folderId });
    pageProgress.removed++;
  }
  return view.upserts.length - exported.size;
}

/**
 * Exports items of one mailbox and stores each export stream; the stored blobs by item id. Items
 * above a few MB go alone, streamed; the others wait in the unit's export pool of the mailbox,
 * whose requests batch the items of every folder that wants some (each request holds one request
 * slot until its answer is read). An item the service answers with an error of its own, or whose
 * blob cannot be stored, is recorded and left out; a failure that is not an item's own stops the
 * page once every item of it has settled.
 */
async function exportBatches(
  folderId: string,
  mailbox: ItemMailbox,
  items: ReadonlyArray<{ id: string; size?: number }>,
  ctx: FolderContext,
): Promise<Map<string, StoredBlob>> {
  const { deps } = ctx;
  const stored = new Map<string, StoredBlob>();
  if (items.length === 0) return stored;
  const source = deps.source;
  if (!source.exportItems) throw new SkipError(`folder ${folderId}: this mail source exports no items`);
  let stopping: { error: unknown } | undefined;
  const settle = (id: string, outcome: PooledOutcome<StoredBlob>) => {
    if (outcome.ok) {
      stored.set(id, outcome.value);
    } else if (ruleFor(outcome.error) !== "record") {
      stopping ??= { error: outcome.error };
    } else {
      ctx.errors.push(
        recorded(`item ${id} in folder ${folderId} of the ${mailbox.role} mailbox`, outcome.error),
      );
    }
  };
  // Items above a few MB: one streamed request each, straight into the archive.
  const { streamed } = splitExports(items, source.exportItemTo !== undefined);
  const pooled = streamed.length > 0 ? items.filter((item) => !streamed.includes(item)) : items;
  await Promise.all([
    ...streamed.map(async (item) => settle(item.id, await exportStreamed(mailbox, item, folderId, ctx))),
    exportPoolOf(mailbox, ctx)
      .add(pooled)
      .then((outcomes) => {
        for (const [i, outcome] of outcomes.entries()) settle((pooled[i] as { id: string }).id, outcome);
      }),
  ]);
  if (stopping) throw stopping.error;
  return stored;
}

/** One item exported alone, its data streamed into the archive. */
async function exportStreamed(
  mailbox: ItemMailbox,
  item: { id: string },
  folderId: string,
  ctx: FolderContext,
): Promise<PooledOutcome<StoredBlob>> {
  const { deps } = ctx;
  const exportItemTo = deps.source.exportItemTo as NonNullable<MailSource["exportItemTo"]>;
  try {
    return await retry(
      () =>
        ctx.transfers.add(async (): Promise<PooledOutcome<StoredBlob>> => {
          // The large item's turn first, then a request slot: a unit waiting for its turn holds
          // no slot that another request of it (or of the stream) could use.
          const exportAlone = () =>
            ctx.slots.add(
              "export-streamed",
              () =>
                exportItemTo(mailbox, item.id, (body) =>
                  deps.archive.storeBlob("export", body, { mailboxId: ctx.unit.mailboxId }),
                ),
              EXPORT_PRIORITY,
            );
          const answer = await (deps.largeItemTurns ? deps.largeItemTurns.add(exportAlone) : exportAlone());
          if ("error" in answer) {
            return {
              ok: false,
              error: new ItemExportError(answer.itemId, answer.error.code, answer.error.message),
            };
          }
          return { ok: true, value: answer.result };
        }),
      {
        ...deps.messageRetry,
        deadline: deps.retryDeadline,
        what: `export of item ${item.id} of folder ${folderId}`,
        decide: transientOnly,
      },
    );
  } catch (error) {
    return { ok: false, error };
  }
}

/** The unit's export pool of a mailbox (created on first use). */
function exportPoolOf(mailbox: ItemMailbox, ctx: FolderContext): ExportPool<PoolItem, StoredBlob> {
  let pool = ctx.exportPools.get(mailbox.apiId);
  if (!pool) {
    pool = new ExportPool((take) => exportRequest(mailbox, take, ctx), {
      sendPartial: ctx.sendPartialExports,
      onTaken: ctx.exportBacklogShrank,
    });
    ctx.exportPools.set(mailbox.apiId, pool);
  }
  return pool;
}

type PoolItem = { id: string; size?: number };

/**
 * One export request of a pool: takes its batch once it holds a request slot, exports it and
 * stores each export stream. A transient failure (of the request or of a store) tries the items
 * not yet stored again.
 */
async function exportRequest(
  mailbox: ItemMailbox,
  take: () => PoolItem[],
  ctx: FolderContext,
): Promise<Map<string, PooledOutcome<StoredBlob>>> {
  const { deps } = ctx;
  const exportItems = deps.source.exportItems as NonNullable<MailSource["exportItems"]>;
  const outcomes = new Map<string, PooledOutcome<StoredBlob>>();
  await retry(
    () =>
      ctx.transfers.add(async () => {
        // Ahead of the delta pages waiting while fewer than `most` exports are (see
        // EXPORT_AHEAD_PRIORITY); else behind them, as before.
        const ahead = ctx.exportsAhead.now < ctx.exportsAhead.most;
        if (ahead) ctx.exportsAhead.now++;
        const answers = await ctx.slots.add(
          "export",
          async () => {
            try {
              const pending = take().filter((item) => !outcomes.has(item.id));
              return pending.length === 0
                ? []
                : await exportItems(
                    mailbox,
                    pending.map((item) => item.id),
                  );
            } finally {
              if (ahead) ctx.exportsAhead.now--;
            }
          },
          ahead ? EXPORT_AHEAD_PRIORITY : EXPORT_PRIORITY,
        );
        await Promise.all(
          answers.map(async (answer) => {
            if ("error" in answer) {
              outcomes.set(answer.itemId, {
                ok: false,
                error: new ItemExportError(answer.itemId, answer.error.code, answer.error.message),
              });
              return;
            }
            const blob = await deps.archive.storeBlob("export", answer.data, {
              mailboxId: ctx.unit.mailboxId,
            });
            outcomes.set(answer.itemId, { ok: true, value: blob });
          }),
        );
      }),
    {
      ...deps.messageRetry,
      deadline: deps.retryDeadline,
      what: `an export request of the ${mailbox.role} mailbox`,
      decide: transientOnly,
    },
  );
  return outcomes;
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
        const { storing } = await ctx.slots.add("mime", async () => {
          const stream = await deps.source.openMime(unit.mailboxId, meta.id);
          const storing = deps.archive.storeBlob("mime", stream, { mailboxId: unit.mailboxId });
          await Promise.race([finished(stream).catch(() => {}), storing.catch(() => {})]);
          return { storing };
        });
        return await storing;
      }),
    {
      ...deps.messageRetry,
      deadline: deps.retryDeadline,
      what: `message ${meta.id}`,
      // A connection dropped mid-stream or a transient archive failure may pass; an item that
      // is gone or refused will not come back, and one whose request already spent its budget
      // is recorded as it is.
      decide: transientOnly,
    },
  );
  return {
    entry: { kind: "upsert", messageId: meta.id, folderId, sha256: blob.sha256, size: blob.size, meta },
    existed: blob.existed,
  };
}
