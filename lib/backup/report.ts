import type { JobReport, ReportInput, ReportTally, StreamTally, UnitRecordView } from "./ports.js";

/** The report types live with the other ports and data of the backup flow (ports.ts). */
export type { JobReport, ReportInput, ReportTally, StreamTally, UnitRecordView } from "./ports.js";

/**
 * The report's lists that grow with the tenant (one entry per unit or mailbox): the archive
 * stores them in pages when they are long, so that report.json stays small at any size.
 */
export const JOB_REPORT_PAGED_LISTS = ["plan.units", "units", "mailboxes", "skippedMailboxes"] as const;
export type JobReportPagedList = (typeof JOB_REPORT_PAGED_LISTS)[number];

/** What the report takes from the job record alone (the rest comes from its unit, mailbox and skipped records). */
export type ReportHead = Omit<ReportInput, "endedAt" | "units" | "mailboxes" | "skippedMailboxes">;

/** What a mailbox's entry needs of each of its units. */
export type UnitOutcome = Pick<UnitRecordView, "status" | "progress" | "errors" | "incompleteFolders">;

export const emptyTally = (): ReportTally => ({
  units: 0,
  items: 0,
  bytes: 0,
  removed: 0,
  deduplicated: 0,
  errors: 0,
  requests: 0,
  throttled: 0,
  unitsNotDone: 0,
  streams: [],
  mailboxes: 0,
  mailboxesIncomplete: 0,
});

const seconds = (from?: string, to?: string) =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : 0;

/** Adds a page of unit records to the tally (a new tally; `tally` is left as it was). */
export function tallyUnits(tally: ReportTally, units: readonly UnitRecordView[]): ReportTally {
  const next: ReportTally = { ...tally };
  const streams = new Map<number, StreamTally>(tally.streams.map((s) => [s[0], [...s] as StreamTally]));
  for (const u of units) {
    next.units++;
    next.items += u.progress.items;
    next.bytes += u.progress.bytes;
    next.removed += u.progress.removed;
    next.deduplicated += u.progress.deduplicated;
    next.errors += u.errors.filter((e) => !e.notice).length;
    next.requests += u.requests ?? 0;
    next.throttled += u.throttled ?? 0;
    if (u.status !== "done" && u.status !== "mailbox-skipped") next.unitsNotDone++;
    if (u.endedAt && (next.lastUnitEnd === undefined || u.endedAt > next.lastUnitEnd))
      next.lastUnitEnd = u.endedAt;
    if (u.streamId === undefined) continue;
    let s = streams.get(u.streamId);
    if (!s) {
      s = [u.streamId, 0, -1, -1, 0, 0, 0];
      streams.set(u.streamId, s);
    }
    // A unit counts in its stream once it started (a stream that claimed it and died before is listed, idle).
    if (!u.startedAt) continue;
    const start = Date.parse(u.startedAt);
    s[1]++;
    if (s[2] < 0 || start < s[2]) s[2] = start;
    if (u.endedAt) {
      const end = Date.parse(u.endedAt);
      if (end > s[3]) s[3] = end;
      s[4] += Math.max(0, end - start);
    }
    s[5] += u.progress.items;
    s[6] += u.progress.bytes;
  }
  next.streams = [...streams.values()].sort((a, b) => a[0] - b[0]);
  return next;
}

/** A mailbox's entry in the report, from its units. */
export function mailboxEntry(
  mailbox: { mailboxId: string; address: string },
  units: readonly UnitOutcome[],
): JobReport["mailboxes"][number] {
  const errors = units.flatMap((u) => u.errors);
  const status: JobReport["mailboxes"][number]["status"] = units.some((u) => u.status === "failed")
    ? "failed"
    : units.some((u) => u.status === "mailbox-skipped")
      ? "skipped"
      : errors.some((e) => !e.notice) || units.some((u) => u.incompleteFolders.length > 0)
        ? "partial"
        : "complete";
  return {
    mailboxId: mailbox.mailboxId,
    address: mailbox.address,
    status,
    items: units.reduce((s, u) => s + u.progress.items, 0),
    bytes: units.reduce((s, u) => s + u.progress.bytes, 0),
    errors,
  };
}

/** Adds a page of mailbox entries to the tally (a new tally). */
export function tallyMailboxes(
  tally: ReportTally,
  mailboxes: ReadonlyArray<Pick<JobReport["mailboxes"][number], "status">>,
): ReportTally {
  return {
    ...tally,
    mailboxes: tally.mailboxes + mailboxes.length,
    mailboxesIncomplete: tally.mailboxesIncomplete + mailboxes.filter((m) => m.status !== "complete").length,
  };
}

/** A unit's entry in the report's plan. */
export const planUnitEntry = ({
  index,
  mailboxId,
  folderIds,
  cost,
  estimatedSeconds,
  concurrency,
}: UnitRecordView): JobReport["plan"]["units"][number] => ({
  index,
  mailboxId,
  folderIds,
  cost,
  estimatedSeconds,
  concurrency,
});

/** A unit's entry in the report: what happened to it. */
export const unitEntry = (u: UnitRecordView): JobReport["units"][number] => ({
  index: u.index,
  mailboxId: u.mailboxId,
  status: u.status,
  ...(u.streamId !== undefined ? { streamId: u.streamId } : {}),
  ...(u.startedAt ? { startedAt: u.startedAt } : {}),
  ...(u.endedAt ? { endedAt: u.endedAt } : {}),
  ...(u.startedAt && u.endedAt ? { seconds: seconds(u.startedAt, u.endedAt) } : {}),
  items: u.progress.items,
  bytes: u.progress.bytes,
  ...(u.requests !== undefined ? { requests: u.requests } : {}),
  ...(u.throttled !== undefined ? { throttled: u.throttled } : {}),
  errors: u.errors.length,
});

/** The job's status from its failure (if any) and the tally of every unit and mailbox. */
export function reportStatus(head: Pick<ReportHead, "failure">, tally: ReportTally): JobReport["status"] {
  if (head.failure !== undefined || tally.unitsNotDone > 0) return "failed";
  return tally.mailboxesIncomplete > 0 ? "partial" : "complete";
}

/**
 * The report without its per-unit, per-mailbox and skipped lists (left empty): totals, phases,
 * streams and status, from the tally of every record.
 */
export function reportSummary(head: ReportHead, tally: ReportTally, endedAt: string): JobReport {
  const makespanSeconds = seconds(head.createdAt, endedAt);
  const byId = new Map(tally.streams.map((s) => [s[0], s]));
  const ids = new Set<number>(byId.keys());
  for (let s = 0; s < head.streams; s++) ids.add(s);
  const iso = (ms: number) => new Date(ms).toISOString();
  const streams = [...ids]
    .sort((a, b) => a - b)
    .map((streamId) => {
      const [, units, first, last, busyMs, items, bytes] = byId.get(streamId) ?? [
        streamId,
        0,
        -1,
        -1,
        0,
        0,
        0,
      ];
      const busySeconds = busyMs / 1000;
      return {
        streamId,
        units,
        ...(first >= 0 ? { firstStart: iso(first) } : {}),
        ...(last >= 0 ? { lastEnd: iso(last) } : {}),
        busySeconds,
        idleSeconds: Math.max(0, makespanSeconds - busySeconds),
        items,
        bytes,
      };
    });
  const plannedAt = head.plannedAt ?? head.createdAt;
  const backupEnd = tally.lastUnitEnd ?? plannedAt;
  const phases = {
    planningSeconds: seconds(head.createdAt, plannedAt),
    backupSeconds: seconds(plannedAt, backupEnd),
    finalizingSeconds: seconds(backupEnd, endedAt),
    // Discovery overlaps the backup (streams start on its first piece): its own span.
    ...(head.discoveredAt ? { discoverySeconds: seconds(head.createdAt, head.discoveredAt) } : {}),
  };
  return {
    jobId: head.jobId,
    trigger: head.trigger,
    status: reportStatus(head, tally),
    ...(head.failure !== undefined ? { failure: head.failure } : {}),
    createdAt: head.createdAt,
    endedAt,
    makespanSeconds,
    phases,
    totals: {
      mailboxes: tally.mailboxes,
      units: tally.units,
      items: tally.items,
      bytes: tally.bytes,
      removed: tally.removed,
      deduplicated: tally.deduplicated,
      errors: tally.errors,
      requests: tally.requests,
      throttled: tally.throttled,
    },
    plan: {
      streams: head.streams,
      predictedMakespanSeconds: head.predictedMakespanSeconds,
      lowerBoundSeconds: head.lowerBoundSeconds,
      units: [],
    },
    units: [],
    streams,
    mailboxes: [],
    skippedMailboxes: [],
  };
}

/**
 * Builds the job report from the job's records in one go (a finalization of a small job, or of
 * a job planned by older code): the same figures as a report built page by page.
 */
export function buildJobReport(input: ReportInput): JobReport {
  const units = [...input.units].sort((a, b) => a.index - b.index);
  // Units by mailbox, gathered in one pass: a filter per mailbox would make the report
  // quadratic in the tenant's size.
  const byMailbox = new Map<string, UnitRecordView[]>();
  for (const u of units) {
    const list = byMailbox.get(u.mailboxId);
    if (list) list.push(u);
    else byMailbox.set(u.mailboxId, [u]);
  }
  const mailboxes = input.mailboxes.map((m) => mailboxEntry(m, byMailbox.get(m.mailboxId) ?? []));
  const tally = tallyMailboxes(tallyUnits(emptyTally(), units), mailboxes);
  const { endedAt, units: _u, mailboxes: _m, skippedMailboxes, ...head } = input;
  const summary = reportSummary(head, tally, endedAt);
  return {
    ...summary,
    plan: { ...summary.plan, units: units.map(planUnitEntry) },
    units: units.map(unitEntry),
    mailboxes,
    skippedMailboxes,
  };
}
