import { buildJobReport, type JobReport, type ReportInput } from "./report.js";

export interface FinalizeStatePort {
  /** Everything the report needs from the job's records. */
  reportInput(jobId: string): Promise<Omit<ReportInput, "endedAt">>;
  /** Makes the job's staged sync states (folders it completed) the base of the next run. */
  promoteSyncStates(jobId: string): Promise<void>;
  markJobFinished(jobId: string, status: JobReport["status"], endedAt: string): Promise<void>;
}

export interface FinalizeArchivePort {
  writeReport(report: JobReport): Promise<void>;
  /** The manifest makes the job's catalog count in point-in-time views. */
  writeManifest(report: JobReport): Promise<void>;
}

export interface FinalizeDeps {
  state: FinalizeStatePort;
  archive: FinalizeArchivePort;
  now?: () => Date;
}

/**
 * Ends a job: report, manifest, then sync states, then the job record. The order matters: the
 * next job's incremental pass starts from the promoted sync states, so the catalog that those
 * states summarise must already count (manifest) before they are promoted. Every step is
 * idempotent, so the sweep can run it again after a crash.
 */
export async function finalizeJob(jobId: string, deps: FinalizeDeps): Promise<JobReport> {
  const endedAt = (deps.now?.() ?? new Date()).toISOString();
  const input = await deps.state.reportInput(jobId);
  const report = buildJobReport({ ...input, endedAt });
  await deps.archive.writeReport(report);
  await deps.archive.writeManifest(report);
  await deps.state.promoteSyncStates(jobId);
  await deps.state.markJobFinished(jobId, report.status, endedAt);
  return report;
}
