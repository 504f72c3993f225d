/** `mailstream jobs`: the archive's jobs with status, times, counts, bytes and errors. */
import { type ArchivedJob, requireJobs } from "../../catalog-index/directory.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import {
  type CommandIO,
  formatBytes,
  formatTable,
  formatTime,
  processIO,
  writeJson,
} from "../format/output.js";
import type { ArchiveOptions } from "../options.js";

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
  /** Job created → job ended, seconds (the report's makespan; the run summary gives the same). */
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
    mailboxes:
      job.manifest?.mailboxPages?.entries ??
      job.manifest?.mailboxes.length ??
      r?.totals.mailboxes ??
      r?.mailboxes.length ??
      0,
    items: r?.totals.items ?? 0,
    bytes: r?.totals.bytes ?? 0,
    removed: r?.totals.removed ?? 0,
    errors: r?.totals.errors ?? 0,
  };
}

export async function jobsCommand(opts: JobsCommandOptions, io: CommandIO = processIO): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const jobs = await requireJobs(ctx.archive, { mailboxes: false });
    const problems = jobs.flatMap((j) => j.problems ?? []);
    for (const p of problems) io.err.write(`mailstream: warning: ${p}\n`);
    const rows = jobs.map(jobRow);
    if (opts.json) {
      writeJson(io.out, rows);
      return problems.length > 0 ? EXIT.damaged : EXIT.ok;
    }
    io.out.write(
      formatTable(
        ["JOB", "STATUS", "STARTED (UTC)", "MAKESPAN", "MAILBOXES", "ITEMS", "BYTES", "REMOVED", "ERRORS"],
        rows.map((j) => [
          j.jobId,
          j.status,
          formatTime(j.startedAt),
          j.makespanSeconds !== undefined ? `${j.makespanSeconds.toFixed(1)} s` : "-",
          String(j.mailboxes),
          String(j.items),
          formatBytes(j.bytes),
          String(j.removed),
          String(j.errors),
        ]),
      ),
    );
    return problems.length > 0 ? EXIT.damaged : EXIT.ok;
  });
}
