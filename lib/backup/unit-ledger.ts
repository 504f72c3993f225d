/**
 * The checkpoint ledger of a running unit: where each of its folders stands, and the background
 * writes that make it durable (see {@link UnitLedger}).
 */
import type {
  LastCheckpoint,
  OpenFolder,
  StagedLink,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
  UnitWork,
} from "./ports.js";
import { addProgress, emptyProgress } from "./progress.js";

/**
 * Where each folder of a running unit stands; snapshots of it are the unit's checkpoints.
 *
 * Checkpoints are written in the background, one at a time and at most one per interval, each
 * with the newest snapshot, every count and every staged delta link recorded since the previous
 * write. Folders do not wait for them: a snapshot only ever names pages that are fully stored, so
 * a crash between writes costs the pages since the last write (fetched and stored again,
 * identically), never a lost item. The unit's last write goes out at once ({@link flush}).
 */
export class UnitLedger {
  private readonly done = new Set<string>();
  private readonly open = new Map<string, OpenFolder>();
  private readonly incomplete: Set<string>;
  private storedPages: number;
  /** Counts and staged links recorded since the last write. */
  private pending = emptyProgress();
  private staged: StagedLink[] = [];
  private dirty = false;
  /**
   * Counts recorded by folders that changed nothing ({@link folderUnchanged}): they start no
   * write of their own, and go with the next one (or the unit's end).
   */
  private lazyCounts = false;
  private writing: Promise<void> | undefined;
  private lastWriteAt = Date.now();
  /** Set by {@link flush}: the interval no longer holds writes back. */
  private flushing = false;
  /** Set by {@link takeUnwritten}: nothing more is written here. */
  private closing = false;
  /** Set by {@link holdWrites}: no write starts until {@link flush} or {@link takeUnwritten}. */
  private holding = false;
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
    via?: "items",
  ): void {
    this.open.delete(folderId);
    this.done.add(folderId);
    if (deltaLink === undefined) this.incomplete.add(folderId);
    else this.staged.push({ mailboxId: this.unit.mailboxId, folderId, deltaLink, ...(via ? { via } : {}) });
    if (pageStored) this.storedPages++;
    this.record(delta);
  }

  /**
   * The folder's round is over and found no change: it keeps its committed sync state (nothing
   * staged). No checkpoint is written for it alone: a crash before the next one reads the folder's
   * one delta page again, which costs less than a write.
   */
  folderUnchanged(folderId: string, delta: UnitProgress): void {
    this.open.delete(folderId);
    this.done.add(folderId);
    this.storedPages++;
    addProgress(this.pending, delta);
    this.lazyCounts = true;
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
    if (!this.dirty && !this.lazyCounts) return undefined;
    const last = { checkpoint: this.snapshot(), delta: this.pending, staged: this.staged };
    this.pending = emptyProgress();
    this.staged = [];
    this.dirty = false;
    this.lazyCounts = false;
    return last;
  }

  /**
   * Starts no write until {@link flush} or {@link takeUnwritten} (a write in progress goes on):
   * for the unit's end, whose last pages are recorded at once when their parts are written, so
   * that what they record rides with the unit's end instead of a write of its own just before it.
   */
  holdWrites(): void {
    this.holding = true;
  }

  /** Resolves when everything recorded so far is written; throws the first failed write. */
  async flush(): Promise<void> {
    this.flushing = true;
    this.holding = false;
    if (this.dirty && !this.writing && this.failure === undefined && !this.closing) {
      this.writing = this.writeLoop();
    }
    await this.settle();
    // Counts of unchanged folders waited for a write: this is the last one.
    if (this.lazyCounts && this.failure === undefined) {
      this.record(emptyProgress());
      await this.settle();
    }
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
    if (!this.writing && this.failure === undefined && !this.closing && !this.holding) {
      this.writing = this.writeLoop();
    }
  }

  private async writeLoop(): Promise<void> {
    try {
      // Closing: what is recorded after the write in flight goes to the caller, not here (and
      // never after a wait for the interval: takeUnwritten would wait for it, up to the interval).
      while (this.dirty && this.failure === undefined && !this.closing && !this.holding) {
        // A commit records its pages one after another in one go: let it finish, so that one
        // write carries them all instead of the first alone and the rest an interval later.
        await Promise.resolve();
        if (this.closing || this.holding) break;
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
          if (this.closing || this.holding) break;
        }
        this.lastWriteAt = Date.now();
        this.dirty = false;
        this.lazyCounts = false;
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
