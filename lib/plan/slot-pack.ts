/**
 * Slot packing (plan.ts): the mailboxes that may share a stream are laid out one after another
 * along the streams' request slots, each slot filled to a common finish (`capacitySeconds`) with
 * folder groups of one slot each, like text along lines: a mailbox begins in the slot where the
 * one before it ended and goes on in the next slots; where it is cut, each piece is a unit of
 * concurrency 1. A mailbox is cut into at most C (`perMailboxConcurrency`) pieces, so its units
 * may all run at once within its 4 concurrent requests whatever the order they are claimed in.
 *
 * Why: slot shares of 4, 2 and 1 (split.ts `shareMailbox`) give a mailbox whole slots for the
 * target's time, so 24 mailboxes of ≈ 14–20 requests on 16 streams × 4 slots, where LB asks ≈ 9
 * requests a slot, leave slots idle at the end (the skewed shape at N = 16: 1.20 × LB planned);
 * pieces of one slot cut at folder boundaries fill each slot to within a folder.
 *
 * The pieces are handed out by their start in the layout (`startSeconds`): all slots' first
 * pieces at once, then each slot's next piece when its previous ends, so that streams pulling the
 * units in that order reproduce the layout while the units take about their estimates.
 */
import { addWork, noWork } from "./cost.js";
import type { PlanLimits } from "./limits.js";
import { type FolderWork, MAX_FOLDERS_PER_UNIT, mayShare } from "./split.js";
import type { WorkEstimate } from "./types.js";

/** One unit of a slot layout: a folder group of one mailbox on one slot. */
export interface SlotPiece {
  /** Index of the mailbox in the input. */
  mailbox: number;
  folderIds: string[];
  work: WorkEstimate;
  /** The slot it is laid on (0 … slots − 1). */
  slot: number;
  /** When it starts in the layout, seconds: the end of the slot's pieces before it. */
  startSeconds: number;
  /** The pieces its mailbox was cut into (its units' budget share is 1 / pieces). */
  pieces: number;
}

/**
 * Seconds a piece holds its slot: its requests one after another, plus the unit overhead. The
 * pieces are of mailboxes of at most one window's requests (`mayShare`): no budget wait.
 */
export function pieceSeconds(work: WorkEstimate, limits: PlanLimits): number {
  return work.serialSeconds + limits.unitOverheadSeconds;
}

/**
 * Whether a mailbox is laid out along the slots at `capacitySeconds`: it may share a stream, and
 * it fits in C − 1 slots' room, so that wherever it begins it is cut into at most C pieces.
 */
export function packable(work: WorkEstimate, capacitySeconds: number, limits: PlanLimits): boolean {
  const room = capacitySeconds - limits.unitOverheadSeconds;
  return mayShare(work, limits) && work.serialSeconds <= (limits.perMailboxConcurrency - 1) * room;
}

/**
 * Lays out `mailboxes` (each its folders, in the order given: longest first is best) on `slots`
 * slots of `capacitySeconds` each. A piece takes, largest first, the mailbox's folders that fit
 * the room left in its slot; what does not fit begins the next slot. A mailbox's last allowed
 * piece (its C-th) takes all its folders left, in a fresh slot when they do not fit the current
 * one. Slots whose room left is below `minimumPieceSeconds` are closed. Undefined when the
 * mailboxes do not fit in the slots, or a piece would hold more than `MAX_FOLDERS_PER_UNIT`.
 */
export function packSlots(
  mailboxes: ReadonlyArray<{ mailbox: number; folders: readonly FolderWork[] }>,
  slots: number,
  capacitySeconds: number,
  limits: PlanLimits,
  minimumPieceSeconds = limits.requestLatencySeconds,
): SlotPiece[] | undefined {
  const overhead = limits.unitOverheadSeconds;
  const maxPieces = limits.perMailboxConcurrency;
  const pieces: SlotPiece[] = [];
  let slot = 0;
  let used = 0;
  const nextSlot = () => {
    slot++;
    used = 0;
  };
  for (const { mailbox, folders } of mailboxes) {
    let left = folders
      .filter((f) => f.work.requests > 0 || f.work.serialSeconds > 0)
      .sort((a, b) => b.work.serialSeconds - a.work.serialSeconds);
    // Folders of no work (none here: every folder costs a delta page) still need a unit.
    if (left.length === 0) left = [...folders];
    if (left.length === 0) continue;
    const mine: SlotPiece[] = [];
    while (left.length > 0) {
      if (slot >= slots) return undefined;
      const room = capacitySeconds - used - overhead;
      const last = mine.length === maxPieces - 1;
      let taken: FolderWork[];
      if (last) {
        const total = left.reduce((w, f) => addWork(w, f.work), noWork);
        if (total.serialSeconds > room * (1 + 1e-9) && used > 0) {
          nextSlot();
          continue;
        }
        taken = left;
      } else {
        if (room < minimumPieceSeconds) {
          nextSlot();
          continue;
        }
        taken = [];
        let seconds = 0;
        for (const f of left) {
          if (seconds + f.work.serialSeconds <= room * (1 + 1e-9)) {
            taken.push(f);
            seconds += f.work.serialSeconds;
          }
        }
        if (taken.length === 0) {
          // Not even its smallest folder fits: a fresh slot (one that is empty takes the largest).
          if (used > 0) {
            nextSlot();
            continue;
          }
          taken = [left[0]!];
        }
      }
      if (taken.length > MAX_FOLDERS_PER_UNIT) return undefined;
      const inPiece = new Set(taken);
      left = left.filter((f) => !inPiece.has(f));
      const work = taken.reduce((w, f) => addWork(w, f.work), noWork);
      // Keep the folders in the mailbox's order, as other units do.
      const order = new Map(folders.map((f, i) => [f.folderId, i]));
      mine.push({
        mailbox,
        folderIds: taken.map((f) => f.folderId).sort((a, b) => order.get(a)! - order.get(b)!),
        work,
        slot,
        startSeconds: used,
        pieces: 0,
      });
      used += pieceSeconds(work, limits);
      if (left.length > 0) nextSlot();
    }
    for (const piece of mine) piece.pieces = mine.length;
    pieces.push(...mine);
  }
  return pieces;
}

/**
 * The pieces in the order streams should claim them: by their start in the layout, the longer
 * first among pieces that start together (as the schedule's longest-first order does).
 */
export function pieceOrder(pieces: readonly SlotPiece[], limits: PlanLimits): SlotPiece[] {
  return [...pieces].sort(
    (a, b) =>
      a.startSeconds - b.startSeconds ||
      pieceSeconds(b.work, limits) - pieceSeconds(a.work, limits) ||
      a.slot - b.slot,
  );
}
