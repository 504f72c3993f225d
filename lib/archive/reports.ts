/**
 * Job reports (`reports/<jobId>/report.json`). The report's shape belongs to the pipeline
 * (lib/backup/report.ts); here it travels inside a small typed envelope, so a reader can tell a
 * report from any other JSON and which version wrote it.
 *
 * Version 2 pages the report's long lists: a list the writer names (per unit, per mailbox…)
 * whose JSON is larger than a page is cut into page objects of about {@link REPORT_PAGE_BYTES}
 * (`reports/<jobId>/pages/<list>-<nnnn>.json`) and left empty in report.json, whose `pages` says
 * how many parts and entries each has. So report.json stays small at 100,000 mailboxes, a job
 * listing reads only it ({@link readReportSummary}), and {@link readReport} gives the whole
 * report as version 1 did. Version 1 envelopes (every list inline) are read as before.
 */

import { z } from "zod";
import { DamagedArchiveError } from "./errors.js";
import { readJsonObject } from "./json-object.js";
import { cutIntoPages, needsPages } from "./json-pages.js";
import { compareJobIds, fromKeySegment, reportKey, reportPageKey } from "./keys.js";
import type { ObjectStore } from "./store.js";

/** Bytes of JSON a report page holds at most (one entry larger than that gets a page alone). */
export const REPORT_PAGE_BYTES = 1024 * 1024;

/** Where a paged list of the report went. */
export interface ReportPages {
  /** Page objects, `<list>-0000.json` on. */
  parts: number;
  /** Entries of the list, all parts together. */
  entries: number;
}

export interface ReportEnvelope<T> {
  format: "mailstream.report";
  /** 1: every list inline; 2: long lists in pages (`pages`). */
  version: 1 | 2;
  jobId: string;
  /** ISO time the report was written. */
  writtenAt: string;
  report: T;
  /** Version 2: the lists (dot paths into `report`) moved to pages, left empty in `report`. */
  pages?: Record<string, ReportPages>;
}

interface ReportPage {
  format: "mailstream.report-page";
  version: 1;
  jobId: string;
  list: string;
  part: number;
  entries: unknown[];
}

export interface WriteReportOptions {
  /** Lists of the report (dot paths, e.g. `units` or `plan.units`) paged when they are long. */
  pagedLists?: readonly string[];
  /** Bytes of JSON per page, ≥ 1. Default {@link REPORT_PAGE_BYTES}. */
  pageBytes?: number;
  now?: Date;
}

function listAt(report: unknown, path: string): unknown[] | undefined {
  let value: unknown = report;
  for (const name of path.split(".")) value = (value as Record<string, unknown> | undefined)?.[name];
  return Array.isArray(value) ? value : undefined;
}

/** A copy of `report` with the list at `path` replaced by `list` (the objects on the path copied). */
function withList<T>(report: T, path: string, list: unknown[]): T {
  const [name, ...rest] = path.split(".");
  const object = report as Record<string, unknown>;
  return {
    ...object,
    [name!]: rest.length === 0 ? list : withList(object[name!], rest.join("."), list),
  } as T;
}

/**
 * Writes the job's report (rewriting it when finalization runs again): its long lists' pages
 * first, report.json last, so that a reader who finds report.json finds its pages. Returns its key.
 */
export async function writeReport<T>(
  store: ObjectStore,
  jobId: string,
  report: T,
  options: WriteReportOptions = {},
): Promise<string> {
  const pageBytes = options.pageBytes ?? REPORT_PAGE_BYTES;
  let summary = report;
  const pages: Record<string, ReportPages> = {};
  for (const list of options.pagedLists ?? []) {
    const entries = listAt(report, list);
    if (!entries || !needsPages(entries, pageBytes)) continue;
    const parts = await writeReportPages(store, jobId, list, 0, entries, pageBytes);
    pages[list] = { parts, entries: entries.length };
    summary = withList(summary, list, []);
  }
  return writeReportSummary(store, jobId, summary, pages, options.now);
}

/**
 * Writes part `firstPart` on of a paged list of the job's report: `entries`, one piece of the list
 * as a finalization in pieces produces it (lib/backup/finalize.ts), cut into pages of at most
 * `pageBytes` of JSON. Writing the same piece again writes the same objects. Returns the parts
 * written (≥ 1 when `entries` is not empty).
 */
export async function writeReportPages(
  store: ObjectStore,
  jobId: string,
  list: string,
  firstPart: number,
  entries: readonly unknown[],
  pageBytes = REPORT_PAGE_BYTES,
): Promise<number> {
  const parts = cutIntoPages(entries, pageBytes);
  // One page at a time: a page is up to a MiB.
  for (const [i, page] of parts.entries()) {
    const part = firstPart + i;
    const body: ReportPage = {
      format: "mailstream.report-page",
      version: 1,
      jobId,
      list,
      part,
      entries: page,
    };
    await store.put(reportPageKey(jobId, list, part), Buffer.from(`${JSON.stringify(body)}\n`), {
      contentType: "application/json",
    });
  }
  return parts.length;
}

/**
 * Writes report.json of a report whose paged lists were written piece by piece
 * ({@link writeReportPages}): `summary` holds those lists empty, `pages` says where they are. The
 * same version 2 envelope {@link writeReport} writes; written last, so that a reader who finds
 * it finds every page.
 */
export async function writeReportSummary<T>(
  store: ObjectStore,
  jobId: string,
  summary: T,
  pages: Record<string, ReportPages>,
  now = new Date(),
): Promise<string> {
  const envelope: ReportEnvelope<T> = {
    format: "mailstream.report",
    version: 2,
    jobId,
    writtenAt: now.toISOString(),
    report: summary,
    pages,
  };
  const key = reportKey(jobId);
  await store.put(key, Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`), {
    contentType: "application/json",
  });
  return key;
}

/** Any JSON value at `key` (the callers check the envelope themselves); undefined when absent. */
function readJson(store: ObjectStore, key: string, what: string): Promise<unknown> {
  return readJsonObject(store, key, {
    schema: z.unknown(),
    expected: "JSON",
    damaged: (problem, cause) => new DamagedArchiveError(`${what} ${key}: ${problem}`, { cause }),
  });
}

/**
 * The job's report envelope as report.json holds it: with version 2, the paged lists empty and
 * `pages` saying where they are. Undefined when none was written; throws on anything else.
 */
export async function readReportSummary<T>(
  store: ObjectStore,
  jobId: string,
): Promise<ReportEnvelope<T> | undefined> {
  const key = reportKey(jobId);
  const value = (await readJson(store, key, "report")) as Partial<ReportEnvelope<T>> | undefined;
  if (value === undefined) return undefined;
  if (
    value?.format !== "mailstream.report" ||
    (value.version !== 1 && value.version !== 2) ||
    value.jobId !== jobId ||
    !("report" in value)
  ) {
    throw new DamagedArchiveError(
      `report ${key}: expected a mailstream.report version 1 or 2 envelope for job ${jobId}, found format ${String(value?.format)}, version ${String(value?.version)}, job ${String(value?.jobId)}`,
    );
  }
  return value as ReportEnvelope<T>;
}

/** The entries of one paged list, all its parts in order; throws when a part is missing or damaged. */
async function readPagedList(
  store: ObjectStore,
  jobId: string,
  list: string,
  pages: ReportPages,
): Promise<unknown[]> {
  const entries: unknown[] = [];
  for (let part = 0; part < pages.parts; part++) {
    const key = reportPageKey(jobId, list, part);
    const page = (await readJson(store, key, "report page")) as Partial<ReportPage> | undefined;
    if (
      page?.format !== "mailstream.report-page" ||
      page.jobId !== jobId ||
      page.list !== list ||
      page.part !== part ||
      !Array.isArray(page.entries)
    ) {
      throw new DamagedArchiveError(
        `report page ${key}: expected part ${part} of ${pages.parts} of list ${list} of job ${jobId}, found ${page === undefined ? "no object" : `format ${String(page.format)}, list ${String(page.list)}, part ${String(page.part)}`}`,
      );
    }
    entries.push(...page.entries);
  }
  if (entries.length !== pages.entries) {
    throw new DamagedArchiveError(
      `report pages of list ${list} of job ${jobId}: expected ${pages.entries} entries, found ${entries.length}`,
    );
  }
  return entries;
}

/**
 * The job's whole report envelope (a paged report's lists read back from their pages), or
 * undefined when none was written. Throws on anything that is not one.
 */
export async function readReport<T>(
  store: ObjectStore,
  jobId: string,
): Promise<ReportEnvelope<T> | undefined> {
  const envelope = await readReportSummary<T>(store, jobId);
  if (!envelope?.pages) return envelope;
  let report = envelope.report;
  for (const [list, pages] of Object.entries(envelope.pages)) {
    report = withList(report, list, await readPagedList(store, jobId, list, pages));
  }
  return { ...envelope, report };
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
