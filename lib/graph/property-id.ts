/**
 * Graph's ids of extended properties (`String 0x0037`, `SystemTime {GUID} Id 0x820D`) in one
 * spelling, so that ids the service returns match the ones asked for whatever its case and
 * zero padding.
 */

/**
 * Spellings already worked out. Every item of a delta page carries the same few ids (the ones
 * asked for, in the service's spelling), and five regex replacements per property of every item
 * were 2 % of a backup's busy time; a page's ids are looked up instead. Bounded: ids are the
 * service's, and a service that spelled them anew each time must not grow the map without end.
 */
const spellings = new Map<string, string>();
const MAX_SPELLINGS = 1024;

/** A property id in one spelling: single spaces, hex digits and GUIDs in upper case, the type lower. */
export function normalisePropertyId(id: string): string {
  const known = spellings.get(id);
  if (known !== undefined) return known;
  const spelled = spell(id);
  if (spellings.size >= MAX_SPELLINGS) spellings.clear();
  spellings.set(id, spelled);
  return spelled;
}

function spell(id: string): string {
  return id
    .trim()
    .replace(/\s+/g, " ")
    .replace(/0x([0-9a-f]+)/gi, (_, hex: string) => `0x${hex.toUpperCase().padStart(4, "0")}`)
    .replace(/\{([0-9a-f-]{36})\}/gi, (_, guid: string) => `{${guid.toUpperCase()}}`)
    .replace(/^(\w+)/, (type: string) => type.toLowerCase())
    .replace(/ (id|name) /i, (_, word: string) => ` ${word.toLowerCase()} `);
}
