/**
 * Simulated service time: a delay before each answer, and a transfer rate while MIME streams.
 */
import { Transform, type TransformCallback } from "node:stream";

export interface LatencyOptions {
  /** Delay before each answer, milliseconds. Bounds ≥ 0. Default 0. */
  baseMs?: number;
  /** Uniform jitter added to {@link baseMs}, ± milliseconds. Bounds ≥ 0. Default 0. */
  jitterMs?: number;
  /** Replaces base ± jitter with a custom distribution: returns a delay in milliseconds (negative = 0). */
  sample?: () => number;
  /** Transfer time while streaming `$value`, nanoseconds per byte. Bounds ≥ 0. Default 0 (1 ns/B ≈ 1 GB/s). */
  perMimeByteNs?: number;
}

export function responseDelayMs(latency: LatencyOptions | undefined): number {
  if (!latency) return 0;
  const raw = latency.sample
    ? latency.sample()
    : (latency.baseMs ?? 0) + (latency.jitterMs ? (Math.random() * 2 - 1) * latency.jitterMs : 0);
  return Math.max(0, raw);
}

/**
 * Waits one sampled response delay, counted from `sinceMs` (a `performance.now()` time, such as
 * the request's arrival) or else from now: time the simulator already spent on the request is
 * part of the delay, not added to it.
 */
export async function waitResponseDelay(
  latency: LatencyOptions | undefined,
  sinceMs?: number,
): Promise<void> {
  const ms = responseDelayMs(latency) - (sinceMs === undefined ? 0 : performance.now() - sinceMs);
  if (ms > 0) await new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/**
 * Passes bytes through, pausing so that the average rate matches `nsPerByte`. Pauses are taken
 * once a whole millisecond of transfer time has accumulated, not per chunk, to keep timers few.
 */
export class TransferRateLimiter extends Transform {
  private owedNs = 0;
  constructor(private readonly nsPerByte: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.owedNs += chunk.length * this.nsPerByte;
    if (this.owedNs < 1_000_000) {
      callback(null, chunk);
      return;
    }
    const ms = Math.floor(this.owedNs / 1_000_000);
    this.owedNs -= ms * 1_000_000;
    setTimeout(() => callback(null, chunk), ms);
  }
}
