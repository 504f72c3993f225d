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
  /** Its fewest whole requests ({@link fewestRequests}), when packed by whole rounds. */
  fewest?: number;
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
  /**
   * Per folder (as `folders`), the export requests its work counts as a fraction (items / batch
   * size) and the mailbox they are exported from: a unit makes ⌈Σ⌉ of them per mailbox
   * (lib/backup/export-pool.ts). Only used when packing by whole rounds; absent, none.
   */
  exports?: readonly { pool: "primary" | "archive"; requests: number }[];
}

/** Room of a bin packed by whole rounds (packStreamBins). */
export interface RoundRoom {
  /** Rounds of the stream's C slots a bin may fill: an integer ≥ 1. */
  rounds: number;
  /**
   * Requests of those C × `rounds` left free in every bin, for requests beyond the fewest (a
   * partial export batch, sent while a unit borrows slots and its items are still coming): an
   * integer ≥ 0, below C × `rounds`.
   */
  spare: number;
}

/**
 * The fewest requests a unit of `mailbox`'s folders `members` makes: their pages (and MIME
 * downloads) and ⌈their export requests⌉ per exporting mailbox, as whole requests.
 */
export function fewestRequests(mailbox: BinMailbox, members: readonly number[]): number {
  let own = 0;
  const pooled = new Map<string, number>();
  for (const f of members) {
    const exported = mailbox.exports?.[f];
    const share = exported ? Math.max(0, exported.requests) : 0;
    own += mailbox.folders[f]!.work.requests - share;
    if (exported && share > 0) pooled.set(exported.pool, (pooled.get(exported.pool) ?? 0) + share);
  }
  let requests = Math.round(own);
  for (const share of pooled.values()) requests += Math.ceil(share - 1e-9);
  return requests;
}

/**
 * Packs `mailboxes` into `bins` streams of `limits.perStreamConcurrency` slots, each slot with
 * `slotSeconds` of room (a unit's overhead already taken off): largest mailbox first into the bin
 * with the most room, whole where it fits, else its largest folders that fit there as a piece and
 * the rest on into the next bins with the most room. Shares: a piece gets the slots its work
 * needs within `slotSeconds`; a bin's whole mailboxes share the slots its pieces leave (≥ 1 each).
 * Undefined when it does not fit: a folder larger than every bin's room, a mailbox in more than C
 * pieces or pieces of more than C slots, a bin of more units than slots.
 *
 * By whole rounds (`byRounds`): room and sizes count whole requests instead of slot-seconds:
 * each bin holds C × `rounds` − `spare` of its units' fewest requests ({@link
 * fewestRequests}: a piece's export batches rounded up where they are made, so no pad), a piece
 * gets ⌈its fewest / rounds⌉ slots. Slot-seconds let a stream hold a few requests more than its C
 * slots make in the rounds that LB needs (fractions of export batches add up across its units);
 * whole requests do not. Request bytes are not counted (`perByteSeconds` is a few ms an item).
 */
export function packStreamBins(
  mailboxes: readonly BinMailbox[],
  bins: number,
  slotSeconds: number,
  limits: PlanLimits,
  byRounds?: RoundRoom,
): BinUnit[][] | undefined {
  const C = limits.perStreamConcurrency;
  if (!(slotSeconds > 0) || bins < 1) return undefined;
  if (byRounds) {
    const { rounds, spare } = byRounds;
    if (!(Number.isInteger(rounds) && rounds >= 1 && Number.isInteger(spare) && spare >= 0)) return undefined;
    if (spare >= C * rounds) return undefined;
  }
  /** Room per slot: seconds, or whole requests (rounds). */
  const perSlot = byRounds ? byRounds.rounds : slotSeconds;
  const room = new Array<number>(bins).fill(byRounds ? C * byRounds.rounds - byRounds.spare : C * perSlot);
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
  /** The bin with the most room that holds `size` (and a free slot), or -1. */
  const roomiestHolding = (size: number) => {
    const bin = roomiest();
    return bin >= 0 && size <= room[bin]! * (1 + 1e-9) ? bin : -1;
  };
  const order = mailboxes
    .map((_, i) => i)
    .sort((a, b) => mailboxes[b]!.work.serialSeconds - mailboxes[a]!.work.serialSeconds || a - b);
  for (const i of order) {
    const { mailbox, folders, work } = mailboxes[i]!;
    const pad = byRounds ? 0 : Math.max(0, mailboxes[i]!.padSeconds ?? 0);
    /** The room `members` take: slot-seconds, or their fewest whole requests. */
    const sizeOf = (members: readonly number[]) =>
      byRounds
        ? fewestRequests(mailboxes[i]!, members)
        : members.reduce((sum, f) => sum + folders[f]!.work.serialSeconds, 0);
    if (work.requests <= 0) continue;
    // Largest folders first: what is left to place of the mailbox.
    let rest = folders
      .map((_, f) => f)
      .filter((f) => folders[f]!.work.requests > 0 || folders.length === 1)
      .sort((a, b) => folders[b]!.work.serialSeconds - folders[a]!.work.serialSeconds || a - b);
    const cut: Array<{ bin: number; members: number[]; pad?: number }> = [];
    while (rest.length > 0) {
      const restSeconds = sizeOf(rest);
      // Whole (or its last piece) into the bin it fills best; else cut into the roomiest.
      // By slot-seconds the bin it fills best; by whole rounds the roomiest that holds it, so that
      // the room left (C × rounds less the fewest) is spread over the bins: a stream at exactly
      // C × rounds of the fewest takes a round more for any request beyond them (a partial export
      // batch), one with a request to spare does not (skewed N = 16: 10 rounds → 9).
      const fitting = byRounds ? roomiestHolding(restSeconds) : tightest(restSeconds + pad);
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
        const next = sizeOf([...members, f]) + pad;
        if (next <= room[bin]! * (1 + 1e-9)) {
          members.push(f);
          used = next;
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
        ...(byRounds ? { fewest: fewestRequests(mailboxes[i]!, members) } : {}),
      });
    }
  }
  // Shares: a piece the slots its work needs; the whole mailboxes the rest, largest first.
  const pieceSlots = new Map<number, number>();
  for (const bin of packed) {
    let left = C;
    for (const unit of bin) {
      if (unit.whole) continue;
      const size = byRounds ? unit.fewest! : unit.work.serialSeconds + (unit.padSeconds ?? 0);
      unit.share = Math.max(1, Math.ceil((size / perSlot) * (1 - 1e-9)));
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
