/**
 * Dates and times typed on the command line (`--since`, `--until`, `--at`), read strictly and in
 * UTC: `2026-11-29`, `2026-11-29T05:00`, `2026-11-29 05:00:00`, `2026-11-29T05:00:00.250Z`,
 * `2026-11-29T07:00:00+02:00`. A time without a zone is UTC (the zone every table prints);
 * anything else (`1`, `2026`, `yesterday`, `2026-02-30`) is refused instead of guessed at, as
 * `Date.parse` would (it reads `1` as the year 2001 and a zone-less time as local time).
 */

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:\d{2})?$/i;

/** What a date argument looks like, for messages. */
export const DATE_EXAMPLES =
  "2026-11-29, 2026-11-29T05:00 or 2026-11-29T05:00:00Z; UTC unless a zone is given";

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Milliseconds since the epoch of a date or time given in one of the accepted forms, or
 * undefined when the text is not one (wrong form, or a field out of range).
 */
export function parseUtcTime(text: string): number | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "0", zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  // A zone belongs to a time, not to a bare date.
  if (zone && m[4] === undefined) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number(frac.padEnd(3, "0"));
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
}
