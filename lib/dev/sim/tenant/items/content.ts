/** Building and reading item content: property lists, lookups, and the sizes of lazy bytes. */
import type { ItemContent, LazyBytes, PropDef, Property, PropValue } from "../../item-model.js";
import { propKey } from "./properties.js";

/** A property list from [definition, value] pairs; pairs with an `undefined` value are left out. */
export function props(...pairs: Array<[PropDef, PropValue | undefined]>): Property[] {
  return pairs.flatMap(([def, value]) => (value === undefined ? [] : [{ def, value }]));
}

/** The value of `def` in `list`, if present. */
export function propValue(list: Property[], def: PropDef): PropValue | undefined {
  const key = propKey(def);
  return list.find((p) => propKey(p.def) === key)?.value;
}

export function stringOf(list: Property[], def: PropDef): string | undefined {
  const v = propValue(list, def);
  return typeof v === "string" ? v : undefined;
}

export function numberOf(list: Property[], def: PropDef): number | undefined {
  const v = propValue(list, def);
  return typeof v === "number" ? v : undefined;
}

/** `list` with `def` set to `value` (replacing it in place, or appended). */
export function withValue(list: Property[], def: PropDef, value: PropValue): Property[] {
  const key = propKey(def);
  const at = list.findIndex((p) => propKey(p.def) === key);
  if (at < 0) return [...list, { def, value }];
  return list.map((p, i) => (i === at ? { def, value } : p));
}

/** Content with no recipients and no attachments. */
export function contentOf(list: Property[]): ItemContent {
  return { props: list, recipients: [], attachments: [] };
}

/** Bytes as a {@link LazyBytes}. */
export function lazyOf(bytes: Buffer): LazyBytes {
  return { size: bytes.length, bytes: () => bytes };
}
