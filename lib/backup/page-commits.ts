/**
 * The stored pages of a running unit whose catalog parts are held back, so that the mailbox's
 * pack fills over many pages instead of being written at every page (see {@link PageCommits}).
 */
import PQueue from "p-queue";
import type { ArchiveSink, CatalogEntry, CatalogPartKey } from "./ports.js";

/** A page whose items are stored (packed bodies still in the open pack), waiting for its part. */
export interface HeldPage {
  /** Its catalog part; absent for a page that changed nothing (or a folder's end alone). */
  part?: { key: CatalogPartKey; entries: CatalogEntry[] };
  /** Records the page (or the folder's end) in the unit's ledger, once its part is written. */
  record: () => void;
}

export interface PageHoldOptions {
  /** Pages held at most before their parts are written, 1..1000. Default 64. */
  maxPages?: number;
  /**
   * Longest time a page is held, ms, 0..600 000 (0: written at once): a crash re-reads at most
   * the pages of this long. Default 20 000.
   */
  maxHoldMs?: number;
  /**
   * Bytes of the mailbox's packed bodies waiting (open pack, packs being written) at which the
   * held pages are written: a full pack is written anyway. Default 8 MiB (a pack's size).
   */
  packBytes?: number;
}

export const PAGE_HOLD_DEFAULTS = { maxPages: 64, maxHoldMs: 20_000, packBytes: 8 * 1024 * 1024 } as const;

/** Catalog parts written at once by a commit (S3 PUTs in flight). */
const PART_WRITES_AT_ONCE = 16;

/**
 * Holds a unit's stored pages, in the order they were stored, and commits them together: writes
 * their catalog parts (which first makes the bodies they name durable: one pack write for many
 * pages), then records them in the ledger in order, so that a checkpoint never moves past a
 * page whose part is not written. Commits happen when `maxPages` are held, when the oldest was
 * held `maxHoldMs`, when the mailbox's waiting pack bytes reach `packBytes`, and when the unit
 * ends or stops ({@link commit}). A commit that fails fails every later one: no page after an
 * unwritten part is ever recorded (the unit stops, and its pages are fetched again).
 */
export class PageCommits {
  private held: HeldPage[] = [];
  private heldSince = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly maxPages: number;
  private readonly maxHoldMs: number;
  private readonly packBytes: number;
  /** The first failed commit: the unit must stop. */
  failure: unknown;

  constructor(
    private readonly archive: ArchiveSink,
    private readonly mailboxId: string,
    opts: PageHoldOptions = {},
  ) {
    this.maxPages = Math.max(1, opts.maxPages ?? PAGE_HOLD_DEFAULTS.maxPages);
    this.maxHoldMs = Math.max(0, opts.maxHoldMs ?? PAGE_HOLD_DEFAULTS.maxHoldMs);
    this.packBytes = opts.packBytes ?? PAGE_HOLD_DEFAULTS.packBytes;
  }

  /** Holds a page; resolves at once, or when the commit it triggered has ended (throws its failure). */
  async hold(page: HeldPage): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.held.length === 0) {
      this.heldSince = Date.now();
      if (this.maxHoldMs > 0) {
        this.timer = setTimeout(() => this.commit().catch(() => {}), this.maxHoldMs);
        this.timer.unref?.();
      }
    }
    this.held.push(page);
    const due =
      this.maxHoldMs === 0 ||
      this.held.length >= this.maxPages ||
      Date.now() - this.heldSince >= this.maxHoldMs ||
      (this.archive.pendingPackBytes?.(this.mailboxId) ?? 0) >= this.packBytes;
    if (due) await this.commit();
  }

  /** Writes the parts of every page held now and records them; throws the first failed commit. */
  commit(): Promise<void> {
    const batch = this.held;
    this.held = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.chain.then(async () => {
      if (this.failure !== undefined) throw this.failure;
      try {
        const parts = batch.flatMap((p) => (p.part ? [p.part] : []));
        // A window of writes in flight, not rounds: the next part goes as soon as one is written,
        // instead of after the slowest of its round (a unit's end writes 10–30 parts). After a
        // failure no more start (the pages are fetched and their parts written again).
        let failed = false;
        await new PQueue({ concurrency: PART_WRITES_AT_ONCE }).addAll(
          parts.map((p) => async () => {
            if (failed) return;
            await this.archive.writeCatalogPart(p.key, p.entries).catch((error: unknown) => {
              failed = true;
              throw error;
            });
          }),
        );
      } catch (error) {
        this.failure = error;
        throw error;
      }
      for (const p of batch) p.record();
    });
    this.chain = run.catch(() => {});
    return run;
  }
}
