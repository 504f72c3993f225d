/**
 * A job's start units: the units each stream holds at time 0, handed to the stream's first task
 * (its tickets taken by the plan's commit) so that the task claims them all in the transaction
 * that begins it, instead of one ticket and one claim transaction after another.
 */

import { MAX_TASK_UNITS } from "../queue/stream-task.js";

/**
 * Most units one first task carries: a DynamoDB transaction holds at most 100 items, and the
 * one that begins the task writes the stream's record beside each unit's. With Graph's C = 4 a
 * stream's slots hold at most 4 × 8 (`unitsPerStream`) units, well under it.
 */
export const MAX_START_UNITS = MAX_TASK_UNITS;

/**
 * The units each of `streams` streams claims at a job's start, dealt as the streams' first claims
 * take them (lib/plan/simulate.ts at time 0, lib/backup/stream-runner.ts): units in the plan's
 * order, each to the stream with the most free slots (ties: the lowest stream), while some
 * stream's shares leave one of its `streamSlots` free (a unit may be wider than what is free: it
 * runs on what the older units leave). `shares[i]`: unit i's share of a stream's slots (its
 * `concurrency`; below 1 counts 1). The result is a prefix 0 … k − 1 of the units, stream by
 * stream in claim order; a stream takes at most {@link MAX_START_UNITS}.
 */
export function dealStartUnits(shares: readonly number[], streams: number, streamSlots: number): number[][] {
  if (!(Number.isInteger(streams) && streams >= 0)) {
    throw new RangeError(`dealStartUnits: expected an integer stream count ≥ 0, found ${streams}`);
  }
  if (!(Number.isInteger(streamSlots) && streamSlots >= 1)) {
    throw new RangeError(`dealStartUnits: expected an integer streamSlots ≥ 1, found ${streamSlots}`);
  }
  const held = new Array<number>(streams).fill(0);
  const dealt: number[][] = Array.from({ length: streams }, () => []);
  for (let unit = 0; unit < shares.length; unit++) {
    let best = -1;
    for (let s = 0; s < streams; s++) {
      if (held[s]! >= streamSlots || dealt[s]!.length >= MAX_START_UNITS) continue;
      if (best < 0 || held[s]! < held[best]!) best = s;
    }
    if (best < 0) break;
    held[best]! += Math.max(1, shares[unit]!);
    dealt[best]!.push(unit);
  }
  return dealt;
}
