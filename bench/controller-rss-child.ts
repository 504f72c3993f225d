/**
 * One controller Lambda invocation in a process of its own, for `bench/controller-rss.ts`.
 *
 * The parent bundles this file with esbuild as the CDK stack bundles `functions/controller.ts`
 * and runs it with plain `node`, the configuration in MAILSTREAM_* variables as on Lambda. It
 * reads `{event, remainingMs, awsRequestId}` (JSON) on stdin, runs the real handler once, and
 * writes one JSON line on file descriptor 3 (stdout carries the handler's JSON logs and EMF
 * metrics, as on Lambda): the handler's response or error, and the process's peak memory.
 *
 * The peak is `VmHWM`, not `process.resourceUsage().maxRSS`: Linux carries `ru_maxrss` across
 * `exec`, so a child's maxRSS starts at its parent's resident set at `fork` (here the simulator
 * and the S3 emulator holding the 100 MB object, hundreds of MiB), while `VmHWM` belongs to the
 * memory map of the new program only. Lambda's "Max Memory Used" likewise counts only the
 * function's own sandbox.
 */
import { readFileSync, writeSync } from "node:fs";
import { handler } from "../functions/controller.js";
import type { InvocationContext, SQSBatchResponse, SQSEvent } from "../lib/queue/lambda-events.js";

/** What the parent writes on the child's stdin. */
export interface ChildInvocation {
  event: SQSEvent;
  /** Milliseconds left before the simulated function timeout when the invocation starts. */
  remainingMs: number;
  awsRequestId: string;
}

/** What the child writes on file descriptor 3. */
export interface ChildReport {
  /**
   * This process's own peak resident set: `VmHWM` of /proc/self/status, the high-water mark of
   * the memory map that `exec` gave it. `null` where /proc is missing (not Linux).
   */
  peakRssBytes: number | null;
  /**
   * `process.resourceUsage().maxRSS` (KiB) × 1024. On Linux it is not this process's own figure:
   * it also counts the parent's resident set copied by `fork` before `exec`.
   */
  maxRssBytes: number;
  /** Peaks of `process.memoryUsage()` fields, sampled every {@link SAMPLE_MS} ms (diagnosis only). */
  sampledPeaks: { heapUsed: number; external: number; arrayBuffers: number; rss: number };
  /** CPU time (user + system) the handler took, ms: with handlerMs, how much of a vCPU it needs. */
  cpuMs: number;
  /** The handler's wall time, ms. */
  handlerMs: number;
  response?: SQSBatchResponse;
  error?: { name: string; message: string };
}

/** `VmHWM` of /proc/self/status in bytes, or null where there is none. */
function ownPeakRss(): number | null {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : null;
  } catch {
    return null;
  }
}

/** The extra pipe the parent opens as the fourth stdio entry. */
const RESULT_FD = 3;
/** Sampling period of the diagnostic memory peaks, in ms. */
const SAMPLE_MS = 50;

function samplePeaks(): { peaks: ChildReport["sampledPeaks"]; stop(): void } {
  const peaks = { heapUsed: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peaks.heapUsed = Math.max(peaks.heapUsed, m.heapUsed);
    peaks.external = Math.max(peaks.external, m.external);
    peaks.arrayBuffers = Math.max(peaks.arrayBuffers, m.arrayBuffers);
    peaks.rss = Math.max(peaks.rss, m.rss);
  };
  const timer = setInterval(sample, SAMPLE_MS);
  timer.unref();
  return {
    peaks,
    stop() {
      clearInterval(timer);
      sample();
    },
  };
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, "utf8")) as ChildInvocation;
  const sampler = samplePeaks();
  const started = Date.now();
  const context: InvocationContext = {
    awsRequestId: input.awsRequestId,
    functionName: "controller",
    getRemainingTimeInMillis: () => Math.max(0, input.remainingMs - (Date.now() - started)),
  };
  const report: Omit<ChildReport, "maxRssBytes" | "peakRssBytes" | "sampledPeaks" | "cpuMs" | "handlerMs"> =
    {};
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    report.response = await handler(input.event, context);
  } catch (error) {
    report.error =
      error instanceof Error
        ? { name: error.name, message: error.message }
        : { name: "Error", message: String(error) };
  }
  const cpu = process.cpuUsage(cpu0);
  const handlerMs = performance.now() - t0;
  sampler.stop();
  const full: ChildReport = {
    cpuMs: (cpu.user + cpu.system) / 1000,
    handlerMs,
    peakRssBytes: ownPeakRss(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    sampledPeaks: sampler.peaks,
    ...report,
  };
  writeSync(RESULT_FD, `${JSON.stringify(full)}\n`);
  // Lambda freezes the process after the handler returns; here the warm clients' sockets would
  // keep it alive, so end it.
  process.exit(0);
}

await main();
