/**
 * Export requests shared by the folders of a unit: the items of one mailbox that its pages want
 * exported wait here, and each export request takes its batch (up to 20 items, about 8 MB) only
 * when it gets a request slot. While the slots are busy, the items of several small folders
 * gather into one request instead of one request per folder. A mailbox of many small folders
 * (calendars, contacts, a few mails per folder) needs about ⌈items / 20⌉ export requests instead
 * of one per folder.
 *
 * A full batch gets its request at once. A partial one (the items left over, fewer than a batch)
 * gets one when `sendPartial` says so: by default at once (batching never delays an item); a unit
 * says so once no more items can come, or early only where holding the batch would cost time
 * (lib/backup/partial-exports.ts), and calls {@link ExportPool.poke} when that changes, so that
 * the partial batch takes no slot that a full batch or a delta page could use, nor a request
 * that the items still to come would have filled.
 */
import { EXPORT_BATCH_LIMIT, exportBatchesOf } from "./export-batches.js";

/** What became of one pooled item: its value, or the error that is the item's to record. */
export type PooledOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs one export request. `take` gives the request's batch the first time it is called (call it
 * once the request holds its slot) and the same batch on every later call (a retry); an empty
 * batch means other requests took every item: send nothing. Resolves with the outcome of each
 * item of the batch by id (an item left out counts as failed); a rejection fails every item of
 * the batch with its error.
 */
export type ExportRequest<I, T> = (take: () => I[]) => Promise<Map<string, PooledOutcome<T>>>;

interface Waiting<I, T> {
  item: I;
  settle(outcome: PooledOutcome<T>): void;
}

export class ExportPool<I extends { id: string; size?: number }, T> {
  private readonly waiting: Array<Waiting<I, T>> = [];
  /** Requests started that have not taken their batch yet. */
  private untaken = 0;

  private readonly sendPartial: () => boolean;
  private readonly onTaken: () => void;

  constructor(
    private readonly request: ExportRequest<I, T>,
    options: {
      /** Whether a partial batch may leave now. Default: always (batching never delays an item). */
      sendPartial?: () => boolean;
      /** Called when items leave the waiting list (taken by a request, or failed with it). */
      onTaken?: () => void;
    } = {},
  ) {
    this.sendPartial = options.sendPartial ?? (() => true);
    this.onTaken = options.onTaken ?? (() => {});
  }

  /** Items waiting for a request to take them. */
  get waitingItems(): number {
    return this.waiting.length;
  }

  /** Pools `items`; resolves with each one's outcome, in their order. */
  add(items: readonly I[]): Promise<PooledOutcome<T>[]> {
    const outcomes = items.map(
      (item) => new Promise<PooledOutcome<T>>((settle) => this.waiting.push({ item, settle })),
    );
    this.startRequests();
    return Promise.all(outcomes);
  }

  /** Sends the partial batch waiting, if any, when `sendPartial` now says so. */
  poke(): void {
    if (this.waiting.length > 0) this.startRequests();
  }

  /**
   * Starts requests until those that have not taken their batch yet can carry every waiting item
   * (the last, partial batch only when `sendPartial` says so).
   */
  private startRequests(): void {
    // Counted again after each start: a request may take its batch at once (a free slot).
    while (this.untaken < this.batchesToSend()) this.start();
  }

  /** The waiting items' batches that may leave now: the full ones, and the partial one if allowed. */
  private batchesToSend(): number {
    const batches = exportBatchesOf(this.waiting.map((w) => w.item));
    const last = batches.at(-1);
    if (last === undefined || last.length >= EXPORT_BATCH_LIMIT) return batches.length;
    return this.sendPartial() ? batches.length : batches.length - 1;
  }

  private start(): void {
    this.untaken++;
    let taken: Array<Waiting<I, T>> | undefined;
    const take = (): I[] => {
      if (!taken) {
        this.untaken--;
        const size = exportBatchesOf(this.waiting.map((w) => w.item))[0]?.length ?? 0;
        taken = this.waiting.splice(0, size);
        // What is left may need another request (a batch cut short by size).
        this.startRequests();
        this.onTaken();
      }
      return taken.map((w) => w.item);
    };
    this.request(take).then(
      (outcomes) => {
        for (const w of taken ?? []) {
          w.settle(
            outcomes.get(w.item.id) ?? {
              ok: false,
              error: new Error(`export of item ${w.item.id}: expected an outcome of its request, found none`),
            },
          );
        }
        if (!taken) {
          this.untaken--;
          this.startRequests();
        }
      },
      (error: unknown) => {
        if (taken) {
          for (const w of taken) w.settle({ ok: false, error });
          return;
        }
        // The request failed before it could take a batch: fail what waits rather than start
        // request after request that may fail the same way.
        this.untaken--;
        for (const w of this.waiting.splice(0)) w.settle({ ok: false, error });
        this.onTaken();
      },
    );
  }
}
