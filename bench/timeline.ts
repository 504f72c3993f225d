/**
 * `npx tsx bench/timeline.ts --shape=uniform --streams=16`: one full backup of a benchmark shape
 * (as `npm run bench` runs it), then where each stream's time went, from the controllers' log:
 * tasks sent → task received → unit claimed → first Graph request → last answer → last items
 * stored → last parts written → unit's end written → next claim / stream's end; and the CPU
 * seconds each process of the run used during the backup phase (this process runs every
 * controller invocation; the simulator and DynamoDB Local are children), against the phase's
 * wall time × the machine's cores.
 * Prints the gaps' means and maxima per kind, and with `--streams-detail` every stream's units.
 * Also, for the backup phase: each process's main thread's time on a CPU and waiting for one (its
 * run-queue wait), each busy process's CPU by thread, and the phase's instants on the monotonic
 * clock of a CPU profile's timestamps (to cut a profile's backup window).
 * `--controller-processes=K` runs the controllers in K processes of their own (their log lines
 * come over IPC).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { JobReport } from "../lib/backup/report.js";
import { recordingLogger } from "../lib/dev/local/recording-logger.js";
import { mainThreadSched } from "./process-cpu.js";
import { RequestTrace } from "./request-trace.js";
import { LIMITS } from "./settings.js";
import { benchOne, startRig, stopRig } from "./shape-runs.js";
import { trustBenchCa } from "./sim-process.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape = arg("shape") ?? "uniform";
const streams = Number(arg("streams") ?? 16);
const detail = process.argv.includes("--streams-detail");
// Per request of each unit (or of `--unit=K`): queue, slot, HTTP steps, idle slot-seconds.
const requestsTrace = process.argv.includes("--requests") || arg("unit") !== undefined;
const traceUnit = arg("unit") === undefined ? undefined : Number(arg("unit"));
// `--controller-processes=K`: the controllers in K processes of their own (their log lines come
// over IPC, which costs both sides CPU); default 0, in this process.
const controllerProcesses = Number(arg("controller-processes") ?? 0);

interface LogLine {
  time: string;
  event: string;
  streamId?: number;
  seq?: number;
  unit?: number;
  requests?: number;
  firstRequestAt?: string;
  lastAnswerAt?: string;
  requestsDoneAt?: string;
  storedAt?: string;
  partsWrittenAt?: string;
  endedAt?: string;
}

/** One process's name, parent and CPU seconds (user + system) from /proc; undefined once it ended. */
function processStat(pid: number): { ppid: number; name: string; seconds: number } | undefined {
  const tick = 100; // USER_HZ on Linux
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // After the name: state ppid … utime (14th field overall) stime (15th).
    return { ppid: Number(fields[1]), name, seconds: (Number(fields[11]) + Number(fields[12])) / tick };
  } catch {
    return undefined; // The process ended while listed.
  }
}

/**
 * CPU seconds of the processes found at the backup phase's start, read again at every unit's end:
 * only their own /proc files, since walking all of /proc at each of many-small's 160 unit ends
 * cost this process ≈ 1.6 ms each (a quarter of a CPU second in the phase it measures).
 */
function cpuOf(pids: Iterable<number>): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  for (const pid of pids) {
    const s = processStat(pid);
    if (s) out.set(pid, { name: s.name, seconds: s.seconds });
  }
  return out;
}

/** CPU seconds (user + system) of this process and every descendant, by pid, from /proc. */
function cpuByProcess(): Map<number, { name: string; seconds: number }> {
  const stats = new Map<number, { ppid: number; name: string; seconds: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = processStat(Number(entry));
    if (s) stats.set(Number(entry), s);
  }
  const mine = new Map<number, { name: string; seconds: number }>();
  const isMine = (pid: number): boolean => {
    for (let p = pid, depth = 0; p > 1 && depth < 20; depth++) {
      if (p === process.pid) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  for (const [pid, s] of stats) if (isMine(pid)) mine.set(pid, { name: s.name, seconds: s.seconds });
  return mine;
}

/**
 * A process's threads' CPU seconds by thread name (/proc/<pid>/task/<tid>/stat: node's event loop
 * is named after the process, libuv's pool `libuv-worker`, V8's `V8 DefaultWorke…`).
 */
function threadCpuByName(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      } catch {
        continue; // The thread ended while listed.
      }
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      const name = Number(tid) === pid ? "main" : text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      // utime and stime in USER_HZ (100 a second on Linux).
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    }
  } catch {
    // The process ended.
  }
  return out;
}

const ms = (iso?: string) => (iso ? Date.parse(iso) : Number.NaN);

async function main(): Promise<void> {
  const { ca, caDir } = await trustBenchCa();
  const reportsDir = mkdtempSync(join(tmpdir(), "mailstream-timeline-"));
  const lines: LogLine[] = [];
  const load0 = loadavg()[0]!;
  const rig = await startRig(shape, ca, caDir);
  const trace = new RequestTrace();
  if (requestsTrace) trace.start();
  let cpu0 = cpuByProcess();
  let row: Awaited<ReturnType<typeof benchOne>>;
  // Sample the CPU and this process's event loop at the backup phase's start (the first task
  // received) and at every unit's end (the last sample is the phase's end).
  let sampledAtStart = false;
  let elu0 = performance.eventLoopUtilization();
  let elu1 = elu0;
  let cpu1 = cpu0;
  let t0 = 0;
  let t1 = 0;
  // The same instants on the monotonic clock that V8's CPU profiles stamp their samples with (µs),
  // so a profile's backup window can be cut out (`W0`/`W1` of a profile summary).
  let mono0 = 0n;
  let mono1 = 0n;
  // Main threads' schedstat by pid at the phase's start and end.
  let sched0 = new Map<number, { onCpuNs: number; waitNs: number }>();
  let sched1 = sched0;
  // Threads' CPU by name, per process of the run (this one, the controller processes, …).
  let threads0 = new Map<number, Map<string, number>>();
  let threads1 = threads0;
  const threadsOf = (pids: Iterable<number>) =>
    new Map([...pids].map((pid) => [pid, threadCpuByName(pid)] as const));
  const schedOf = (pids: Iterable<number>) =>
    new Map(
      [...pids].flatMap((pid) => {
        const s = mainThreadSched(pid);
        return s ? [[pid, s] as const] : [];
      }),
    );
  const record = (event: string, fields: Record<string, unknown> = {}) => {
    const parsed = { time: new Date().toISOString(), event, ...fields } as LogLine;
    if (!sampledAtStart && parsed.event === "stream.task.begin") {
      sampledAtStart = true;
      cpu0 = cpuByProcess();
      elu0 = performance.eventLoopUtilization();
      t0 = Date.now();
      mono0 = process.hrtime.bigint() / 1000n;
      sched0 = schedOf(cpu0.keys());
      threads0 = threadsOf(cpu0.keys());
    }
    if (parsed.event === "unit.end") {
      cpu1 = cpuOf(cpu0.keys());
      elu1 = performance.eventLoopUtilization();
      t1 = Date.now();
      mono1 = process.hrtime.bigint() / 1000n;
      sched1 = schedOf(sched0.keys());
      threads1 = threadsOf(threads0.keys());
    }
    lines.push(parsed);
  };
  // The stack's logger: every event, at every level, into `lines`.
  const sampling = recordingLogger(record);
  try {
    row = await benchOne(rig, streams, {
      fullOnly: true,
      reportsDir,
      logger: sampling,
      controllerProcesses: Math.min(streams, controllerProcesses),
    });
  } finally {
    await stopRig(rig);
  }
  // `BENCH_TIMELINE_LOG=FILE`: every log line of the run, one JSON object a line, for a closer look.
  if (process.env.BENCH_TIMELINE_LOG)
    writeFileSync(process.env.BENCH_TIMELINE_LOG, lines.map((l) => JSON.stringify(l)).join("\n"));
  const report = JSON.parse(
    readFileSync(join(reportsDir, `${shape}-n${streams}-fidelity-full.json`), "utf8"),
  ) as JobReport & { plannedAt?: string };
  const created = ms(report.createdAt);
  const plannedAt = created + report.phases.planningSeconds * 1000;
  const at = (t: number) => ((t - plannedAt) / 1000).toFixed(2);

  // Per stream: its events in time order.
  const byStream = new Map<number, LogLine[]>();
  for (const l of lines) {
    if (l.streamId === undefined) continue;
    const list = byStream.get(l.streamId) ?? [];
    list.push(l);
    byStream.set(l.streamId, list);
  }
  const gaps: Record<string, number[]> = {
    "sent → task received": [],
    "received → first unit claimed": [],
    "claimed → first request": [],
    "first request → last answer": [],
    "last answer → unit ended (its writes)": [],
    "last answer → requests done (signal)": [],
    "requests done → unit ended": [],
    "  last answer → last items stored": [],
    "  items stored → last parts written": [],
    "  parts written → unit ended": [],
    "unit ended → end committed": [],
    "end committed → next unit claimed": [],
    "last unit committed → stream finished": [],
    "claimed → end committed (whole unit)": [],
  };
  const push = (k: string, v: number) => Number.isFinite(v) && gaps[k]!.push(v / 1000);
  for (const [streamId, events] of [...byStream].sort((a, b) => a[0] - b[0])) {
    events.sort((a, b) => ms(a.time) - ms(b.time));
    const begin = events.find((e) => e.event === "stream.task.begin");
    const starts = new Map(events.filter((e) => e.event === "unit.start").map((e) => [e.unit!, e]));
    const ends = events.filter((e) => e.event === "unit.end");
    const finished = events.find((e) => e.event === "stream.finished");
    push("sent → task received", ms(begin?.time) - plannedAt);
    const firstStart = events.find((e) => e.event === "unit.start");
    push("received → first unit claimed", ms(firstStart?.time) - ms(begin?.time));
    if (detail)
      console.log(`stream ${streamId}: received ${at(ms(begin?.time))}, finished ${at(ms(finished?.time))}`);
    for (const end of ends) {
      const start = starts.get(end.unit!);
      push("claimed → first request", ms(end.firstRequestAt) - ms(start?.time));
      push("first request → last answer", ms(end.lastAnswerAt) - ms(end.firstRequestAt));
      push("last answer → unit ended (its writes)", ms(end.endedAt) - ms(end.lastAnswerAt));
      push("last answer → requests done (signal)", ms(end.requestsDoneAt) - ms(end.lastAnswerAt));
      push("requests done → unit ended", ms(end.endedAt) - ms(end.requestsDoneAt));
      push("  last answer → last items stored", ms(end.storedAt) - ms(end.lastAnswerAt));
      push("  items stored → last parts written", ms(end.partsWrittenAt) - ms(end.storedAt));
      push("  parts written → unit ended", ms(end.endedAt) - ms(end.partsWrittenAt));
      push("unit ended → end committed", ms(end.time) - ms(end.endedAt));
      push("claimed → end committed (whole unit)", ms(end.time) - ms(start?.time));
      const next = events.find((e) => e.event === "unit.start" && ms(e.time) >= ms(end.time) - 0);
      const overlapped = events.find(
        (e) =>
          e.event === "unit.start" &&
          e.unit !== end.unit &&
          ms(e.time) > ms(start?.time) &&
          ms(e.time) < ms(end.time),
      );
      if (next && !overlapped) push("end committed → next unit claimed", ms(next.time) - ms(end.time));
      if (detail)
        console.log(
          `  unit ${end.unit} (${end.requests} req): claimed ${at(ms(start?.time))} first ${at(ms(end.firstRequestAt))} last ${at(ms(end.lastAnswerAt))} done ${at(ms(end.requestsDoneAt))} ended ${at(ms(end.endedAt))} committed ${at(ms(end.time))}`,
        );
    }
    const lastEnd = ends[ends.length - 1];
    if (lastEnd && finished)
      push("last unit committed → stream finished", ms(finished.time) - ms(lastEnd.time));
  }
  console.log(
    `${shape} N=${streams}: units ${row.planUnits} on ${row.planStreams} streams; plan ${report.phases.planningSeconds.toFixed(2)} s, backup ${report.phases.backupSeconds.toFixed(2)} s, LB ${row.lowerBoundSeconds.toFixed(2)} s, bk/LB ${row.full.backupOverLowerBound.toFixed(2)}; load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
  );
  for (const [k, v] of Object.entries(gaps)) {
    if (v.length === 0) continue;
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    console.log(
      `  ${k.padEnd(40)} n=${String(v.length).padStart(3)} mean ${mean.toFixed(3)} s  max ${Math.max(...v).toFixed(3)} s  min ${Math.min(...v).toFixed(3)} s`,
    );
  }
  // CPU over the backup phase (first task received → the job's report read; the tail is short).
  const wall = (t1 - t0) / 1000;
  let total = 0;
  const byName = new Map<string, number>();
  for (const [pid, after] of cpu1) {
    const used = after.seconds - (cpu0.get(pid)?.seconds ?? 0);
    const name = pid === process.pid ? "controllers (this process)" : `${after.name} ${pid}`;
    byName.set(name, (byName.get(name) ?? 0) + used);
    total += used;
  }
  console.log(
    `  CPU during the backup phase (${wall.toFixed(1)} s wall, ${cpus().length} cores): ${[...byName]
      .filter(([, s]) => s > 0.05)
      .map(([n, s]) => `${n} ${s.toFixed(1)} s (${((100 * s) / wall).toFixed(0)} %)`)
      .join(
        ", ",
      )}; all ${total.toFixed(1)} s = ${((100 * total) / (wall * cpus().length)).toFixed(0)} % of the cores`,
  );
  const elu = performance.eventLoopUtilization(elu1, elu0).utilization;
  console.log(`  this process's event loop busy ${(100 * elu).toFixed(0)} % of the phase`);
  console.log(
    `  main threads in the phase, on a CPU / waiting for one (run queue): ${[...sched1]
      .map(([pid, after]) => {
        const before = sched0.get(pid);
        const on = (after.onCpuNs - (before?.onCpuNs ?? 0)) / 1e9;
        const wait = (after.waitNs - (before?.waitNs ?? 0)) / 1e9;
        return {
          name: pid === process.pid ? "this process" : `${cpu1.get(pid)?.name ?? "?"} ${pid}`,
          on,
          wait,
        };
      })
      .filter((t) => t.on > 0.05)
      .map((t) => `${t.name} ${t.on.toFixed(2)} / ${t.wait.toFixed(2)} s`)
      .join(", ")}`,
  );
  for (const [pid, after] of threads1) {
    const before = threads0.get(pid);
    const used = [...after]
      .map(([name, seconds]) => [name, seconds - (before?.get(name) ?? 0)] as const)
      .filter(([, seconds]) => seconds > 0.005);
    if (used.reduce((sum, [, seconds]) => sum + seconds, 0) < 0.3) continue;
    const name = pid === process.pid ? "this process" : `${cpu1.get(pid)?.name ?? "?"} ${pid}`;
    console.log(
      `  ${name}'s threads' CPU in the phase: ${used.map(([thread, seconds]) => `${thread} ${seconds.toFixed(2)} s`).join(", ")}`,
    );
  }
  console.log(`  backup phase on the monotonic clock (a CPU profile's timestamps, µs): ${mono0}–${mono1}`);
  if (requestsTrace) {
    const slots = LIMITS.concurrentPerMailbox;
    for (const line of trace.report({
      ...(traceUnit !== undefined ? { unit: traceUnit } : {}),
      slots,
      detail,
    }))
      console.log(line);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
