/**
 * Stream bins (plan.ts): the mailboxes packed into the streams by their slot-seconds, so that each
 * stream's units together fill its C_stream slots to a common end, every unit a start unit.
 *
 * A unit of a fixed share (planned slot shares, slot packing) ends when its own requests on its
 * own slots are done: with units of 1–2 slots and folders that cannot be cut, streams end up to a
 * few rounds apart (the benchmark's skewed shape at N = 16: units of 1 slot and 10–11 requests
 * where LB is 8.7 rounds). In a bin, a mailbox that is whole on its stream borrows the slots the
 * stream's other units leave (`maxConcurrency`: its mailbox has no other unit, so it never runs
 * more than C), so the stream works like one pool of C_stream slots over its bin: it ends when
 * the bin's slot-seconds are done, as long as a whole mailbox is left to fill the slots. A
 * mailbox that does not fit a bin's room is cut into pieces (folder groups) in the bins with the
 * most room; a piece has a fixed share (the slots that end it in time), the pieces of one mailbox
 * at most C together, so they may run at once on different streams.
 */
import { addWork, noWork } from "./cost.js";
import type { PlanLimits } from "./limits.js";
import { type FolderWork, MAX_FOLDERS_PER_UNIT } from "./split.js";
import type { WorkEstimate } from "./types.js";

/** One unit of a bin: a whole mailbox (it may borrow its stream's free slots) or a piece of one. */
export interface BinUnit {
  /** The mailbox's position in the planner's input. */
  mailbox: number;
  folderIds: string[];
  work: WorkEstimate;
  /** Its share of the stream's slots (its `concurrency`). ≥ 1. */
  share: number;
  /** The whole mailbox: it may use every slot its stream leaves free. */
  whole: boolean;
  /** Units its mailbox was cut into (1 when whole). */
  pieces: number;
  /** Its mailbox's `padSeconds`: counted in its share. */
  padSeconds?: number;
}

export interface BinMailbox {
  mailbox: number;
  /** Its folders in the planner's order. */
  folders: readonly FolderWork[];
  work: WorkEstimate;
  /**
   * Room each of its units takes besides its folders' work, seconds of one slot: a unit pools its
   * exports, ⌈items / 20⌉ of them where the work counts items / 20, so each unit (each piece of a
   * cut mailbox) makes half a request more on average (bench/README, *Slot packing*). ≥ 0.
   */
  padSeconds?: number;
}

/**
 * Packs `mailboxes` into `bins` streams of `limits.perStreamConcurrency` slots, each slot with
 * `slotSeconds` of room (a unit's overhead already taken off): largest mailbox first into the bin
 * with the most room, whole where it fits, else its largest folders that fit there as a piece and
 * the rest on into the next bins with the most room. Shares: a piece gets the slots its work
 * needs within `slotSeconds`; a bin's whole mailboxes share the slots its pieces leave (≥ 1 each).
 * Undefined when it does not fit: a folder larger than every bin's room, a mailbox in more than C
 * pieces or pieces of more than C slots, a bin of more units than slots.
 */
export function packStreamBins(
  mailboxes: readonly BinMailbox[],
  bins: number,
  slotSeconds: number,
  limits: PlanLimits,
): BinUnit[][] | undefined {
  const C = limits.perStreamConcurrency;
  if (!(slotSeconds > 0) || bins < 1) return undefined;
  const room = new Array<number>(bins).fill(C * slotSeconds);
  const packed: BinUnit[][] = Array.from({ length: bins }, () => []);
  const roomiest = () => {
    let best = -1;
    for (let b = 0; b < bins; b++) {
      if (packed[b]!.length >= C) continue;
      if (best < 0 || room[b]! > room[best]! + 1e-9) best = b;
    }
    return best;
  };
  /** The bin with the least room that still holds `seconds` (and a free slot), or -1. */
  const tightest = (seconds: number) => {
    let best = -1;
    for (let b = 0; b < bins; b++) {
      if (packed[b]!.length >= C || seconds > room[b]! * (1 + 1e-9)) continue;
      if (best < 0 || room[b]! < room[best]! - 1e-9) best = b;
    }
    return best;
  };
  const order = mailboxes
    .map((_, i) => i)
    .sort((a, b) => mailboxes[b]!.work.serialSeconds - mailboxes[a]!.work.serialSeconds || a - b);
  for (const i of order) {
    const { mailbox, folders, work } = mailboxes[i]!;
    const pad = Math.max(0, mailboxes[i]!.padSeconds ?? 0);
    if (work.requests <= 0) continue;
    // Largest folders first: what is left to place of the mailbox.
    let rest = folders
      .map((_, f) => f)
      .filter((f) => folders[f]!.work.requests > 0 || folders.length === 1)
      .sort((a, b) => folders[b]!.work.serialSeconds - folders[a]!.work.serialSeconds || a - b);
    const cut: Array<{ bin: number; members: number[]; pad?: number }> = [];
    while (rest.length > 0) {
      const restSeconds = rest.reduce((sum, f) => sum + folders[f]!.work.serialSeconds, 0);
      // Whole (or its last piece) into the bin it fills best; else cut into the roomiest.
      const fitting = tightest(restSeconds + pad);
      const bin = fitting >= 0 ? fitting : roomiest();
      if (bin < 0 || cut.length >= C) return undefined;
      if (restSeconds + pad <= room[bin]! * (1 + 1e-9)) {
        cut.push({ bin, members: rest });
        room[bin]! -= restSeconds + pad;
        rest = [];
        break;
      }
      const members: number[] = [];
      let used = pad;
      for (const f of rest) {
        const seconds = folders[f]!.work.serialSeconds;
        if (used + seconds <= room[bin]! * (1 + 1e-9)) {
          members.push(f);
          used += seconds;
        }
      }
      if (members.length === 0) return undefined;
      cut.push({ bin, members, pad });
      room[bin]! -= used;
      const taken = new Set(members);
      rest = rest.filter((f) => !taken.has(f));
    }
    // Folders without requests (none in a mailbox with work but a listing's odd ones) ride along
    // with the first piece, in the folders' order.
    const placed = new Set(cut.flatMap((c) => c.members));
    const idle = folders.map((_, f) => f).filter((f) => !placed.has(f));
    if (cut.length > 0) cut[0]!.members.push(...idle);
    for (const { bin, members } of cut) {
      if (members.length > MAX_FOLDERS_PER_UNIT) return undefined;
      members.sort((a, b) => a - b);
      packed[bin]!.push({
        mailbox,
        folderIds: members.map((f) => folders[f]!.folderId),
        work: members.reduce((w, f) => addWork(w, folders[f]!.work), noWork),
        share: 0,
        whole: cut.length === 1,
        pieces: cut.length,
        padSeconds: pad,
      });
    }
  }
  // Shares: a piece the slots its work needs; the whole mailboxes the rest, largest first.
  const pieceSlots = new Map<number, number>();
  for (const bin of packed) {
    let left = C;
    for (const unit of bin) {
      if (unit.whole) continue;
      const seconds = unit.work.serialSeconds + (unit.padSeconds ?? 0);
      unit.share = Math.max(1, Math.ceil((seconds / slotSeconds) * (1 - 1e-9)));
      left -= unit.share;
      pieceSlots.set(unit.mailbox, (pieceSlots.get(unit.mailbox) ?? 0) + unit.share);
    }
    const wholes = bin.filter((u) => u.whole).sort((a, b) => b.work.serialSeconds - a.work.serialSeconds);
    if (left < wholes.length) return undefined;
    wholes.forEach((unit, k) => {
      unit.share = Math.floor(left / wholes.length) + (k < left % wholes.length ? 1 : 0);
    });
    // Older first on the stream's slots: the whole mailboxes, which borrow, after the pieces.
    bin.sort((a, b) => Number(a.whole) - Number(b.whole) || b.work.serialSeconds - a.work.serialSeconds);
  }
  for (const slots of pieceSlots.values()) if (slots > limits.perMailboxConcurrency) return undefined;
  return packed.filter((bin) => bin.length > 0);
}

/**
 * The order of the bins' units that makes the job's start deal (lib/backup/start-units.ts: each
 * unit in order to the stream with the most free slots, ties the lowest) hand each stream one
 * bin: positions as [bin, unit in bin]. Undefined when the deal would not (a bin whose shares
 * leave a slot free takes a unit of another bin).
 */
export function binDealOrder(
  bins: readonly BinUnit[][],
  streamSlots: number,
): Array<[number, number]> | undefined {
  const streams = bins.length;
  const held = new Array<number>(streams).fill(0);
  const binOf = new Array<number | undefined>(streams).fill(undefined);
  const nextOf = new Array<number>(streams).fill(0);
  const total = bins.reduce((sum, bin) => sum + bin.length, 0);
  const order: Array<[number, number]> = [];
  let assigned = 0;
  while (order.length < total) {
    let s = -1;
    for (let k = 0; k < streams; k++) {
      if (held[k]! >= streamSlots) continue;
      if (s < 0 || held[k]! < held[s]!) s = k;
    }
    if (s < 0) return undefined;
    if (binOf[s] === undefined) binOf[s] = assigned++;
    const bin = binOf[s]!;
    const unit = nextOf[bin]!;
    if (unit >= bins[bin]!.length) return undefined;
    order.push([bin, unit]);
    nextOf[bin] = unit + 1;
    held[s]! += Math.max(1, bins[bin]![unit]!.share);
  }
  return order;
}
