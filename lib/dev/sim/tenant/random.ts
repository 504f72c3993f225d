/**
 * A small seeded pseudo-random generator (mulberry32) for the tenant generator and mutation step.
 * Not for cryptography: it only has to give the same sequence for the same seed on every machine,
 * which `Math.random` cannot.
 */
import { createHash } from "node:crypto";

/** A 32-bit seed derived from any labels, so independent streams ("mailbox 3", "mime 17") don't overlap. */
export function seedFrom(...labels: Array<string | number>): number {
  return createHash("sha256").update(labels.join("\u0000")).digest().readUInt32LE(0);
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** An independent generator for a sub-task, derived from this one's seed position and a label. */
  fork(label: string | number): Random {
    return new Random(seedFrom(this.uint32(), label));
  }

  /** A generator at this one's exact position: it yields the same numbers this one will. */
  clone(): Random {
    return new Random(this.state);
  }

  /** Moves on as if `n` numbers had been drawn with {@link uint32}, without computing them. */
  skip(n: number): void {
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`Random.skip: expected a whole number of draws ≥ 0, found ${n}`);
    // mulberry32's state advances by a constant per draw, so n draws are one multiply-add mod 2^32.
    this.state = (this.state + Math.imul(n, 0x6d2b79f5)) >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0)
      throw new RangeError("Random.pick: expected a non-empty list, found an empty one");
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Picks an index with probability proportional to its weight. */
  weightedIndex(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** A new array with the items in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    this.fill(out);
    return out;
  }

  /** Fills `target` with pseudo-random bytes, four at a time (little-endian words). */
  fill(target: Buffer): void {
    const words = new Uint32Array(Math.ceil(target.length / 4));
    for (let i = 0; i < words.length; i++) words[i] = this.uint32();
    const bytes = new Uint8Array(words.buffer, 0, target.length);
    // Uint32Array uses platform byte order; swap on big-endian so every machine gets the same bytes.
    if (!LITTLE_ENDIAN) for (let i = 0; i + 3 < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
    target.set(bytes);
  }
}
