/**
 * Job reports at tenant scale: the lists that grow with the tenant go to pages of about a MiB,
 * report.json stays small, a listing reads report.json alone, and the whole report reads back
 * equal; reports written before paging (version 1) read as before.
 */
import { describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { DamagedArchiveError } from "../../../lib/archive/errors.js";
import { reportKey, reportPageKey } from "../../../lib/archive/keys.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import {
  REPORT_PAGE_BYTES,
  readReport,
  readReportSummary,
  writeReport,
} from "../../../lib/archive/reports.js";
import { listAll } from "../../../lib/archive/store.js";
import { buildJobReport, JOB_REPORT_PAGED_LISTS, type JobReport } from "../../../lib/backup/report.js";
import { listArchivedJobs, mailboxesOf, wholeReport } from "../../../lib/catalog-index/directory.js";

const jobId = "2026-12-06T06-00-00Z-5ca1e000";
const folderId = (m: number, f: number) =>
  `AAMkAD${String(m).padStart(6, "0")}-folder-${f}-${"x".repeat(120)}`;

/** A finished job of `mailboxes` mailboxes of one unit each, of `folders` folders (Graph ids are long). */
function reportOf(mailboxes: number, folders = 20): JobReport {
  const ids = Array.from({ length: mailboxes }, (_, m) => `user-${String(m).padStart(6, "0")}`);
  return buildJobReport({
    jobId,
    trigger: "schedule",
    createdAt: "2026-12-06T06:00:00.000Z",
    plannedAt: "2026-12-06T06:05:00.000Z",
    endedAt: "2026-12-06T07:00:00.000Z",
    streams: 64,
    predictedMakespanSeconds: 3000,
    lowerBoundSeconds: 2900,
    mailboxes: ids.map((mailboxId) => ({ mailboxId, address: `${mailboxId}@contoso.example` })),
    skippedMailboxes: [{ userId: "gone", reason: "MailboxNotEnabledForRESTAPI" }],
    units: ids.map((mailboxId, index) => ({
      index,
      mailboxId,
      folderIds: Array.from({ length: folders }, (_, f) => folderId(index, f)),
      cost: 40,
      estimatedSeconds: 12,
      concurrency: 4,
      status: "done",
      streamId: index % 64,
      startedAt: "2026-12-06T06:10:00.000Z",
      endedAt: "2026-12-06T06:10:12.000Z",
      progress: { items: 3, bytes: 30_000, removed: 0, deduplicated: 0, requests: 40, throttled: 0 },
      requests: 40,
      throttled: 0,
      errors: [],
      incompleteFolders: [],
    })),
  });
}

describe("a job report of 100,000 mailboxes", () => {
  it("keeps report.json small and every page within about a MiB, and reads back whole", async () => {
    const report = reportOf(100_000, 2);
    expect(report.mailboxes).toHaveLength(100_000);
    expect(report.totals).toMatchObject({ mailboxes: 100_000, units: 100_000, items: 300_000 });
    const store = new MemoryObjectStore();
    await createArchive(store).writeReport(report, { pagedLists: JOB_REPORT_PAGED_LISTS });

    const summaryBytes = (await store.getBytes(reportKey(jobId))).length;
    expect(summaryBytes).toBeLessThan(64 * 1024);
    const objects = await listAll(store, "reports/");
    const pages = objects.filter((o) => o.key.includes("/pages/"));
    expect(pages.length).toBeGreaterThan(50); // the plan's units alone hold ≈ 35 MB of folder ids
    for (const page of pages) expect(page.size).toBeLessThanOrEqual(REPORT_PAGE_BYTES + 4096);

    const summary = await readReportSummary<JobReport>(store, jobId);
    expect(summary?.version).toBe(2);
    expect(summary?.report.units).toEqual([]);
    expect(summary?.report.plan.units).toEqual([]);
    expect(summary?.report.mailboxes).toEqual([]);
    expect(summary?.report.totals.mailboxes).toBe(100_000);
    // The one skipped mailbox is short: it stays inline.
    expect(summary?.report.skippedMailboxes).toEqual(report.skippedMailboxes);
    expect(Object.keys(summary?.pages ?? {}).sort()).toEqual(["mailboxes", "plan.units", "units"]);
    expect(summary?.pages?.units?.entries).toBe(100_000);

    const whole = await readReport<JobReport>(store, jobId);
    expect(whole?.report.units.length).toBe(100_000);
    expect(whole?.report.plan.units[99_999]).toEqual(report.plan.units[99_999]);
    expect(whole?.report.mailboxes[12_345]).toEqual(report.mailboxes[12_345]);
  }, 60_000);
});

describe("paged reports in the archive's directory", () => {
  it("lists jobs from report.json alone; addresses come from the manifest; wholeReport reads the pages", async () => {
    const report = reportOf(300);
    const store = new MemoryObjectStore();
    const archive = createArchive(store);
    await writeReport(store, jobId, report, { pagedLists: JOB_REPORT_PAGED_LISTS, pageBytes: 8 * 1024 });
    await archive.writeManifest(report);

    const [job] = await listArchivedJobs(store);
    expect(job?.report?.mailboxes).toEqual([]);
    expect(job?.reportPages?.mailboxes?.entries).toBe(300);
    const mailboxes = mailboxesOf([job!]);
    expect(mailboxes).toHaveLength(300);
    expect(mailboxes[7]).toMatchObject({ mailboxId: "user-000007", address: "user-000007@contoso.example" });
    expect(await wholeReport(store, job!)).toEqual(report);
  });

  it("keeps a short report inline (no pages) and reads it as written", async () => {
    const report = reportOf(3);
    const store = new MemoryObjectStore();
    await writeReport(store, jobId, report, { pagedLists: JOB_REPORT_PAGED_LISTS });
    expect((await listAll(store, "reports/")).map((o) => o.key)).toEqual([reportKey(jobId)]);
    expect((await readReportSummary<JobReport>(store, jobId))?.report).toEqual(report);
    const [job] = await listArchivedJobs(store);
    expect(job?.reportPages).toBeUndefined();
    expect(await wholeReport(store, job!)).toEqual(report);
  });

  it("reads a version 1 report (every list inline, no pages) as before", async () => {
    const report = reportOf(2);
    const store = new MemoryObjectStore();
    const v1 = { format: "mailstream.report", version: 1, jobId, writtenAt: report.endedAt, report };
    await store.put(reportKey(jobId), Buffer.from(JSON.stringify(v1, null, 2)));
    expect((await readReport<JobReport>(store, jobId))?.report).toEqual(report);
    expect(mailboxesOf(await listArchivedJobs(store)).map((m) => m.address)).toEqual([
      "user-000000@contoso.example",
      "user-000001@contoso.example",
    ]);
  });

  it("names a missing page when the whole report is read", async () => {
    const report = reportOf(300);
    const store = new MemoryObjectStore();
    await writeReport(store, jobId, report, { pagedLists: ["units"], pageBytes: 8 * 1024 });
    await store.delete(reportPageKey(jobId, "units", 2));
    const read = readReport<JobReport>(store, jobId);
    await expect(read).rejects.toThrow(DamagedArchiveError);
    await expect(read).rejects.toThrow(`${reportPageKey(jobId, "units", 2)}: expected part 2`);
    // The listing still works: it reads report.json alone.
    expect((await readReportSummary<JobReport>(store, jobId))?.pages?.units?.entries).toBe(300);
  });
});
