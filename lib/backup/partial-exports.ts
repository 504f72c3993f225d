/**
 * When a unit's partial export batch (fewer than 20 items) may leave before its unit has fetched
 * every delta page. Items still to come would have filled it: a partial batch sent early and
 * another after it is one request more than the fewest (⌈items / 20⌉ per export pool), and costs
 * its 0.4 s of a slot and the CPU of a request (session 14: the one-slot units of the skewed shape,
 * N = 16, sent 2 exports each for 6–18 items; many-small N = 64 made 507 exports where its 216
 * pools needed 216).
 *
 * Holding it costs no time: full batches leave at once, so each pool has at most one partial
 * batch waiting, and once the last page is fetched these go side by side, one round of
 * requests, as long as the unit has a slot for each pool. So a partial batch leaves early only
 *   - when no more items can come (no page chain left: every folder's pages fetched);
 *   - when the unit stayed idle over the event loop's turn (`unitIdle`): its folders wait on
 *     their own exports;
 *   - for a unit whose folders wait on their exports before their next page (`exportsHoldPages`:
 *     a folder read `b` fetches a page only once the page two before is stored, its exports
 *     included), whenever a slot is free: the rule before session 14;
 *   - when a slot would idle (fewer page chains left than slots: each folder whose pages are not
 *     all fetched is a chain of requests, one at a time) and more pools wait with a partial batch
 *     than the unit has slots, which would take more than one round at the end.
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
  /** Export pools (one per import/export mailbox) with items waiting for a request. */
  poolsWaiting: number;
  /** Nothing has been queued or running in the unit's slots since the event loop's last turn. */
  unitIdle: boolean;
  /** Some folder of the unit waits on its exports before it fetches its next page (reads `b`). */
  exportsHoldPages: boolean;
}

/** Whether a partial export batch may leave now (see the module's comment). */
export function partialExportMayLeave(state: PartialExportState): boolean {
  if (state.pageChains <= 0 || state.unitIdle) return true;
  if (state.queued > 0 || state.running >= state.slots) return false;
  if (state.exportsHoldPages) return true;
  return state.pageChains < state.slots && state.poolsWaiting > state.slots;
}
