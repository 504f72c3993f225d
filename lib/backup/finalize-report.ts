/**
 * The first stage of a job's finalization (finalize.ts): its report and manifest, in one step for
 * a small or an older job, else a page of records per piece.
 */
import type { FinalizeArchivePort, FinalizeProgress, FinalizeStatePort, ReportProgress } from "./ports.js";
import {
  buildJobReport,
  JOB_REPORT_PAGED_LISTS,
  type JobReport,
  mailboxEntry,
  planUnitEntry,
  type ReportHead,
  reportSummary,
  tallyMailboxes,
  tallyUnits,
  unitEntry,
} from "./report.js";

interface ReportDeps {
  state: FinalizeStatePort;
  archive: FinalizeArchivePort;
}

/** One piece of a finalization, as {@link FinalizeDeps.onPiece} is told of it. */
export interface FinalizePiece {
  /**
   * `report`: a small (or older) job's whole report and manifest in one step; `report-units`,
   * `report-mailboxes`, `report-skipped`: a page of those records into the report's pages (the
   * last one also writes manifest.json and report.json); `sync`, `mailboxes`: the steps after.
   */
  kind: "report" | "report-units" | "report-mailboxes" | "report-skipped" | "sync" | "mailboxes";
  records: number;
  ms: number;
}

/** Runs a piece's work and tells of it (kind, records, milliseconds). */
export type PieceTimer = <T>(
  kind: FinalizePiece["kind"],
  work: () => Promise<T>,
  records: (value: T) => number,
) => Promise<T>;

/**
 * The whole report and manifest in one step, written as before pieces (lists paged by size),
 * when the job is small (its units, mailboxes and skipped mailboxes each fit in one piece) or was
 * planned by older code (its mailbox records do not list their units: it is read whole, as then).
 * Undefined when the job is large: the report goes in pieces.
 */
export async function wholeReport(
  jobId: string,
  head: ReportHead & { inPieces: boolean },
  endedAt: string,
  pieceSize: number,
  deps: ReportDeps,
): Promise<JobReport | undefined> {
  let report: JobReport;
  if (!head.inPieces) {
    report = buildJobReport({ ...(await deps.state.reportInput(jobId)), endedAt });
  } else {
    const units = await deps.state.unitPage(jobId, undefined, pieceSize);
    if (units.last !== undefined) return undefined;
    const mailboxes = await deps.state.mailboxPage(jobId, undefined, pieceSize);
    if (mailboxes.last !== undefined) return undefined;
    const skipped = await deps.state.skippedPage(jobId, undefined, pieceSize);
    if (skipped.last !== undefined) return undefined;
    const { inPieces: _, ...rest } = head;
    report = buildJobReport({
      ...rest,
      endedAt,
      units: units.records,
      mailboxes: mailboxes.records.map(({ mailboxId, address }) => ({ mailboxId, address })),
      skippedMailboxes: skipped.records,
    });
  }
  await deps.archive.writeReport(report, { pagedLists: JOB_REPORT_PAGED_LISTS });
  await deps.archive.writeManifest(report);
  return report;
}

export type Progress<S extends FinalizeProgress["stage"]> = Extract<FinalizeProgress, { stage: S }>;

/**
 * One piece of the report: a page of units (their plan and unit entries), of mailboxes (their
 * entries and the manifest's), or of skipped mailboxes, written to pages after the ones before;
 * the last piece writes manifest.json and report.json. Returns the checkpoint after it.
 */
export async function reportPiece(
  jobId: string,
  head: ReportHead,
  progress: Progress<"report">,
  pieceSize: number,
  deps: ReportDeps,
  piece: PieceTimer,
): Promise<FinalizeProgress> {
  const { report: at, after, endedAt } = progress;
  const parts = { ...at.parts };
  const entries = { ...at.entries };
  const write = async (list: string, written: readonly unknown[]) => {
    if (written.length === 0) return;
    const firstPart = parts[list] ?? 0;
    const n =
      list === "manifest"
        ? await deps.archive.writeManifestPages(jobId, firstPart, written as never)
        : await deps.archive.writeReportPages(jobId, list, firstPart, written);
    parts[list] = firstPart + n;
    entries[list] = (entries[list] ?? 0) + written.length;
  };
  // The next checkpoint: the same records after `last`, or the next records from the start.
  const then = (
    last: string | undefined,
    following: ReportProgress["records"],
    tally: ReportProgress["tally"],
  ): Progress<"report"> => ({
    stage: "report",
    endedAt,
    ...(last !== undefined ? { after: last } : {}),
    report: {
      records: last !== undefined ? at.records : following,
      parts,
      entries,
      tally,
      pieces: at.pieces + 1,
    },
  });

  if (at.records === "units") {
    const page = await piece(
      "report-units",
      async () => {
        const page = await deps.state.unitPage(jobId, after, pieceSize);
        await write("plan.units", page.records.map(planUnitEntry));
        await write("units", page.records.map(unitEntry));
        return page;
      },
      (p) => p.records.length,
    );
    return then(page.last, "mailboxes", tallyUnits(at.tally, page.records));
  }
  if (at.records === "mailboxes") {
    const { page, listed } = await piece(
      "report-mailboxes",
      async () => {
        const page = await deps.state.mailboxPage(jobId, after, pieceSize);
        const listed = page.records.map((m) => mailboxEntry(m, m.units));
        await write("mailboxes", listed);
        await write(
          "manifest",
          listed.map(({ mailboxId, status, address }) => ({ mailboxId, status, address })),
        );
        return { page, listed };
      },
      (p) => p.page.records.length,
    );
    return then(page.last, "skipped", tallyMailboxes(at.tally, listed));
  }
  return piece(
    "report-skipped",
    async () => {
      const page = await deps.state.skippedPage(jobId, after, pieceSize);
      await write("skippedMailboxes", page.records);
      if (page.last !== undefined) return then(page.last, "skipped", at.tally);
      // Every record read: manifest.json, then report.json, each after its pages.
      const summary = reportSummary(head, at.tally, endedAt);
      const pages: Record<string, { parts: number; entries: number }> = {};
      for (const list of JOB_REPORT_PAGED_LISTS) {
        if ((entries[list] ?? 0) > 0) pages[list] = { parts: parts[list]!, entries: entries[list]! };
      }
      await deps.archive.writeManifestSummary(
        { jobId, status: summary.status, endedAt },
        { parts: parts.manifest ?? 0, entries: entries.manifest ?? 0 },
      );
      await deps.archive.writeReportSummary(summary, pages);
      return { stage: "sync", endedAt, status: summary.status } satisfies FinalizeProgress;
    },
    () => 0,
  );
}
