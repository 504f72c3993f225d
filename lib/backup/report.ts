import type { JobReport, ReportInput, UnitRecordView } from "./ports.js";

/** The report types live with the other ports and data of the backup flow (ports.ts). */
export type { JobReport, ReportInput, UnitRecordView } from "./ports.js";

/**
 * The report's lists that grow with the tenant (one entry per unit or mailbox): the archive
 * stores them in pages when they are long, so that report.json stays small at any size.
 */
export const JOB_REPORT_PAGED_LISTS = ["plan.units", "units", "mailboxes", "skippedMailboxes"] as const;

const seconds = (from?: string, to?: string) =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : 0;

/** Builds the job report from the job's unit records: plan beside what happened. */
export function buildJobReport(input: ReportInput): JobReport {
  const makespanSeconds = seconds(input.createdAt, input.endedAt);
  const units = [...input.units].sort((a, b) => a.index - b.index);
  const totals = {
    mailboxes: input.mailboxes.length,
    units: units.length,
    items: 0,
    bytes: 0,
    removed: 0,
    deduplicated: 0,
    errors: 0,
    requests: 0,
    throttled: 0,
  };
  for (const u of units) {
    totals.items += u.progress.items;
    totals.bytes += u.progress.bytes;
    totals.removed += u.progress.removed;
    totals.deduplicated += u.progress.deduplicated;
    totals.errors += u.errors.filter((e) => !e.notice).length;
    totals.requests += u.requests ?? 0;
    totals.throttled += u.throttled ?? 0;
  }

  const streamIds = new Set<number>();
  for (let s = 0; s < input.streams; s++) streamIds.add(s);
  for (const u of units) if (u.streamId !== undefined) streamIds.add(u.streamId);
  // Units by stream and by mailbox, gathered in one pass: a filter per mailbox would make the
  // report quadratic in the tenant's size.
  const byStream = new Map<number, UnitRecordView[]>();
  const byMailbox = new Map<string, UnitRecordView[]>();
  const add = <K>(map: Map<K, UnitRecordView[]>, key: K, u: UnitRecordView) => {
    const list = map.get(key);
    if (list) list.push(u);
    else map.set(key, [u]);
  };
  for (const u of units) {
    if (u.streamId !== undefined && u.startedAt) add(byStream, u.streamId, u);
    add(byMailbox, u.mailboxId, u);
  }
  const streams = [...streamIds]
    .sort((a, b) => a - b)
    .map((streamId) => {
      const mine = byStream.get(streamId) ?? [];
      const busySeconds = mine.reduce((s, u) => s + seconds(u.startedAt, u.endedAt), 0);
      const starts = mine.map((u) => u.startedAt!).sort();
      const ends = mine
        .map((u) => u.endedAt)
        .filter((e): e is string => Boolean(e))
        .sort();
      return {
        streamId,
        units: mine.length,
        ...(starts[0] ? { firstStart: starts[0] } : {}),
        ...(ends.length ? { lastEnd: ends[ends.length - 1] } : {}),
        busySeconds,
        idleSeconds: Math.max(0, makespanSeconds - busySeconds),
        items: mine.reduce((s, u) => s + u.progress.items, 0),
        bytes: mine.reduce((s, u) => s + u.progress.bytes, 0),
      };
    });

  const mailboxes = input.mailboxes.map(({ mailboxId, address }) => {
    const mine = byMailbox.get(mailboxId) ?? [];
    const errors = mine.flatMap((u) => u.errors);
    const status: JobReport["mailboxes"][number]["status"] = mine.some((u) => u.status === "failed")
      ? "failed"
      : mine.some((u) => u.status === "mailbox-skipped")
        ? "skipped"
        : errors.some((e) => !e.notice) || mine.some((u) => u.incompleteFolders.length > 0)
          ? "partial"
          : "complete";
    return {
      mailboxId,
      address,
      status,
      items: mine.reduce((s, u) => s + u.progress.items, 0),
      bytes: mine.reduce((s, u) => s + u.progress.bytes, 0),
      errors,
    };
  });

  const status: JobReport["status"] =
    input.failure !== undefined || units.some((u) => u.status !== "done" && u.status !== "mailbox-skipped")
      ? "failed"
      : mailboxes.some((m) => m.status !== "complete")
        ? "partial"
        : "complete";

  const lastUnitEnd = units
    .map((u) => u.endedAt)
    .filter((e): e is string => Boolean(e))
    .sort()
    .at(-1);
  const plannedAt = input.plannedAt ?? input.createdAt;
  const backupEnd = lastUnitEnd ?? plannedAt;
  const phases = {
    planningSeconds: seconds(input.createdAt, plannedAt),
    backupSeconds: seconds(plannedAt, backupEnd),
    finalizingSeconds: seconds(backupEnd, input.endedAt),
    // Discovery overlaps the backup (streams start on its first piece): its own span.
    ...(input.discoveredAt ? { discoverySeconds: seconds(input.createdAt, input.discoveredAt) } : {}),
  };

  return {
    jobId: input.jobId,
    trigger: input.trigger,
    status,
    ...(input.failure !== undefined ? { failure: input.failure } : {}),
    createdAt: input.createdAt,
    endedAt: input.endedAt,
    makespanSeconds,
    phases,
    totals,
    plan: {
      streams: input.streams,
      predictedMakespanSeconds: input.predictedMakespanSeconds,
      lowerBoundSeconds: input.lowerBoundSeconds,
      units: units.map(({ index, mailboxId, folderIds, cost, estimatedSeconds, concurrency }) => ({
        index,
        mailboxId,
        folderIds,
        cost,
        estimatedSeconds,
        concurrency,
      })),
    },
    units: units.map((u) => ({
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
    })),
    streams,
    mailboxes,
    skippedMailboxes: input.skippedMailboxes,
  };
}
