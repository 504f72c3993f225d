/**
 * The deadline margin an invocation keeps, scaled to its time. `controller.deadlineMarginMs`
 * (default 60 s) is sized for the controllers' 900 s; an invocation with less time than that (the
 * production variant's 30 s coordinator, a stream that ends its last unit a minute before its
 * deadline) would otherwise stop before doing anything and only hand its work on.
 */

/** The largest share of the time an invocation has left that is kept as its margin: 0.25. */
export const DEADLINE_MARGIN_SHARE = 0.25;

/**
 * The margin, ms: the configured one, but at most {@link DEADLINE_MARGIN_SHARE} of the
 * milliseconds the invocation had left when the work began (`startingMs`; undefined: no deadline,
 * the configured margin). A 900 s controller keeps 60 s; a 30 s coordinator keeps 7.5 s and works
 * 22.5 s.
 */
export function scaledDeadlineMargin(configuredMs: number, startingMs: number | undefined): number {
  if (startingMs === undefined || !Number.isFinite(startingMs)) return configuredMs;
  return Math.max(0, Math.min(configuredMs, Math.floor(startingMs * DEADLINE_MARGIN_SHARE)));
}
