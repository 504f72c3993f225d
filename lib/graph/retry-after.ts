/**
 * `Retry-After` as Graph sends it: delay-seconds (Outlook sometimes sends fractions) or an
 * HTTP date (RFC 9110 §10.2.3).
 */

/**
 * Milliseconds to wait from `nowMs`, or `undefined` when the header is absent or unreadable.
 * A date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  // Only accept things that look like a date: Date.parse is lenient with plain numbers.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
