/**
 * Job reports and manifests at tenant scale: the lists that grow with the tenant go to pages of
 * about a MiB, report.json and manifest.json stay small, a listing of jobs reads them alone, and
 * the whole report and mailbox list read back equal; small jobs and objects written before
 * paging (version 1) read as before.
 */
import { describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { DamagedArchiveError } from "../../../lib/archive/errors.js";
import { manifestKey, manifestPageKey, reportKey, reportPageKey } from "../../../lib/archive/keys.js";
import {
  FinalizedJobCache,
  manifestFrom,
  readFinalizedJob,
  readManifest,
  writeManifest,
  writeManifestPages,
  writeManifestSummary,
} from "../../../lib/archive/manifest.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import { jobReading } from "../../../lib/archive/replay.js";
import {
  REPORT_PAGE_BYTES,
  readReport,
  readReportSummary,
  writeReport,
  writeReportPages,
  writeReportSummary,
} from "../../../lib/archive/reports.js";
import { listAll } from "../../../lib/archive/store.js";
import { buildJobReport, JOB_REPORT_PAGED_LISTS, type JobReport } from "../../../lib/backup/report.js";
import { listArchivedJobs, mailboxesOf, wholeReport } from "../../../lib/catalog-index/directory.js";
import { jobRow } from "../../../lib/cli/commands/jobs.js";

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

describe("a job manifest of many mailboxes", () => {
  const manifestSource = (mailboxes: number) => ({
    jobId,
    status: "partial" as const,
    endedAt: "2026-12-06T07:00:00.000Z",
    // Written in reverse: the pages hold them sorted by id.
    mailboxes: Array.from({ length: mailboxes }, (_, i) => {
      const mailboxId = `user-${String(mailboxes - 1 - i).padStart(6, "0")}`;
      const status = i % 10 === 0 ? ("failed" as const) : ("complete" as const);
      return { mailboxId, status, address: `${mailboxId}@contoso.example` };
    }),
  });

  it("pages 100,000 mailboxes; manifest.json stays small; one job's list is read once", async () => {
    const store = new MemoryObjectStore();
    const written = await writeManifest(store, manifestSource(100_000));
    expect(written).toMatchObject({ version: 2, mailboxes: [], mailboxPages: { entries: 100_000 } });
    expect((await store.getBytes(manifestKey(jobId))).length).toBeLessThan(4096);
    const pages = (await listAll(store, "jobs/")).filter((o) => o.key.includes("/mailboxes-"));
    expect(pages.length).toBe(written.mailboxPages?.parts);
    for (const page of pages) expect(page.size).toBeLessThanOrEqual(1024 * 1024 + 4096);

    const job = await readFinalizedJob(store, jobId);
    expect(job?.mailboxes.size).toBe(100_000);
    expect(job?.mailboxes.get("user-099999")).toEqual({
      mailboxId: "user-099999",
      status: "failed",
      address: "user-099999@contoso.example",
    });
    // Replaying many mailboxes (a search) asks a run's cache: each page is read once.
    const cache = new FinalizedJobCache();
    let pageReads = 0;
    const counting = Object.assign(Object.create(store) as MemoryObjectStore, {
      getBytes: (key: string) => {
        if (key.includes("/mailboxes-")) pageReads++;
        return store.getBytes(key);
      },
    });
    for (const id of ["user-000001", "user-099999", "user-050000"])
      await jobReading(counting, id, jobId, cache);
    const firstReads = pageReads;
    expect(firstReads).toBe(written.mailboxPages?.parts);
    expect(await jobReading(counting, "user-099999", jobId, cache)).toEqual({
      applyResets: false,
      requireHeader: true,
    });
    expect(await jobReading(counting, "user-099998", jobId, cache)).toEqual({
      applyResets: true,
      requireHeader: true,
    });
    expect(pageReads).toBe(firstReads);
  }, 60_000);

  it("lists jobs without the pages, or with them for the mailboxes; jobs counts them either way", async () => {
    const store = new MemoryObjectStore();
    await writeManifest(store, manifestSource(300), { pageBytes: 4096 });
    const [bare] = await listArchivedJobs(store, { mailboxes: false });
    expect(bare?.manifest?.mailboxes).toEqual([]);
    expect(jobRow(bare!).mailboxes).toBe(300);
    const [whole] = await listArchivedJobs(store);
    expect(whole?.manifest?.mailboxes).toHaveLength(300);
    expect(mailboxesOf([whole!])[299]).toMatchObject({ mailboxId: "user-000299", lastStatus: "failed" });
  });

  it("keeps a small job's manifest as version 1, every mailbox inline", async () => {
    const store = new MemoryObjectStore();
    await writeManifest(store, manifestSource(3));
    const manifest = await readManifest(store, jobId);
    expect(manifest).toMatchObject({ version: 1 });
    expect(manifest?.mailboxes).toHaveLength(3);
    expect(manifest?.mailboxPages).toBeUndefined();
  });

  it("reports a missing page as damage of that job, and the listing goes on", async () => {
    const store = new MemoryObjectStore();
    await writeManifest(store, manifestSource(300), { pageBytes: 4096 });
    await store.delete(manifestPageKey(jobId, 1));
    const [job] = await listArchivedJobs(store);
    expect(job?.manifest).toBeUndefined();
    expect(job?.problems?.[0]).toContain(`${manifestPageKey(jobId, 1)}: expected part 1`);
    await expect(readFinalizedJob(store, jobId)).rejects.toThrow(DamagedArchiveError);
  });
});

describe("a job report and manifest written piece by piece (finalization in pieces)", () => {
  it("reads back as the report and manifest written whole; report.json and manifest.json stay small", async () => {
    const whole = reportOf(3_000, 4);
    const store = new MemoryObjectStore();
    const pages: Record<string, { parts: number; entries: number }> = {};
    let manifestParts = 0;
    // Pieces of 700 records, each cut into pages of at most 64 KiB of JSON.
    for (const list of JOB_REPORT_PAGED_LISTS) {
      const entries = list === "plan.units" ? whole.plan.units : (whole[list] as unknown[]);
      let parts = 0;
      for (let i = 0; i < entries.length; i += 700) {
        parts += await writeReportPages(store, jobId, list, parts, entries.slice(i, i + 700), 64 * 1024);
      }
      if (entries.length > 0) pages[list] = { parts, entries: entries.length };
    }
    for (let i = 0; i < whole.mailboxes.length; i += 700) {
      manifestParts += await writeManifestPages(
        store,
        jobId,
        manifestParts,
        whole.mailboxes.slice(i, i + 700),
        64 * 1024,
      );
    }
    // Five pieces, each within one page (a page per piece at least: pieces are never merged).
    expect(manifestParts).toBe(5);
    expect(await readReportSummary(store, jobId)).toBeUndefined();
    const summary = {
      ...whole,
      plan: { ...whole.plan, units: [] },
      units: [],
      mailboxes: [],
      skippedMailboxes: [],
    };
    await writeManifestSummary(store, whole, { parts: manifestParts, entries: whole.mailboxes.length });
    await writeReportSummary(store, jobId, summary, pages);

    expect((await readReport<JobReport>(store, jobId))?.report).toEqual(whole);
    // Totals and the 64 streams' lines (which grow with the streams, not the tenant).
    expect((await store.getBytes(reportKey(jobId))).length).toBeLessThan(32 * 1024);
    for (const { size } of await listAll(store, "reports/"))
      expect(size).toBeLessThanOrEqual(64 * 1024 + 4096);
    const job = await readFinalizedJob(store, jobId);
    expect(job?.manifest).toMatchObject({
      version: 2,
      mailboxes: [],
      mailboxPages: { parts: manifestParts, entries: 3_000 },
    });
    expect([...(job?.mailboxes.values() ?? [])]).toEqual(manifestFrom(whole).mailboxes);
    expect((await store.getBytes(manifestKey(jobId))).length).toBeLessThan(1024);
  });

  it("writes the same objects when a piece is written again (a piece redone after a crash)", async () => {
    const whole = reportOf(50, 2);
    const store = new MemoryObjectStore();
    const first = await writeReportPages(store, jobId, "units", 0, whole.units.slice(0, 25), 2048);
    const before = new Map(store.objects);
    expect(await writeReportPages(store, jobId, "units", 0, whole.units.slice(0, 25), 2048)).toBe(first);
    expect(store.objects).toEqual(before);
    expect(await writeManifestPages(store, jobId, 0, [])).toBe(0);
  });

  it("writes a version 1 manifest with no mailboxes when the job had none", async () => {
    const store = new MemoryObjectStore();
    await writeManifestSummary(
      store,
      { jobId, status: "failed", endedAt: "2026-12-06T07:00:00.000Z" },
      { parts: 0, entries: 0 },
    );
    expect(await readManifest(store, jobId)).toMatchObject({ version: 1, mailboxes: [], status: "failed" });
  });
});
