/**
 * How far V8 lets the controller's old generation grow before its next full collection.
 *
 * A controller streaming a large item (a 100 MB message) allocates network, decoding, gzip and
 * multipart-part buffers: ArrayBuffers outside the JS heap whose small JS handles are promoted to
 * the old generation, so their memory is freed only by a full (mark-compact) collection. V8 starts
 * one when the old generation reaches its limit, or when external memory has grown 64 MB since the
 * last one. When collections are cheap V8 sets the old-generation limit up to 4 × the live heap
 * (≈ 100 MB for the controller's ≈ 25 MB), so while an item streams only the external-memory trigger
 * fires, and the process carries up to 64 MB of dead buffers: 185–203 MiB peak RSS with a 100 MB
 * item. A fixed growth factor of 1.5 makes the old generation's own limit fire every few hundred
 * milliseconds instead, and the dead buffers peak at ≈ 40 MiB (bench/controller-rss.md).
 *
 * NODE_OPTIONS refuses this V8 flag (Node allows only a few there), so the controller sets it when
 * its module loads, before any backup work: V8 reads it whenever it computes the limit.
 */
import { setFlagsFromString } from "node:v8";

/** Percent the old generation may grow over its live size after a full collection, 1..300. */
export const CONTROLLER_HEAP_GROWING_PERCENT = 50;

/** Sets the controller's V8 heap growth (see the module's comment). Idempotent. */
export function limitHeapGrowth(percent: number = CONTROLLER_HEAP_GROWING_PERCENT): void {
  if (!Number.isInteger(percent) || percent < 1 || percent > 300)
    throw new RangeError(`heap growing percent: expected an integer in 1..300, found ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
