/**
 * What the archive holds at the top level: its jobs (from manifests and reports) and its
 * mailboxes (from the reports, which carry the addresses). Also resolves the names a user types
 * (job id, date, mailbox address or id, folder path or id) to ids, with clear errors.
 */
import { DamagedArchiveError } from "../archive/errors.js";
import { compareJobIds } from "../archive/keys.js";
import { type JobManifest, listFinalizedJobs, manifestMailboxes, readManifest } from "../archive/manifest.js";
import type { MailboxView, ViewFolder } from "../archive/replay.js";
import { listReportedJobs, type ReportPages, readReport, readReportSummary } from "../archive/reports.js";
import type { ObjectStore } from "../archive/store.js";
import type { JobReport } from "../backup/report.js";
import { isMailstreamError } from "../errors.js";
import { DATE_EXAMPLES, parseUtcTime } from "./dates.js";
import { ArchiveAccessError, ArchiveLookupError } from "./errors.js";
import { byIdOrPrefix, typedId } from "./id-prefix.js";

export interface ArchivedJob {
  jobId: string;
  /** Present when the job was finalized (its catalog counts in point-in-time views). */
  manifest?: JobManifest;
  /**
   * Present when the job's report was written: as report.json holds it, so the lists named in
   * `reportPages` are empty here (read them with {@link wholeReport}).
   */
  report?: JobReport;
  /** The report's lists kept in pages (large jobs), by dot path. */
  reportPages?: Record<string, ReportPages>;
  /** Why the manifest or report could not be read (damaged), when that happened. */
  problems?: string[];
}

export interface ListJobsOptions {
  /**
   * Read the mailbox list of a large job's manifest from its pages (version 2), so that
   * `manifest.mailboxes` is whole. Default true; a listing of jobs alone passes false and finds
   * `mailboxes: []` with the count in `manifest.mailboxPages`.
   */
  mailboxes?: boolean;
}

/** Every job the archive knows, in time order, with its manifest and report when present. */
export async function listArchivedJobs(
  store: ObjectStore,
  options: ListJobsOptions = {},
): Promise<ArchivedJob[]> {
  const [finalized, reported] = await Promise.all([listFinalizedJobs(store), listReportedJobs(store)]);
  const ids = [...new Set([...finalized, ...reported])].sort(compareJobIds);
  const done = new Set(finalized);
  const withReport = new Set(reported);
  return Promise.all(
    ids.map(async (jobId) => {
      const problems: string[] = [];
      // One damaged manifest or report must not hide the other jobs: keep its problem instead.
      const attempt = async <T>(read: () => Promise<T | undefined>): Promise<T | undefined> => {
        try {
          return await read();
        } catch (error) {
          if (!(error instanceof DamagedArchiveError)) throw error;
          problems.push(error.message);
          return undefined;
        }
      };
      const [manifest, envelope] = await Promise.all([
        done.has(jobId)
          ? attempt(() => readManifestWith(store, jobId, options.mailboxes ?? true))
          : undefined,
        withReport.has(jobId) ? attempt(() => readReportSummary<JobReport>(store, jobId)) : undefined,
      ]);
      const pages = envelope?.pages && Object.keys(envelope.pages).length > 0 ? envelope.pages : undefined;
      return {
        jobId,
        ...(manifest ? { manifest } : {}),
        ...(envelope ? { report: envelope.report } : {}),
        ...(pages ? { reportPages: pages } : {}),
        ...(problems.length ? { problems } : {}),
      };
    }),
  );
}

/** The job's manifest; with `mailboxes`, a paged mailbox list read back into it. */
async function readManifestWith(
  store: ObjectStore,
  jobId: string,
  mailboxes: boolean,
): Promise<JobManifest | undefined> {
  const manifest = await readManifest(store, jobId);
  if (!manifest?.mailboxPages || !mailboxes) return manifest;
  return { ...manifest, mailboxes: [...(await manifestMailboxes(store, manifest)).values()] };
}

/**
 * The job's whole report, its paged lists read back (a listing holds report.json alone); the
 * report as listed when nothing of it is paged.
 */
export async function wholeReport(store: ObjectStore, job: ArchivedJob): Promise<JobReport | undefined> {
  if (!job.report || !job.reportPages) return job.report;
  return (await readReport<JobReport>(store, job.jobId))?.report;
}

/** Jobs, or an error saying that the place holds no archive. */
export async function requireJobs(store: ObjectStore, options: ListJobsOptions = {}): Promise<ArchivedJob[]> {
  let jobs: ArchivedJob[];
  try {
    jobs = await listArchivedJobs(store, options);
  } catch (error) {
    if (isMailstreamError(error)) throw error;
    // A missing bucket, denied access or an unreachable endpoint: say where, not a stack trace.
    const e = error as Error;
    throw new ArchiveAccessError(
      `archive at ${store.location}: expected a readable archive, found ${e.name}: ${e.message}`,
      {
        cause: error,
      },
    );
  }
  if (jobs.length === 0) {
    throw new ArchiveLookupError(
      `archive at ${store.location}: expected finished backup jobs (jobs/<id>/manifest.json or reports/<id>/report.json), found none`,
    );
  }
  return jobs;
}

export interface ArchivedMailbox {
  mailboxId: string;
  /** The address from the newest report naming the mailbox; the id when no report names it. */
  address: string;
  /** The newest job that included the mailbox, and its status there. */
  lastJobId: string;
  lastStatus: string;
}

/** Every mailbox a job included, sorted by address. */
export function mailboxesOf(jobs: readonly ArchivedJob[]): ArchivedMailbox[] {
  const byId = new Map<string, ArchivedMailbox>();
  for (const job of jobs) {
    // Manifests keep each mailbox's address since reports are paged; older ones take it from
    // their (unpaged) report.
    const addresses = new Map((job.report?.mailboxes ?? []).map((m) => [m.mailboxId, m.address]));
    const listed = job.manifest?.mailboxes ?? job.report?.mailboxes ?? [];
    for (const m of listed) {
      const known = byId.get(m.mailboxId);
      byId.set(m.mailboxId, {
        mailboxId: m.mailboxId,
        address: m.address ?? addresses.get(m.mailboxId) ?? known?.address ?? m.mailboxId,
        lastJobId: job.jobId,
        lastStatus: m.status,
      });
    }
  }
  return [...byId.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/**
 * A mailbox by its id or address (case-insensitive), else by the unique beginning of either
 * (`megan` for megan.bowen@…, or a cut id).
 */
export function resolveMailbox(mailboxes: readonly ArchivedMailbox[], arg: string): ArchivedMailbox {
  const lower = arg.trim().toLowerCase();
  const found =
    mailboxes.find((m) => m.mailboxId === arg) ??
    mailboxes.find((m) => m.address.toLowerCase() === lower) ??
    byIdOrPrefix(mailboxes, (m) => m.mailboxId, arg, "mailbox") ??
    byIdOrPrefix(mailboxes, (m) => m.address.toLowerCase(), lower, "mailbox");
  if (!found) {
    throw new ArchiveLookupError(
      `mailbox "${arg}": expected the address or id of a backed-up mailbox, or their unique beginning (see \`mailstream ls\`), found none among ${mailboxes.length}`,
    );
  }
  return found;
}

/** A job by its id or the unique beginning of it, or an error naming the newest ones. */
export function resolveJob(jobs: readonly ArchivedJob[], arg: string): ArchivedJob {
  const found = byIdOrPrefix(jobs, (j) => j.jobId, arg, "job");
  if (!found) {
    const newest = jobs
      .slice(-3)
      .map((j) => j.jobId)
      .join(", ");
    throw new ArchiveLookupError(
      `job "${arg}": expected a job id of this archive or its unique beginning (see \`mailstream jobs\`; newest: ${newest || "none"}), found none`,
    );
  }
  return found;
}

/**
 * The job a point-in-time argument names: `undefined`/`latest` → the newest finalized job;
 * a date or time (read strictly, in UTC: cli/dates.ts) → the newest finalized job that ended at
 * or before it (an error when it is before the first job ended); else a job id or its unique
 * beginning → that job (it must be finalized). A bare date is read as a date, although job ids
 * begin with one: give more of the id to name a job of that day.
 */
export function resolveAt(jobs: readonly ArchivedJob[], at: string | undefined): string {
  const finalized = jobs.filter((j) => j.manifest);
  if (finalized.length === 0) {
    throw new ArchiveLookupError(
      "point in time: expected at least one finalized job (with a manifest), found none",
    );
  }
  if (at === undefined || at === "latest") return finalized[finalized.length - 1]!.jobId;
  const time = parseUtcTime(at);
  if (time === undefined) {
    const job = byIdOrPrefix(jobs, (j) => j.jobId, at, "--at");
    if (!job) {
      throw new ArchiveLookupError(
        `--at "${at}": expected "latest", a job id of this archive (or its unique beginning) or a date/time (${DATE_EXAMPLES}), found none of these`,
      );
    }
    if (!job.manifest) {
      throw new ArchiveLookupError(
        `--at ${typedId(at)}: expected a finalized job, found job ${job.jobId} without a manifest (still running, or not finalized yet)`,
      );
    }
    return job.jobId;
  }
  const before = finalized.filter((j) => Date.parse(j.manifest!.endedAt) <= time);
  if (before.length === 0) {
    throw new ArchiveLookupError(
      `--at ${at}: expected a time after the first backup (job ${finalized[0]!.jobId} ended ${finalized[0]!.manifest!.endedAt}), found one before it`,
    );
  }
  return before[before.length - 1]!.jobId;
}

/** A folder of a view by id, path (case-insensitive) or a display name that only one folder has. */
export function resolveFolder(view: MailboxView, arg: string, mailboxName: string): ViewFolder {
  const lower = arg.toLowerCase().replace(/^\/+|\/+$/g, "");
  const byId = view.folders.find((f) => f.folderId === arg);
  if (byId) return byId;
  const byPath = view.folders.find((f) => f.path?.toLowerCase() === lower);
  if (byPath) return byPath;
  const byName = view.folders.filter((f) => f.displayName?.toLowerCase() === lower);
  if (byName.length === 1) return byName[0]!;
  const byPrefix =
    byName.length === 0 ? byIdOrPrefix(view.folders, (f) => f.folderId, arg, "folder") : undefined;
  if (byPrefix) return byPrefix;
  const hint = byName.length > 1 ? ` (${byName.length} folders have that name: give the path)` : "";
  throw new ArchiveLookupError(
    `folder "${arg}": expected a folder path or id of ${mailboxName} at job ${view.jobId} (see \`mailstream ls ${mailboxName}\`), found none${hint}`,
  );
}
