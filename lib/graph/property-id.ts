/**
 * Graph's ids of extended properties (`String 0x0037`, `SystemTime {GUID} Id 0x820D`) in one
 * spelling, so that ids the service returns match the ones asked for whatever its case and
 * zero padding.
 */

/** A property id in one spelling: single spaces, hex digits and GUIDs in upper case, the type lower. */
export function normalisePropertyId(id: string): string {
  return id
    .trim()
    .replace(/\s+/g, " ")
    .replace(/0x([0-9a-f]+)/gi, (_, hex: string) => `0x${hex.toUpperCase().padStart(4, "0")}`)
    .replace(/\{([0-9a-f-]{36})\}/gi, (_, guid: string) => `{${guid.toUpperCase()}}`)
    .replace(/^(\w+)/, (type: string) => type.toLowerCase())
    .replace(/ (id|name) /i, (_, word: string) => ` ${word.toLowerCase()} `);
}
