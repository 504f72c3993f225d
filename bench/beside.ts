/**
 * Steps of the benchmark run at the same time, for the steps whose figures are counts or
 * correctness (requests per item, 429s, nothing lost) or whose wall time is mostly waiting: each
 * step's own seconds, and which steps ran beside it, so that a time it reports says it shared
 * the machine. Timing ratios (the shapes, giant-modes) never run this way.
 */

/** What one step of {@link runBeside} gave: its value, its own seconds, the steps beside it. */
export interface BesideOutcome<T> {
  value: T;
  /** The step's own wall time, its start to its end (s). */
  seconds: number;
  /** The other steps that ran at the same time (absent from a lone step's list: empty). */
  ranBeside: string[];
}

export type BesideOutcomes<R extends Record<string, unknown>> = { [K in keyof R]: BesideOutcome<R[K]> };

/** A step that failed beside others; the others were let finish first (`causes`: each failure). */
export class BesideStepsFailedError extends Error {
  override readonly name = "BesideStepsFailedError";
  constructor(readonly causes: Record<string, unknown>) {
    super(
      `steps run beside each other: expected each to succeed, found ${Object.entries(causes)
        .map(([step, e]) => `${step} failed: ${e instanceof Error ? e.message : String(e)}`)
        .join("; ")}`,
    );
  }
}

/**
 * Starts every step at once (`sequential`: one after another, in the object's order, for a
 * comparison run) and waits for all of them, also when one fails, so that no step is left
 * running with its processes; then throws {@link BesideStepsFailedError} if any failed.
 */
export async function runBeside<R extends Record<string, unknown>>(
  steps: { [K in keyof R]: () => Promise<R[K]> },
  options: { sequential?: boolean; now?: () => number } = {},
): Promise<BesideOutcomes<R>> {
  const now = options.now ?? Date.now;
  const names = Object.keys(steps) as Array<keyof R & string>;
  const timed = async (name: keyof R & string) => {
    const started = now();
    const value = await steps[name]();
    return { value, seconds: (now() - started) / 1000 };
  };
  const settled: Array<PromiseSettledResult<{ value: unknown; seconds: number }>> = [];
  if (options.sequential) {
    for (const name of names) settled.push(...(await Promise.allSettled([timed(name)])));
  } else {
    settled.push(...(await Promise.allSettled(names.map(timed))));
  }
  const failures: Record<string, unknown> = {};
  const out: Record<string, BesideOutcome<unknown>> = {};
  names.forEach((name, i) => {
    const s = settled[i]!;
    if (s.status === "rejected") failures[name] = s.reason;
    else
      out[name] = {
        ...s.value,
        ranBeside: options.sequential ? [] : names.filter((other) => other !== name),
      };
  });
  if (Object.keys(failures).length > 0) throw new BesideStepsFailedError(failures);
  return out as BesideOutcomes<R>;
}
