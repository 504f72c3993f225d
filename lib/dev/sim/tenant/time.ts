/** Date-times as the simulator stores and serves them: ISO-8601 UTC, as Graph writes them. */

/** Whole seconds without a fraction (`2026-01-01T00:00:01Z`), else milliseconds. */
export function canonicalTime(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** The canonical form of a date-time string; a string that is no date-time is returned as is. */
export function canonicalIso(text: string): string {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : canonicalTime(ms);
}
