import type { FinalizeArchivePort, FinalizeStatePort } from "./ports.js";
import { buildJobReport, JOB_REPORT_PAGED_LISTS, type JobReport } from "./report.js";

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
  await deps.archive.writeReport(report, { pagedLists: JOB_REPORT_PAGED_LISTS });
  await deps.archive.writeManifest(report);
  await deps.state.promoteSyncStates(jobId);
  await deps.state.markJobFinished(jobId, report.status, endedAt);
  return report;
}
