/**
 * Job reports (`reports/<jobId>/report.json`). The report's shape belongs to the pipeline
 * (lib/backup/report.ts); here it travels inside a small typed envelope, so a reader can tell a
 * report from any other JSON and which version wrote it.
 */

import { DamagedArchiveError } from "./errors.js";
import { compareJobIds, fromKeySegment, reportKey } from "./keys.js";
import { getBytesIfExists, type ObjectStore } from "./store.js";

export interface ReportEnvelope<T> {
  format: "mailstream.report";
  version: 1;
  jobId: string;
  /** ISO time the report was written. */
  writtenAt: string;
  report: T;
}

/** Writes the job's report (rewriting it when finalization runs again). Returns its key. */
export async function writeReport<T>(
  store: ObjectStore,
  jobId: string,
  report: T,
  now: Date = new Date(),
): Promise<string> {
  const envelope: ReportEnvelope<T> = {
    format: "mailstream.report",
    version: 1,
    jobId,
    writtenAt: now.toISOString(),
    report,
  };
  const key = reportKey(jobId);
  await store.put(key, Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`), {
    contentType: "application/json",
  });
  return key;
}

/** The job's report envelope, or undefined when none was written. Throws on anything that is not one. */
export async function readReport<T>(
  store: ObjectStore,
  jobId: string,
): Promise<ReportEnvelope<T> | undefined> {
  const key = reportKey(jobId);
  const bytes = await getBytesIfExists(store, key);
  if (!bytes) return undefined;
  let value: Partial<ReportEnvelope<T>>;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new DamagedArchiveError(`report ${key}: expected JSON, found ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (
    value?.format !== "mailstream.report" ||
    value.version !== 1 ||
    value.jobId !== jobId ||
    !("report" in value)
  ) {
    throw new DamagedArchiveError(
      `report ${key}: expected a mailstream.report version 1 envelope for job ${jobId}, found format ${String(value?.format)}, version ${String(value?.version)}, job ${String(value?.jobId)}`,
    );
  }
  return value as ReportEnvelope<T>;
}

/** Ids of every job with a report, in time order. */
export async function listReportedJobs(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const { key } of store.list("reports/")) {
    const m = /^reports\/([^/]+)\/report\.json$/.exec(key);
    if (m) ids.push(fromKeySegment(m[1]!));
  }
  return ids.sort(compareJobIds);
}
