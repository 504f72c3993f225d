/**
 * A function of an object remembered per object (a WeakMap: an object no longer referenced
 * elsewhere takes its value with it). For values the simulator derives again and again from
 * objects it never changes (property definitions, parsed queries, round options).
 */
export function memoByObject<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const made = new WeakMap<K, V>();
  return (key) => {
    let value = made.get(key);
    if (value === undefined) {
      value = make(key);
      made.set(key, value);
    }
    return value;
  };
}
