import { finished } from "node:stream/promises";
import PQueue from "p-queue";
import pRetry, { AbortError } from "p-retry";
import { isMailstreamError, SkipError } from "../errors.js";
import type {
  ArchiveSink,
  CatalogEntry,
  DeltaPageView,
  LastCheckpoint,
  MailSource,
  MessageMeta,
  OpenFolder,
  RecordedError,
  StagedLink,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
} from "./ports.js";

/** The work handed to a stream: one mailbox, or a group of folders of one big mailbox. */
export interface UnitWork {
  jobId: string;
  index: number;
  mailboxId: string;
  folderIds: string[];
  /** Concurrent MIME downloads for this unit: its share of the mailbox's 4 request slots. Range 1–4. */
  concurrency: number;
  /** The plan's estimate of the unit's time, seconds (absent in units planned by older versions). */
  estimatedSeconds?: number;
  /** False when no folder of the unit had a sync state at planning: none is read. Default true. */
  hasSyncStates?: boolean;
}

export interface UnitBackupDeps {
  source: MailSource;
  archive: ArchiveSink;
  state: UnitStatePort;
  /** True when the invocation must stop starting new pages (near the Lambda deadline). */
  shouldYield(): boolean;
  /** Attempts per message when its download or upload fails transiently. Range 1–10. Default 3. */
  messageAttempts?: number;
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
  | { status: "paused"; progress: UnitProgress; errors: RecordedError[]; checkpoint: UnitCheckpoint }
  | { status: "mailbox-skipped"; progress: UnitProgress; errors: RecordedError[] };

/** Error names that mean the whole mailbox is gone or closed to us: stop the unit, record it. */
const MAILBOX_LEVEL_ERRORS = new Set(["MailboxNotFoundError", "AccessDeniedError", "MailboxNotEnabledError"]);

function isSyncStateLost(error: unknown): error is Error & { location?: string } {
  return error instanceof Error && error.name === "SyncStateLostError";
}

function recorded(subject: string, error: unknown): RecordedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return { subject, name: e.name, message: e.message };
}

export function emptyProgress(): UnitProgress {
  return { items: 0, bytes: 0, removed: 0, deduplicated: 0, requests: 0, throttled: 0 };
}

function addProgress(into: UnitProgress, delta: UnitProgress): void {
  into.items += delta.items;
  into.bytes += delta.bytes;
  into.removed += delta.removed;
  into.deduplicated += delta.deduplicated;
  into.requests += delta.requests;
  into.throttled += delta.throttled;
}

/** Graph traffic of the unit's mailbox since the last reading: what each checkpoint adds. */
function trafficMeter(source: MailSource, mailboxId: string): (into: UnitProgress) => void {
  const read = () => source.traffic?.(mailboxId) ?? { requests: 0, throttled: 0 };
  let last = read();
  return (into) => {
    const now = read();
    into.requests += Math.max(0, now.requests - last.requests);
    into.throttled += Math.max(0, now.throttled - last.throttled);
    last = now;
  };
}

/**
 * Where each folder of a running unit stands; snapshots of it are the unit's checkpoints.
 *
 * Checkpoints are written in the background, one at a time and at most one per interval, each
 * with the newest snapshot, every count and every staged delta link recorded since the previous
 * write. Folders do not wait for them: a snapshot only ever names pages that are fully stored, so
 * a crash between writes costs the pages since the last write (fetched and stored again,
 * identically), never a lost item. The unit's last write goes out at once ({@link flush}).
 */
class UnitLedger {
  private readonly done = new Set<string>();
  private readonly open = new Map<string, OpenFolder>();
  private readonly incomplete: Set<string>;
  private storedPages: number;
  /** Counts and staged links recorded since the last write. */
  private pending = emptyProgress();
  private staged: StagedLink[] = [];
  private dirty = false;
  private writing: Promise<void> | undefined;
  private lastWriteAt = Date.now();
  /** Set by {@link flush}: the interval no longer holds writes back. */
  private flushing = false;
  /** Set by {@link takeUnwritten}: nothing more is written here. */
  private closing = false;
  private endWait: (() => void) | undefined;
  /** The first failed write: the unit must stop (e.g. the stream lost its claim). */
  failure: unknown;

  constructor(
    private readonly unit: UnitWork,
    start: UnitCheckpoint,
    private readonly state: UnitStatePort,
    private readonly intervalMs: number,
  ) {
    this.storedPages = start.page;
    this.incomplete = new Set(start.incompleteFolders ?? []);
    for (const id of unit.folderIds.slice(0, start.folderIndex)) this.done.add(id);
    for (const id of start.doneFolders ?? []) this.done.add(id);
    for (const f of start.openFolders ?? []) this.open.set(f.folderId, { ...f });
    const legacy = unit.folderIds[start.folderIndex];
    if (start.link !== undefined && legacy !== undefined && !this.open.has(legacy)) {
      // One-folder-at-a-time checkpoints numbered parts with the unit's page counter.
      this.open.set(legacy, { folderId: legacy, link: start.link, part: start.page });
    }
  }

  /** Indexes of the folders still to run, in plan order (folders in progress first). */
  pendingFolders(): number[] {
    const all = this.unit.folderIds.map((id, i) => ({ id, i })).filter(({ id }) => !this.done.has(id));
    return [...all.filter(({ id }) => this.open.has(id)), ...all.filter(({ id }) => !this.open.has(id))].map(
      ({ i }) => i,
    );
  }

  resumePoint(folderId: string): { link?: string; part: number } {
    const f = this.open.get(folderId);
    return f ? { link: f.link, part: f.part } : { part: 0 };
  }

  /** A page of the folder is stored (blobs and catalog part); `link` fetches the next one. */
  pageStored(folderId: string, link: string, part: number, delta: UnitProgress): void {
    this.open.set(folderId, { folderId, link, part });
    this.storedPages++;
    this.record(delta);
  }

  /**
   * The folder's round is over: its last page is stored. `deltaLink` (staged with the next
   * checkpoint) when every item of the folder was stored; without it the folder counts as
   * incomplete in this job and keeps its old sync state.
   */
  folderFinished(
    folderId: string,
    deltaLink: string | undefined,
    delta: UnitProgress,
    pageStored: boolean,
  ): void {
    this.open.delete(folderId);
    this.done.add(folderId);
    if (deltaLink === undefined) this.incomplete.add(folderId);
    else this.staged.push({ mailboxId: this.unit.mailboxId, folderId, deltaLink });
    if (pageStored) this.storedPages++;
    this.record(delta);
  }

  incompleteFolders(): string[] {
    return [...this.incomplete];
  }

  snapshot(): UnitCheckpoint {
    let low = 0;
    while (low < this.unit.folderIds.length && this.done.has(this.unit.folderIds[low]!)) low++;
    const after = new Set(this.unit.folderIds.slice(low));
    const doneFolders = [...this.done].filter((id) => after.has(id));
    return {
      folderIndex: low,
      page: this.storedPages,
      incompleteFolders: [...this.incomplete],
      ...(doneFolders.length > 0 ? { doneFolders } : {}),
      ...(this.open.size > 0 ? { openFolders: [...this.open.values()].map((f) => ({ ...f })) } : {}),
    };
  }

  /** Delta links recorded and not written yet. */
  unwrittenLinks(): number {
    return this.staged.length;
  }

  /**
   * Stops writing: waits for a write in progress, then hands over what is not written yet
   * (undefined when nothing is). Throws the first failed write.
   */
  async takeUnwritten(): Promise<LastCheckpoint | undefined> {
    this.closing = true;
    await this.settle();
    if (!this.dirty) return undefined;
    const last = { checkpoint: this.snapshot(), delta: this.pending, staged: this.staged };
    this.pending = emptyProgress();
    this.staged = [];
    this.dirty = false;
    return last;
  }

  /** Resolves when everything recorded so far is written; throws the first failed write. */
  async flush(): Promise<void> {
    this.flushing = true;
    await this.settle();
  }

  /** Cuts short a write held back by the interval, waits for the writes to end, throws the first failure. */
  private async settle(): Promise<void> {
    this.endWait?.();
    while (this.writing) await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  private record(delta: UnitProgress): void {
    addProgress(this.pending, delta);
    this.dirty = true;
    if (!this.writing && this.failure === undefined && !this.closing) this.writing = this.writeLoop();
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.dirty && this.failure === undefined) {
        const wait = this.lastWriteAt + this.intervalMs - Date.now();
        if (wait > 0 && !this.flushing) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, wait);
            this.endWait = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.endWait = undefined;
          if (this.closing) break;
        }
        this.lastWriteAt = Date.now();
        this.dirty = false;
        const counts = this.pending;
        const staged = this.staged;
        this.pending = emptyProgress();
        this.staged = [];
        await this.state.checkpoint(this.snapshot(), counts, staged);
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.writing = undefined;
    }
  }
}

/** Why a unit's folders stop before the end. */
type UnitStop = { kind: "yield" } | { kind: "mailbox"; error: unknown } | { kind: "error"; error: unknown };

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
      if (!stop && ledger.failure !== undefined) stop = { kind: "error", error: ledger.failure };
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
        if (isMailstreamError(error) && MAILBOX_LEVEL_ERRORS.has(error.name)) {
          stop ??= { kind: "mailbox", error };
        } else if (error instanceof SkipError) {
          // The folder vanished or is closed: record it and go on with the next one.
          errors.push(recorded(`folder ${folderId}`, error));
          ledger.folderFinished(folderId, undefined, emptyProgress(), false);
        } else {
          stop ??= { kind: "error", error };
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
    stop = { kind: "error", error };
  }

  if (stop?.kind === "mailbox") {
    return {
      status: "mailbox-skipped",
      progress,
      errors: [...errors, recorded(`mailbox ${unit.mailboxId}`, stop.error)],
    };
  }
  if (stop?.kind === "error") throw stop.error;
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
      if (isSyncStateLost(error) && resyncs < 2) {
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

/** Stores the MIME of every upsert of a page; returns how many items could not be stored. */
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
  await Promise.all(
    view.upserts.map(async (meta, i) => {
      try {
        const entry = await storeMessage(unit, folderId, meta, ctx);
        stored[i] = entry.entry;
        pageProgress.items++;
        pageProgress.bytes += entry.entry.size;
        if (entry.existed) pageProgress.deduplicated++;
      } catch (error) {
        failed++;
        ctx.errors.push(recorded(`message ${meta.id} in folder ${folderId}`, error));
      }
    }),
  );
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
  const blob = await pRetry(
    () =>
      ctx.transfers.add(async () => {
        try {
          // The request's slot is held until its body has been read, not while the archive
          // writes the blob: the unit's next request goes out meanwhile.
          const { storing } = await ctx.slots.add(async () => {
            const stream = await deps.source.openMime(unit.mailboxId, meta.id);
            const storing = deps.archive.storeMime(stream);
            await Promise.race([finished(stream).catch(() => {}), storing.catch(() => {})]);
            return { storing };
          });
          return await storing;
        } catch (error) {
          // Items that are gone or refused will not come back by retrying; everything else
          // (a connection dropped mid-stream, a 5xx after the gateway's own retries) may.
          if (error instanceof SkipError) throw new AbortError(error);
          throw error;
        }
      }),
    { retries: (deps.messageAttempts ?? 3) - 1, minTimeout: 200, factor: 2, randomize: true },
  );
  return {
    entry: { kind: "upsert", messageId: meta.id, folderId, sha256: blob.sha256, size: blob.size, meta },
    existed: blob.existed,
  };
}
