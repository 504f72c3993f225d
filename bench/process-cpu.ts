/**
 * CPU seconds by component of a local run (Linux `/proc`): which process's work per mailbox
 * grows with the tenant. Wall-clock seconds on a shared 2-core machine move with whatever else
 * runs; the CPU a component spent on a job moves far less, so the scale section compares sizes
 * by it.
 */

import { readdirSync, readFileSync } from "node:fs";

/** Linux's clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`: 100 on every Linux ABI we run). */
const TICKS_PER_SECOND = 100;

export interface ComponentCpu {
  /**
   * This process: the harness, the emulators it hosts (S3, SQS), the coordinator and sweep, and
   * the controllers when they run in it.
   */
  harness: number;
  /**
   * The controllers' child processes while they live (`controllerProcesses` ≥ 1 of the stack);
   * 0 when they run in this process. Absent in rows measured before they were counted.
   */
  controllers?: number;
  /** Child processes that ended (reaped) since the last sample: the coordinator's invocations. */
  endedChildren: number;
  /** The simulated tenant's process. */
  simulator: number;
  /** DynamoDB Local's JVM. */
  dynamodb: number;
}

interface ProcStat {
  ppid: number;
  /** utime + stime, s */
  own: number;
  /** cutime + cstime: reaped children's, s */
  children: number;
}

function readStat(pid: number | "self"): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // ended between the listing and the read, or not Linux
  }
  // The command name (field 2) may hold spaces and parentheses: fields count from its last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const tick = (i: number) => Number(fields[i]) / TICKS_PER_SECOND;
  // fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
  return { ppid: Number(fields[1]), own: tick(11) + tick(12), children: tick(13) + tick(14) };
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Every live descendant of `root`, by pid. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) parent.set(Number(name), stat.ppid);
  }
  const out: number[] = [];
  const isBelow = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  for (const pid of parent.keys()) if (isBelow(pid)) out.push(pid);
  return out;
}

/**
 * The CPU seconds each component has used so far; `simulatorPid` is the simulator's process,
 * `controllerPids` the stack's controller processes (none: they run in this one).
 */
export function sampleComponentCpu(
  simulatorPid: number | undefined,
  controllerPids: readonly number[] = [],
): ComponentCpu {
  const self = readStat("self");
  const usage = process.cpuUsage();
  let dynamodb = 0;
  for (const pid of descendants(process.pid)) {
    if (commandLine(pid).includes("DynamoDBLocal")) dynamodb += readStat(pid)?.own ?? 0;
  }
  const simulator = simulatorPid === undefined ? 0 : (readStat(simulatorPid)?.own ?? 0);
  let controllers = 0;
  for (const pid of controllerPids) controllers += readStat(pid)?.own ?? 0;
  return {
    harness: (usage.user + usage.system) / 1e6,
    controllers,
    endedChildren: self?.children ?? 0,
    simulator,
    dynamodb,
  };
}

/** What each component spent between two samples, s. */
export function cpuBetween(a: ComponentCpu, b: ComponentCpu): ComponentCpu {
  return {
    harness: b.harness - a.harness,
    controllers: (b.controllers ?? 0) - (a.controllers ?? 0),
    endedChildren: b.endedChildren - a.endedChildren,
    simulator: b.simulator - a.simulator,
    dynamodb: b.dynamodb - a.dynamodb,
  };
}

/**
 * Seconds the main threads (event loops) of a run's Node processes spent runnable but waiting for
 * a core (`/proc/<pid>/task/<pid>/schedstat`, second field, ns). On a 2-core machine shared with
 * other jobs this is where a loaded machine's time goes: an answer the loop would read at once
 * waits for a core instead, whatever the loop's own work. A run whose harness waited seconds
 * measured the machine, not the change (bench/README, *A request's extra time in the harness*).
 */
export interface MainThreadWait {
  /** This process's main thread (the controllers' too when they run in it). */
  harness: number;
  /** The controller processes' main threads, summed (0 when they run in this process). */
  controllers: number;
  simulator: number;
}

/**
 * A process's main thread (its event loop) from /proc/<pid>/task/<pid>/schedstat: nanoseconds on
 * a CPU and nanoseconds runnable but waiting for one (the run queue). A loop that is busy by
 * `eventLoopUtilization` but not on a CPU waits for the cores, not for its own work. Undefined
 * without schedstat (another OS, or the process ended).
 */
export function mainThreadSched(pid: number): { onCpuNs: number; waitNs: number } | undefined {
  try {
    const [onCpu, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ");
    return { onCpuNs: Number(onCpu), waitNs: Number(wait) };
  } catch {
    return undefined;
  }
}

function runQueueWaitOf(pid: number): number {
  return (mainThreadSched(pid)?.waitNs ?? 0) / 1e9;
}

/** The main threads' run-queue waits so far, s. */
export function sampleMainThreadWait(
  simulatorPid: number | undefined,
  controllerPids: readonly number[] = [],
): MainThreadWait {
  return {
    harness: runQueueWaitOf(process.pid),
    controllers: controllerPids.reduce((sum, pid) => sum + runQueueWaitOf(pid), 0),
    simulator: simulatorPid === undefined ? 0 : runQueueWaitOf(simulatorPid),
  };
}

/** The waits between two samples, s. */
export function waitBetween(a: MainThreadWait, b: MainThreadWait): MainThreadWait {
  return {
    harness: b.harness - a.harness,
    controllers: b.controllers - a.controllers,
    simulator: b.simulator - a.simulator,
  };
}
