/**
 * Slot packing (plan.ts): the mailboxes that fit C slots' room (`packable`) are laid out one after
 * another along the streams' request slots, each slot filled to a common finish (`capacitySeconds`) with
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
 * units in that order reproduce the layout while the units take about their estimates. A stream's
 * slots (lanes) start together at the job's start (its first task claims them at once), one
 * claim after another after a head unit (plan.ts gives their starts: `claimSeconds` apart).
 */
import { addWork, noWork } from "./cost.js";
import type { PlanLimits } from "./limits.js";
import { type FolderWork, MAX_FOLDERS_PER_UNIT, mayShare } from "./split.js";
import type { WorkEstimate } from "./types.js";

/** A lane of the layout: `width` request slots of one stream, free from `startSeconds` on. */
export interface Lane {
  startSeconds: number;
  width: number;
}

/** One unit of a slot layout: a folder group of one mailbox on one lane. */
export interface SlotPiece {
  /** Index of the mailbox in the input. */
  mailbox: number;
  folderIds: string[];
  work: WorkEstimate;
  /** The lane it is laid on (an index into the lanes given). */
  lane: number;
  /** Its concurrency: the lane's width. */
  width: number;
  /** When it starts in the layout, seconds: the end of the lane's pieces before it. */
  startSeconds: number;
  /** The pieces its mailbox was cut into (its units' budget share is 1 / pieces). */
  pieces: number;
}

/**
 * Seconds a piece holds its lane: its requests on the lane's slots, plus the unit overhead. The
 * pieces are of mailboxes of at most one window's requests (`mayShare`): no budget wait.
 */
export function pieceSeconds(work: WorkEstimate, width: number, limits: PlanLimits): number {
  return work.serialSeconds / width + limits.unitOverheadSeconds;
}

/**
 * Whether a mailbox may be laid out along the lanes at `capacitySeconds`: it may share a stream,
 * and its requests fit in C slots' room (on lanes of C slots in all, its pieces may run at once
 * within its C concurrent requests).
 */
export function packable(work: WorkEstimate, capacitySeconds: number, limits: PlanLimits): boolean {
  const room = capacitySeconds - limits.unitOverheadSeconds;
  return mayShare(work, limits) && work.serialSeconds <= limits.perMailboxConcurrency * room;
}

/** Where a layout stands: the lane being filled and where its next piece would start. */
interface Cursor {
  lane: number;
  used: number;
}

/**
 * Lays out `mailboxes` (each its folders, in the order given: longest first is best) along
 * `lanes`, each filled up to `capacitySeconds`. A piece takes, largest first, the mailbox's
 * folders that fit the room left in its lane; what does not fit begins the next lane. The widths
 * of a mailbox's pieces sum to at most C (`perMailboxConcurrency`): a lane wider than what the
 * mailbox has left is passed, and the piece that uses its last slots takes all its folders left,
 * in a fresh lane when they do not fit the current one. A mailbox that cannot be laid from where
 * the one before it ended begins a fresh lane instead. Lanes whose room left is below
 * `minimumPieceSeconds` are closed. Undefined when the mailboxes do not fit in the lanes, or a
 * piece would hold more than `MAX_FOLDERS_PER_UNIT` folders.
 */
export function packSlots(
  mailboxes: ReadonlyArray<{ mailbox: number; folders: readonly FolderWork[] }>,
  lanes: readonly Lane[],
  capacitySeconds: number,
  limits: PlanLimits,
  minimumPieceSeconds = limits.requestLatencySeconds,
): SlotPiece[] | undefined {
  const pieces: SlotPiece[] = [];
  const fresh = (lane: number): Cursor => ({ lane, used: lanes[lane]?.startSeconds ?? 0 });
  let at = fresh(0);
  for (const { mailbox, folders } of mailboxes) {
    const lay = (from: Cursor) =>
      layMailbox(mailbox, folders, from, lanes, capacitySeconds, limits, minimumPieceSeconds);
    let laid = lay(at);
    if (!laid && at.lane < lanes.length && at.used > lanes[at.lane]!.startSeconds)
      laid = lay(fresh(at.lane + 1));
    if (!laid) return undefined;
    pieces.push(...laid.pieces);
    at = laid.at;
  }
  return pieces;
}

/** One mailbox's pieces from `from` on (see `packSlots`), and where the layout stands after them. */
function layMailbox(
  mailbox: number,
  folders: readonly FolderWork[],
  from: Cursor,
  lanes: readonly Lane[],
  capacitySeconds: number,
  limits: PlanLimits,
  minimumPieceSeconds: number,
): { pieces: SlotPiece[]; at: Cursor } | undefined {
  const overhead = limits.unitOverheadSeconds;
  const C = limits.perMailboxConcurrency;
  let { lane, used } = from;
  const nextLane = () => {
    lane++;
    used = lanes[lane]?.startSeconds ?? 0;
  };
  const isFresh = () => used <= lanes[lane]!.startSeconds;
  let left = [...folders].sort((a, b) => b.work.serialSeconds - a.work.serialSeconds);
  const mine: SlotPiece[] = [];
  let widthUsed = 0;
  // Keep each piece's folders in the mailbox's order, as other units do.
  const order = new Map(folders.map((f, i) => [f.folderId, i]));
  while (left.length > 0) {
    if (lane >= lanes.length) return undefined;
    const { width } = lanes[lane]!;
    if (widthUsed + width > C) {
      nextLane();
      continue;
    }
    // The room left in the lane, as back-to-back seconds of requests on its width.
    const room = (capacitySeconds - used - overhead) * width;
    let taken: FolderWork[];
    if (widthUsed + width === C) {
      const total = left.reduce((w, f) => addWork(w, f.work), noWork);
      if (total.serialSeconds > room * (1 + 1e-9)) {
        if (isFresh()) return undefined;
        nextLane();
        continue;
      }
      taken = left;
    } else {
      if (room < minimumPieceSeconds * width && !isFresh()) {
        nextLane();
        continue;
      }
      taken = [];
      let work: WorkEstimate = noWork;
      for (const f of left) {
        const more = addWork(work, f.work);
        if (more.serialSeconds <= room * (1 + 1e-9)) {
          taken.push(f);
          work = more;
        }
      }
      if (taken.length === 0) {
        // Not even its smallest folder fits: a fresh lane (one that is fresh takes the largest).
        if (!isFresh()) {
          nextLane();
          continue;
        }
        taken = [left[0]!];
      }
    }
    if (taken.length > MAX_FOLDERS_PER_UNIT) return undefined;
    const inPiece = new Set(taken);
    left = left.filter((f) => !inPiece.has(f));
    const work = taken.reduce((w, f) => addWork(w, f.work), noWork);
    mine.push({
      mailbox,
      folderIds: taken.map((f) => f.folderId).sort((a, b) => order.get(a)! - order.get(b)!),
      work,
      lane,
      width,
      startSeconds: used,
      pieces: 0,
    });
    widthUsed += width;
    used += pieceSeconds(work, width, limits);
    if (left.length > 0) nextLane();
  }
  for (const piece of mine) piece.pieces = mine.length;
  return { pieces: mine, at: { lane, used } };
}

/**
 * The pieces in the order streams should claim them: by their start in the layout, the wider and
 * then the longer first among pieces that start together (as the schedule's order does).
 */
export function pieceOrder(pieces: readonly SlotPiece[], limits: PlanLimits): SlotPiece[] {
  return [...pieces].sort(
    (a, b) =>
      a.startSeconds - b.startSeconds ||
      b.width - a.width ||
      pieceSeconds(b.work, b.width, limits) - pieceSeconds(a.work, a.width, limits) ||
      a.lane - b.lane,
  );
}
