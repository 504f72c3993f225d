/** `mailstream report <job> [--html file]`: the job report, and its per-stream timeline as HTML. */
import { writeFile } from "node:fs/promises";
import type { JobReport } from "../../backup/report.js";
import { requireJobs, resolveJob, wholeReport } from "../../catalog-index/directory.js";
import { ArchiveLookupError } from "../../catalog-index/errors.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import {
  type CommandIO,
  formatBytes,
  formatTable,
  formatTime,
  type OutputSink,
  processIO,
  writeJson,
} from "../format/output.js";
import type { ArchiveOptions } from "../options.js";
import { renderTimelineHtml } from "../timeline.js";

export interface ReportCommandOptions extends ArchiveOptions {
  /** `--html <file>`: write the timeline chart there. */
  html?: string;
  json?: boolean;
}

/** The report as text: summary, streams, mailboxes with errors. */
export function writeReportText(out: OutputSink, r: JobReport): void {
  const lines = [
    `job ${r.jobId}: ${r.status} (${r.trigger})`,
    `  started    ${formatTime(r.createdAt)}   ended ${formatTime(r.endedAt)}   makespan ${r.makespanSeconds.toFixed(1)} s`,
    `  plan       ${r.plan.units.length} units on ${r.plan.streams} streams; predicted ${r.plan.predictedMakespanSeconds.toFixed(1)} s, lower bound ${r.plan.lowerBoundSeconds.toFixed(1)} s`,
    `  backed up  ${r.totals.items} items, ${formatBytes(r.totals.bytes)} (${r.totals.deduplicated} already archived), ${r.totals.removed} removals`,
    `  mailboxes  ${r.totals.mailboxes} (${r.mailboxes.filter((m) => m.status === "complete").length} complete), ${r.skippedMailboxes.length} skipped`,
    `  requests   ${r.totals.requests}, throttled ${r.totals.throttled}, errors ${r.totals.errors}`,
    "",
  ];
  out.write(lines.join("\n"));
  out.write(
    formatTable(
      ["STREAM", "UNITS", "BUSY S", "IDLE S", "ITEMS", "BYTES"],
      r.streams.map((s) => [
        String(s.streamId),
        String(s.units),
        s.busySeconds.toFixed(1),
        s.idleSeconds.toFixed(1),
        String(s.items),
        formatBytes(s.bytes),
      ]),
    ),
  );
  const troubled = r.mailboxes.filter((m) => m.status !== "complete" || m.errors.length > 0);
  if (troubled.length > 0) {
    out.write("\nmailboxes with errors:\n");
    for (const m of troubled) {
      out.write(`  ${m.address} (${m.status}):\n`);
      for (const e of m.errors.slice(0, 5)) out.write(`    ${e.subject}: ${e.name}: ${e.message}\n`);
      if (m.errors.length > 5) out.write(`    … ${m.errors.length - 5} more (see --json)\n`);
    }
  }
  for (const s of r.skippedMailboxes) out.write(`  skipped ${s.address ?? s.userId}: ${s.reason}\n`);
}

export async function reportCommand(
  jobId: string,
  opts: ReportCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive, { mailboxes: false });
    // `latest`: the newest job that has a report.
    const newest = [...jobs].reverse().find((j) => j.report);
    if (jobId === "latest" && !newest) {
      throw new ArchiveLookupError("job latest: expected a job with a report in the archive, found none");
    }
    const job = jobId === "latest" ? newest! : resolveJob(jobs, jobId);
    if (!job.report) {
      throw new ArchiveLookupError(
        `job ${job.jobId}: expected its report (reports/${job.jobId}/report.json), found none (the job is still running or was never finalized; try \`mailstream status ${job.jobId}\`)`,
      );
    }
    const report = (await wholeReport(ctx.archive, job)) ?? job.report;
    if (opts.json) writeJson(io.out, report);
    else writeReportText(io.out, report);
    if (opts.html) {
      await writeFile(opts.html, renderTimelineHtml(report));
      io.err.write(`mailstream: wrote the timeline of job ${job.jobId} to ${opts.html}\n`);
    }
    return EXIT.ok;
  });
}
