/**
 * `mailstream status [job]`: a live view of a job (overall and per stream, with progress bars)
 * from the state store while one is reachable, refreshing until the job ends; otherwise the last
 * report from the archive.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { readJobProgress } from "../../app/progress.js";
import { requireJobs, resolveJob, wholeReport } from "../../catalog-index/directory.js";
import { ArchiveLookupError } from "../../catalog-index/errors.js";
import { CLOSED_JOB_STATUSES, type StateStore } from "../../state/index.js";
import { withArchive } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { type CommandIO, processIO, writeJson } from "../format/output.js";
import type { ArchiveOptions } from "../options.js";
import { JobProgressView } from "../progress-view.js";
import { writeReportText } from "./report.js";

export interface StatusCommandOptions extends ArchiveOptions {
  /** Milliseconds between refreshes of the live view. Range 100–60 000, default 1000. */
  refreshMs?: number;
  /** Print the current progress once instead of following the job. */
  once?: boolean;
  json?: boolean;
}

async function liveJobId(state: StateStore, jobId: string | undefined): Promise<string | undefined> {
  if (jobId) return (await state.getJob(jobId)) ? jobId : undefined;
  const open = await state.openJobs();
  if (open.length > 0) return open[open.length - 1]!.jobId;
  return (await state.listJobs(1))[0]?.jobId;
}

export async function statusCommand(
  jobId: string | undefined,
  opts: StatusCommandOptions,
  io: CommandIO = processIO,
): Promise<ExitCode> {
  return withArchive(opts, async (ctx) => {
    const live = ctx.state ? await liveJobId(ctx.state, jobId) : undefined;
    if (ctx.state && live) {
      const view = new JobProgressView(io.out as NodeJS.WriteStream, 0);
      try {
        for (;;) {
          const progress = await readJobProgress(ctx.state, live);
          if (!progress) break;
          const closed = (CLOSED_JOB_STATUSES as readonly string[]).includes(progress.status);
          if (opts.json) writeJson(io.out, progress);
          else view.update(progress);
          if (closed || opts.once) break;
          await sleep(opts.refreshMs ?? 1000);
        }
      } finally {
        view.stop();
      }
      return EXIT.ok;
    }
    // No live state: the archive's last word on the job.
    const jobs = await requireJobs(ctx.archive, { mailboxes: false });
    const job = jobId ? resolveJob(jobs, jobId) : [...jobs].reverse().find((j) => j.report);
    if (!job?.report) {
      throw new ArchiveLookupError(
        `job ${jobId ?? "(latest)"}: expected a report in ${ctx.where} or a reachable state table, found neither`,
      );
    }
    const report = (await wholeReport(ctx.archive, job)) ?? job.report;
    if (opts.json) writeJson(io.out, report);
    else writeReportText(io.out, report);
    return EXIT.ok;
  });
}
