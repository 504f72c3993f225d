/**
 * First item delta pages of a unit's folders sent together in one `$batch` (session 15).
 *
 * Most folders of a mailbox fit in one delta page (many-small: ≈ 16 folders a mailbox, 2,600 of
 * its 3,135 requests), so a backup is mostly single-page requests, and each one's own HTTP
 * exchange (TLS write, HTTP parse, the Graph client's middleware, the request policy, on the
 * harness's and on the service's side) costs more CPU than its answer. Here, the first pages of
 * the folders whose requests hold one of the unit's slots at the same moment (those that start in
 * the same turn of the event loop, typically when a batch's answer frees its slots together) go
 * out as one `$batch` of k inner requests.
 *
 * Slots stay honest: each inner request keeps the unit slot (and stream slot) it was started on,
 * and the batch holds min(k, 4) of the mailbox's slots in the gateway (Outlook runs 4 inner
 * requests of a batch at a time), so a batch never runs more of the mailbox's requests at once
 * than the requests it replaces would, nor waits for slots it does not hold. No wait is added: a
 * request alone in its turn goes alone. A throttled or unavailable inner request goes again alone
 * through the gateway's retries (its mailbox's gate closed for its `Retry-After`), so that one
 * retry does not hold the other pages' slots. Each page is then stored, held and checkpointed as
 * a page fetched alone: a crash mid-batch loses nothing (the folders' links were not yet moved).
 */
import type { FirstPageAnswer, ItemMailbox, MailSource } from "./ports.js";

/** Outlook runs this many inner requests of a batch at a time: the most slots a unit holds. */
export const FIRST_PAGE_BATCH_LIMIT = 4;

/** A configured batch size within bounds (1–4); absent: 4. */
export function firstPageBatchOf(size: number | undefined): number {
  return Math.min(FIRST_PAGE_BATCH_LIMIT, Math.max(1, Math.floor(size ?? FIRST_PAGE_BATCH_LIMIT)));
}

interface Waiting {
  folderId: string;
  from: string | undefined;
  resolve: (answer: FirstPageAnswer) => void;
}

/**
 * The batch sizes `count` requests of one mailbox go out in, at most `limit` each: full batches,
 * then the rest; a request left alone goes alone (size 1).
 */
export function firstPageBatchSizes(count: number, limit: number): number[] {
  const sizes: number[] = [];
  for (let left = count; left > 0; left -= limit) sizes.push(Math.min(limit, left));
  return sizes;
}

export class FirstPageBatches {
  private readonly waiting = new Map<string, { mailbox: ItemMailbox; entries: Waiting[] }>();
  private flushing: NodeJS.Immediate | undefined;

  /**
   * @param send the source's batch of first pages.
   * @param limit most pages in one batch (1–4; 1 sends every page alone).
   */
  constructor(
    private readonly send: NonNullable<MailSource["itemDeltaFirstPages"]>,
    private limit: number,
  ) {}

  /**
   * The first page of a folder's round from `from` (or an initial round), fetched by a request
   * that holds one of the unit's slots until it settles: in a batch with the other first pages
   * asked in the same turn of the event loop, or `{ alone: true }` when none was (the caller
   * fetches it alone on its slot).
   */
  fetch(mailbox: ItemMailbox, folderId: string, from: string | undefined): Promise<FirstPageAnswer> {
    if (this.limit <= 1) return Promise.resolve({ alone: true });
    return new Promise<FirstPageAnswer>((resolve) => {
      let group = this.waiting.get(mailbox.apiId);
      if (!group) {
        group = { mailbox, entries: [] };
        this.waiting.set(mailbox.apiId, group);
      }
      group.entries.push({ folderId, from, resolve });
      // After the turn: the other requests whose slots freed with this one's have started.
      this.flushing ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushing = undefined;
    const groups = [...this.waiting.values()];
    this.waiting.clear();
    for (const { mailbox, entries } of groups) {
      let at = 0;
      for (const size of firstPageBatchSizes(entries.length, this.limit)) {
        const batch = entries.slice(at, at + size);
        at += size;
        if (size === 1) {
          (batch[0] as Waiting).resolve({ alone: true });
          continue;
        }
        this.send(
          mailbox,
          batch.map((w) => ({ folderId: w.folderId, from: w.from })),
        ).then(
          (answers) => {
            for (const [i, w] of batch.entries()) w.resolve(answers[i] ?? { alone: true });
          },
          // The batch failed as a whole (after the gateway's retries, or refused outright): each
          // page goes alone, where it meets a single request's handling (its own error, if any).
          // The unit sends no more batches: one that failed whole would likely fail again.
          () => {
            this.limit = 1;
            for (const w of batch) w.resolve({ alone: true });
          },
        );
      }
    }
  }
}
