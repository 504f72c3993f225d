/** `mailstream jobs`: the archive's jobs with status, times, counts, bytes and errors. */
import type { Command } from "commander";
import { type ArchivedJob, requireJobs } from "../../catalog-index/directory.js";
import { type ArchiveOptions, addArchiveOptions, withArchive } from "../format/archive-options.js";
import { type CommandIO, formatTable, formatTime, processIO, writeJson } from "../format/output.js";
import { formatBytes } from "../progress-view.js";

export interface JobsCommandOptions extends ArchiveOptions {
  json?: boolean;
}

/** One job as `jobs` shows it (also its `--json` shape). */
export interface JobRow {
  jobId: string;
  /** complete | partial | failed from the manifest; "not finalized" without one. */
  status: string;
  startedAt?: string;
  endedAt?: string;
  makespanSeconds?: number;
  mailboxes: number;
  items: number;
  bytes: number;
  removed: number;
  errors: number;
}

export function jobRow(job: ArchivedJob): JobRow {
  const r = job.report;
  const endedAt = job.manifest?.endedAt ?? r?.endedAt;
  return {
    jobId: job.jobId,
    status: job.problems
      ? "unreadable"
      : (job.manifest?.status ?? (r ? `${r.status} (not finalized)` : "not finalized")),
    ...(r?.createdAt ? { startedAt: r.createdAt } : {}),
    ...(endedAt ? { endedAt } : {}),
    ...(r ? { makespanSeconds: r.makespanSeconds } : {}),
    mailboxes: job.manifest?.mailboxes.length ?? r?.mailboxes.length ?? 0,
    items: r?.totals.items ?? 0,
    bytes: r?.totals.bytes ?? 0,
    removed: r?.totals.removed ?? 0,
    errors: r?.totals.errors ?? 0,
  };
}

export async function jobsCommand(opts: JobsCommandOptions, io: CommandIO = processIO): Promise<number> {
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive);
    const problems = jobs.flatMap((j) => j.problems ?? []);
    for (const p of problems) io.err.write(`mailstream: warning: ${p}\n`);
    const rows = jobs.map(jobRow);
    if (opts.json) {
      writeJson(io.out, rows);
      return problems.length > 0 ? 1 : 0;
    }
    io.out.write(
      formatTable(
        ["JOB", "STATUS", "STARTED (UTC)", "SECONDS", "MAILBOXES", "ITEMS", "BYTES", "REMOVED", "ERRORS"],
        rows.map((j) => [
          j.jobId,
          j.status,
          formatTime(j.startedAt),
          j.makespanSeconds !== undefined ? j.makespanSeconds.toFixed(1) : "-",
          String(j.mailboxes),
          String(j.items),
          formatBytes(j.bytes),
          String(j.removed),
          String(j.errors),
        ]),
      ),
    );
    return problems.length > 0 ? 1 : 0;
  });
}

export function registerJobs(program: Command): void {
  addArchiveOptions(
    program
      .command("jobs")
      .description(
        "List the archive's backup jobs: status, start, duration, mailboxes, items, bytes, errors",
      ),
  )
    .option("--json", "print the jobs as JSON")
    .action(async (opts: JobsCommandOptions) => {
      process.exitCode = await jobsCommand(opts);
    });
}
