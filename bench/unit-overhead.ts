/**
 * Calibrates the planner's `unitOverheadSeconds` (lib/plan/limits.ts) in the harness:
 *
 *     npx tsx bench/unit-overhead.ts [--shape=many-small] [--streams=64] [--repeats=1]
 *
 * runs one full backup of a benchmark shape (as `npm run bench` does) with every Graph request's
 * slot traced (bench/request-trace.ts) and the controllers' log read, then per stream: the time
 * from its first request to its last answer (its span), the stream-seconds its requests held
 * (Σ slot holds / C_stream), and their difference, the stream's idle time. A stream that runs u
 * units one after another is idle a + b × (u − 1): a is what any unit leaves idle of its own (its
 * first delta pages before its content requests, its last answers), b what each further unit adds
 * (its claim, the previous unit's completion, as far as the lookahead does not overlap them). The
 * least-squares fit over the streams gives a and b; b is the cost of a unit change in the
 * planner's sense (the schedule adds `unitOverheadSeconds` per unit, at the model's request time).
 * Also printed: the mean slot hold per request (the simulator's latency is 0.4 s: the excess is
 * per request, not per unit), and per stream the task's start (received → first request) and
 * end (last answer → last unit committed), which every stream pays once whatever its units.
 * Needs streams that run several units one after another: many-small at N = 64 (2–3 each).
 */
import { mkdtempSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { recordingLogger } from "../lib/dev/local/recording-logger.js";
import { RequestTrace } from "./request-trace.js";
import { LIMITS } from "./settings.js";
import { benchOne, startRig, stopRig } from "./shape-runs.js";
import { trustBenchCa } from "./sim-process.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape = arg("shape") ?? "many-small";
const streams = Number(arg("streams") ?? 64);
const repeats = Number(arg("repeats") ?? 1);

interface StreamFigures {
  units: number;
  /** First request → last answer, s. */
  span: number;
  /** Σ slot holds / C_stream, s. */
  held: number;
  requests: number;
  /** Task received → first request, s. */
  start: number;
  /** Last answer → last unit committed, s. */
  end: number;
}

/** Least squares y = a + b x. */
function leastSquares(points: Array<[number, number]>): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}

async function once(): Promise<StreamFigures[]> {
  const { ca, caDir } = await trustBenchCa();
  const rig = await startRig(shape, ca, caDir);
  const trace = new RequestTrace();
  trace.start();
  const events: Array<{ at: number; event: string; streamId?: number; unit?: number }> = [];
  // The log's times are wall clock; the trace's are performance.now(): one clock for both.
  const record = (event: string, fields: Record<string, unknown> = {}) => {
    events.push({ at: performance.now(), event, ...(fields as { streamId?: number; unit?: number }) });
  };
  const logger = recordingLogger(record);
  const load0 = loadavg()[0]!;
  try {
    const row = await benchOne(rig, streams, {
      fullOnly: true,
      reportsDir: mkdtempSync(join(tmpdir(), "mailstream-overhead-")),
      logger,
    });
    console.log(
      `${shape} N=${streams}: backup ${row.full.backupSeconds.toFixed(2)} s, LB ${row.lowerBoundSeconds.toFixed(2)} s, bk/LB ${row.full.backupOverLowerBound.toFixed(2)}, load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
    );
  } finally {
    await stopRig(rig);
  }
  const streamOfUnit = new Map<number, number>();
  const received = new Map<number, number>();
  const committed = new Map<number, number>();
  for (const e of events) {
    if (e.streamId === undefined) continue;
    if (e.event === "unit.start" && e.unit !== undefined) streamOfUnit.set(e.unit, e.streamId);
    if (e.event === "stream.task.begin" && !received.has(e.streamId)) received.set(e.streamId, e.at);
    if (e.event === "unit.end") committed.set(e.streamId, Math.max(committed.get(e.streamId) ?? 0, e.at));
  }
  const perStream = new Map<
    number,
    { units: Set<number>; first: number; last: number; held: number; n: number }
  >();
  for (const r of trace.requests.values()) {
    if (r.start === undefined || r.end === undefined) continue;
    const stream = streamOfUnit.get(r.unit);
    if (stream === undefined) continue;
    const s = perStream.get(stream) ?? { units: new Set(), first: r.start, last: r.end, held: 0, n: 0 };
    s.units.add(r.unit);
    s.first = Math.min(s.first, r.start);
    s.last = Math.max(s.last, r.end);
    s.held += r.end - r.start;
    s.n++;
    perStream.set(stream, s);
  }
  const slots = LIMITS.concurrentPerMailbox;
  return [...perStream].map(([stream, s]) => ({
    units: s.units.size,
    span: (s.last - s.first) / 1000,
    held: s.held / slots / 1000,
    requests: s.n,
    start: (s.first - (received.get(stream) ?? s.first)) / 1000,
    end: ((committed.get(stream) ?? s.last) - s.last) / 1000,
  }));
}

async function main(): Promise<void> {
  const all: StreamFigures[] = [];
  for (let i = 0; i < repeats; i++) all.push(...(await once()));
  const mean = (f: (s: StreamFigures) => number) => all.reduce((sum, s) => sum + f(s), 0) / all.length;
  const { a, b } = leastSquares(all.map((s) => [s.units - 1, s.span - s.held]));
  const byUnits = new Map<number, number>();
  for (const s of all) byUnits.set(s.units, (byUnits.get(s.units) ?? 0) + 1);
  const requests = all.reduce((sum, s) => sum + s.requests, 0);
  console.log(
    `  streams ${all.length} (units per stream: ${[...byUnits]
      .sort((x, y) => x[0] - y[0])
      .map(([u, n]) => `${u}×${n}`)
      .join(
        ", ",
      )}); mean slot hold ${((mean((s) => s.held) * LIMITS.concurrentPerMailbox * all.length) / requests).toFixed(3)} s over ${requests} requests`,
  );
  console.log(
    `  idle = span − held: mean ${mean((s) => s.span - s.held).toFixed(3)} s, per unit ${mean((s) => (s.span - s.held) / s.units).toFixed(3)} s; fit a (a unit's own) ${a.toFixed(3)} s, b (per further unit) ${b.toFixed(3)} s`,
  );
  console.log(
    `  per stream once: task received → first request ${mean((s) => s.start).toFixed(3)} s, last answer → last unit committed ${mean((s) => s.end).toFixed(3)} s`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
