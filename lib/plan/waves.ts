/**
 * Balanced start order: for a plan of whole-stream units (each takes all of a stream's slots),
 * an assignment of the units to the streams whose fullest stream ends as early as a short local
 * search finds, handed to the streams as an order: streams pull units in that order (dynamic
 * assignment), so the units are ordered by when the assignment starts them. Each stream's units
 * run longest first; at every moment the stream that frees first takes the next unit, which is
 * the one the assignment starts next, so pulling reproduces the assignment as long as the units
 * take about their estimates, and degrades to list scheduling when they do not.
 *
 * Why: longest first (LPT) leaves streams up to a unit apart when each runs 2–3 units (160
 * mailboxes of 1.3–2.3 s on 64 streams: 1.16 × LB); moving and swapping units off the fullest
 * stream brings it to 1.06 without cutting any mailbox.
 */

/** Rounds of the local search at most (each moves or swaps one unit off the fullest stream). */
const MAX_ROUNDS = 2_000;

/**
 * Assigns `seconds` (one per unit) to `streams` streams: longest first onto the stream that
 * ends first, then, while it helps, the unit of the fullest stream is moved to another stream
 * or swapped with a shorter unit of another stream, whichever lowers the fullest stream the
 * most. Returns each stream's unit indexes.
 */
export function balanceStreams(seconds: readonly number[], streams: number): number[][] {
  const bins: number[][] = Array.from({ length: streams }, () => []);
  const load = new Array<number>(streams).fill(0);
  const byLength = seconds.map((_, i) => i).sort((a, b) => seconds[b]! - seconds[a]! || a - b);
  for (const i of byLength) {
    let lightest = 0;
    for (let s = 1; s < streams; s++) if (load[s]! < load[lightest]!) lightest = s;
    bins[lightest]!.push(i);
    load[lightest]! += seconds[i]!;
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let full = 0;
    for (let s = 1; s < streams; s++) if (load[s]! > load[full]!) full = s;
    let best: { gain: number; to: number; at: number; with: number } | undefined;
    for (let to = 0; to < streams; to++) {
      if (to === full) continue;
      bins[full]!.forEach((unit, at) => {
        const a = seconds[unit]!;
        const moved = load[full]! - Math.max(load[full]! - a, load[to]! + a);
        if (moved > 1e-9 && (!best || moved > best.gain)) best = { gain: moved, to, at, with: -1 };
        bins[to]!.forEach((other, w) => {
          const b = seconds[other]!;
          if (b >= a) return;
          const swapped = load[full]! - Math.max(load[full]! - a + b, load[to]! + a - b);
          if (swapped > 1e-9 && (!best || swapped > best.gain)) best = { gain: swapped, to, at, with: w };
        });
      });
    }
    if (!best) break;
    const { to, at, with: w } = best;
    const unit = bins[full]![at]!;
    if (w < 0) {
      bins[full]!.splice(at, 1);
      bins[to]!.push(unit);
      load[full]! -= seconds[unit]!;
      load[to]! += seconds[unit]!;
    } else {
      const other = bins[to]![w]!;
      bins[full]![at] = other;
      bins[to]![w] = unit;
      const delta = seconds[unit]! - seconds[other]!;
      load[full]! -= delta;
      load[to]! += delta;
    }
  }
  return bins;
}

/**
 * The order that hands the streams `bins` by pulling: every stream's units longest first, all
 * units by the time their stream starts them (ties: longer first, then index).
 */
export function startOrder(seconds: readonly number[], bins: readonly (readonly number[])[]): number[] {
  const starts: Array<{ unit: number; at: number }> = [];
  for (const bin of bins) {
    let at = 0;
    for (const unit of [...bin].sort((a, b) => seconds[b]! - seconds[a]! || a - b)) {
      starts.push({ unit, at });
      at += seconds[unit]!;
    }
  }
  starts.sort((p, q) => p.at - q.at || seconds[q.unit]! - seconds[p.unit]! || p.unit - q.unit);
  return starts.map((s) => s.unit);
}
