/**
 * When a unit's partial export batch (fewer than 20 items) may leave before its unit has fetched
 * every delta page. Items still to come would have filled it: a partial batch sent early and
 * another after it is one request more than the plan counts (max(⌈items / 20⌉) for the unit), and
 * it takes a slot that a delta page or a full batch would have used. It is free only when a slot
 * would otherwise idle for a request's time.
 *
 * A slot idles when fewer page chains are left than the unit has slots: each folder whose pages
 * are not all fetched (started or not) is a chain of requests, one at a time, so with c slots and
 * fewer than c chains, a slot is free until the chains end, whatever the order. A slot seen free
 * for an instant is not enough: between a delta page's answer and its folder's next request the
 * unit's queue is empty for a few microtasks (session 14: the one-slot units of the skewed shape,
 * N = 16, sent 2 exports each for 6–18 items, one extra request of 0.4 s on their only slot).
 * The exceptions: nothing at all queued or running after the event loop's turn (`unitIdle`): the
 * unit waits on its own exports; and a unit with folders read `b` (`exportsHoldPages`: such a
 * folder fetches a page only once the page two before is stored, its exports included), whose
 * partial batch leaves on any free slot, as before session 14.
 *
 * The unit asks only after the event loop's turn (session 16): the first pages of a `$batch`
 * answer together and are stored one after another, and asked at once, the rule let a partial
 * batch leave with the first page's items and another with each next one's (many-small N = 64:
 * ≈ 3,090 requests where the fewest is 2,830). After the turn their items leave in one batch.
 * The planner starts most of a unit's folders without items last (lib/plan/plan.ts
 * `folderStartOrder`), so that the pages left when fewer chains than slots remain carry no items,
 * and the partial batches leaving beside them are the last ones. Where folders with items are
 * left then (a unit planned otherwise, or a long chain), a partial batch may still leave on a slot
 * that would idle and another follow it: with up to the slots less one exports ahead of the pages
 * (lib/backup/unit-backup.ts `EXPORT_AHEAD_PRIORITY`), the unit has fewer full batches left to
 * fill those slots at its end.
 */

/** What the unit knows when a partial batch asks to leave. */
export interface PartialExportState {
  /** The unit's request slots (its share of the mailbox's). At least 1. */
  slots: number;
  /** Requests waiting for one of the unit's slots. */
  queued: number;
  /** Requests holding one of the unit's slots. */
  running: number;
  /**
   * Folders whose delta pages are not all fetched, started or not: each a chain of page
   * requests. 0: no more items can come.
   */
  pageChains: number;
  /** Nothing has been queued or running in the unit's slots since the event loop's last turn. */
  unitIdle: boolean;
  /** Some folder of the unit waits on its exports before it fetches its next page (reads `b`). */
  exportsHoldPages: boolean;
}

/** Whether a partial export batch may leave now (see the module's comment). */
export function partialExportMayLeave(state: PartialExportState): boolean {
  if (state.pageChains <= 0) return true;
  if (state.queued > 0 || state.running >= state.slots) return false;
  return state.pageChains < state.slots || state.unitIdle || state.exportsHoldPages;
}
