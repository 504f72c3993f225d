/**
 * The benchmark's arithmetic, apart from its runs so that it can be tested: the work of a full
 * backup as the simulator serves it (the input of LB), and the figures of one run.
 */
import type { JobReport } from "../lib/backup/report.js";
import type { GroundTruth } from "../lib/dev/sim/index.js";
import type { WorkEstimate } from "../lib/plan/index.js";

/** The simulated service as the work model needs it. */
export interface ServiceModel {
  /** Seconds per request, before its bytes. */
  perRequestSeconds: number;
  /** Seconds per MIME byte. */
  perByteSeconds: number;
  /** Items per delta page. */
  pageSize: number;
}

export interface GraphCounters {
  requests: number;
  throttled: number;
  earlyRetries: number;
}

export interface RunFigures {
  makespanSeconds: number;
  /** Job created → stream tasks sent (discovery, folder listing, planning). */
  planningSeconds: number;
  /** Stream tasks sent → last unit ended: the streams' work, which LB bounds. */
  backupSeconds: number;
  /** Last unit ended → job ended (report, manifest, sync-state promotion). */
  finalizingSeconds: number;
  items: number;
  bytes: number;
  itemsPerSecond: number;
  megabytesPerSecond: number;
  requests: number;
  requestsPerItem: number;
  throttled: number;
  throttledShare: number;
  earlyRetries: number;
  /** Σ over streams of seconds without a unit between the job's start and end. */
  streamIdleSeconds: number;
  /** Mean idle share of a stream: idle / (N × makespan). */
  streamIdleShare: number;
  status: string;
}

/**
 * The tenant's real content, and the work of a full backup exactly as the simulator serves it:
 * per folder one `$value` GET per item and max(1, ⌈items / page size⌉) delta pages (the last page
 * carries the deltaLink). Discovery (probe, folder listing) is the coordinator's, before the
 * streams start: it is not stream work, so it is not in LB (the planning phase is reported apart).
 * `only`: the addresses of the mailboxes backed up (default all).
 */
export function realContent(
  truth: GroundTruth,
  service: ServiceModel & { only?: ReadonlySet<string> | undefined },
): { works: WorkEstimate[]; items: number; folders: number; addresses: string[] } {
  let items = 0;
  let folders = 0;
  const mailboxes = truth.mailboxes.filter((m) => !service.only || service.only.has(m.address));
  const works = mailboxes.map((m) => {
    let requests = 0;
    let bytes = 0;
    for (const f of m.folders) {
      if (f.isSearchFolder) continue;
      const k = f.messages.length;
      items += k;
      folders++;
      requests += k + Math.max(1, Math.ceil(k / service.pageSize));
      bytes += f.messages.reduce((s, x) => s + x.size, 0);
    }
    return { requests, serialSeconds: requests * service.perRequestSeconds + bytes * service.perByteSeconds };
  });
  return { works, items, folders, addresses: mailboxes.map((m) => m.address) };
}

/** The figures of one run from its job report and the simulator's counters before and after it. */
export function figures(
  report: JobReport,
  before: GraphCounters,
  after: GraphCounters,
  streams: number,
): RunFigures {
  const makespan = report.makespanSeconds;
  const items = report.totals.items;
  const requests = after.requests - before.requests;
  const throttled = after.throttled - before.throttled;
  const idle = report.streams.reduce((s, x) => s + x.idleSeconds, 0);
  // Streams that never got a unit do not appear in the report: they idled the whole job.
  const unusedIdle = Math.max(0, streams - report.streams.length) * makespan;
  return {
    makespanSeconds: makespan,
    planningSeconds: report.phases.planningSeconds,
    backupSeconds: report.phases.backupSeconds,
    finalizingSeconds: report.phases.finalizingSeconds,
    items,
    bytes: report.totals.bytes,
    itemsPerSecond: makespan > 0 ? items / makespan : 0,
    megabytesPerSecond: makespan > 0 ? report.totals.bytes / 1e6 / makespan : 0,
    requests,
    requestsPerItem: items > 0 ? requests / items : 0,
    throttled,
    throttledShare: requests > 0 ? throttled / requests : 0,
    earlyRetries: after.earlyRetries - before.earlyRetries,
    streamIdleSeconds: idle + unusedIdle,
    streamIdleShare: makespan > 0 ? (idle + unusedIdle) / (streams * makespan) : 0,
    status: report.status,
  };
}
