/**
 * The user-facing edges of issue 14: strict UTC dates, tables by display width, ids by a unique
 * beginning, one labelled duration per job, a message's sender and time when its properties lack
 * them, isRead kept as a boolean, search folders apart from the tree, mailboxes labelled by
 * address in the timeline.
 */
import { describe, expect, it } from "vitest";
import { catalogMeta, createArchive } from "../../../lib/archive/archive.js";
import { readCatalogPart } from "../../../lib/archive/catalog.js";
import { blobKey, catalogPartKey } from "../../../lib/archive/keys.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import type { ViewMessage } from "../../../lib/archive/replay.js";
import type { JobReport } from "../../../lib/backup/report.js";
import { parseUtcTime } from "../../../lib/catalog-index/dates.js";
import { type ArchivedJob, resolveAt, resolveJob } from "../../../lib/catalog-index/directory.js";
import { AmbiguousNameError } from "../../../lib/catalog-index/errors.js";
import { byIdOrPrefix, typedId } from "../../../lib/catalog-index/id-prefix.js";
import {
  completeMeta,
  parseAddressHeader,
  receivedAt,
  senderOf,
} from "../../../lib/catalog-index/message-fields.js";
import { messageMatches } from "../../../lib/catalog-index/search.js";
import { jobRow } from "../../../lib/cli/commands/jobs.js";
import { formatReceived, senderText } from "../../../lib/cli/format/message.js";
import { displayWidth, formatTable, truncate } from "../../../lib/cli/format/output.js";
import { actualBars, plannedBars } from "../../../lib/cli/timeline.js";
import { durationText } from "../../../lib/dev/cli/run-command.js";

describe("dates typed on the command line", () => {
  it("reads a time without a zone as UTC, not local time", () => {
    expect(parseUtcTime("2026-11-29T05:00:00")).toBe(Date.UTC(2026, 10, 29, 5, 0, 0));
    expect(parseUtcTime("2026-11-29 05:00")).toBe(Date.UTC(2026, 10, 29, 5, 0));
    expect(parseUtcTime("2026-11-29")).toBe(Date.UTC(2026, 10, 29));
    expect(parseUtcTime("2026-11-29T05:00:00.25Z")).toBe(Date.UTC(2026, 10, 29, 5, 0, 0, 250));
    expect(parseUtcTime("2026-11-29T07:00:00+02:00")).toBe(Date.UTC(2026, 10, 29, 5, 0, 0));
    expect(parseUtcTime("2026-11-29T00:30:00-01:30")).toBe(Date.UTC(2026, 10, 29, 2, 0, 0));
  });

  it("refuses what is not a date instead of guessing (1 is not the year 2001)", () => {
    for (const text of [
      "1",
      "2026",
      "2026-11",
      "yesterday",
      "2026-02-30",
      "2026-13-01",
      "2026-11-29T24:00",
      "2026-11-29T05:60",
      "2026-11-29Z",
      "29.11.2026",
      "Nov 29 2026",
      "",
    ]) {
      expect(parseUtcTime(text), text).toBeUndefined();
    }
    expect(parseUtcTime("2024-02-29")).toBe(Date.UTC(2024, 1, 29));
  });
});

describe("tables by display width", () => {
  it("measures CJK and emoji as two columns, combining marks as none", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("見積書")).toBe(6);
    expect(displayWidth("📁")).toBe(2);
    expect(displayWidth("e\u0301")).toBe(1);
  });

  it("lines columns up whatever the script", () => {
    const table = formatTable(
      ["NAME", "N"],
      [
        ["見積書の送付", "1"],
        ["📁 Misc", "2"],
        ["Ünïcödé", "3"],
      ],
    );
    const lines = table.trimEnd().split("\n");
    // The second column starts at the same display column on every line.
    const starts = lines.map((l) => displayWidth(l.slice(0, l.lastIndexOf(" ") + 1)));
    expect(new Set(starts).size).toBe(1);
    expect(starts[0]).toBe(displayWidth("見積書の送付") + 2);
  });

  it("cuts by display width, never inside a character", () => {
    expect(truncate("見積書の送付です", 7)).toBe("見積書…");
    expect(displayWidth(truncate("見積書の送付です", 7))).toBeLessThanOrEqual(7);
    expect(truncate("👩‍👩‍👧 family", 3)).toBe("👩‍👩‍👧…");
    expect(truncate("short", 10)).toBe("short");
  });
});

describe("ids by a unique beginning (as git)", () => {
  const ids = ["AAMkAGI2q41Vabc", "AAMkAGI2q41Wdef", "AAMkAGI2YMUg123"];
  it("takes the whole id, a unique beginning, or one copied with its …", () => {
    expect(byIdOrPrefix(ids, (i) => i, "AAMkAGI2YMUg123", "message")).toBe("AAMkAGI2YMUg123");
    expect(byIdOrPrefix(ids, (i) => i, "AAMkAGI2YM", "message")).toBe("AAMkAGI2YMUg123");
    expect(byIdOrPrefix(ids, (i) => i, "AAMkAGI2q41V…", "message")).toBe("AAMkAGI2q41Vabc");
    expect(typedId("AAMkAGI2q41V...")).toBe("AAMkAGI2q41V");
    expect(byIdOrPrefix(ids, (i) => i, "AAMkZZZ", "message")).toBeUndefined();
    // Too short a beginning names nothing.
    expect(byIdOrPrefix(["abcdef"], (i) => i, "abc", "message")).toBeUndefined();
  });

  it("lists the ids an ambiguous beginning fits", () => {
    let error: unknown;
    try {
      byIdOrPrefix(ids, (i) => i, "AAMkAGI2q41…", "message");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AmbiguousNameError);
    expect((error as AmbiguousNameError).matches).toEqual(["AAMkAGI2q41Vabc", "AAMkAGI2q41Wdef"]);
    expect((error as Error).message).toBe(
      'message "AAMkAGI2q41…": expected an id or a beginning only one id has, found 2 ids beginning so: AAMkAGI2q41Vabc, AAMkAGI2q41Wdef (give more of it)',
    );
  });

  it("names jobs and points in time by a beginning; a bare date stays a date", () => {
    const jobs: ArchivedJob[] = [
      {
        jobId: "2026-11-28T04-00-00Z-aaaa",
        manifest: {
          format: "mailstream.manifest",
          version: 1,
          jobId: "2026-11-28T04-00-00Z-aaaa",
          status: "complete",
          endedAt: "2026-11-28T04:10:00.000Z",
          mailboxes: [],
        },
      },
      {
        jobId: "2026-11-29T04-00-00Z-bbbb",
        manifest: {
          format: "mailstream.manifest",
          version: 1,
          jobId: "2026-11-29T04-00-00Z-bbbb",
          status: "complete",
          endedAt: "2026-11-29T04:10:00.000Z",
          mailboxes: [],
        },
      },
    ];
    expect(resolveJob(jobs, "2026-11-29T04").jobId).toBe("2026-11-29T04-00-00Z-bbbb");
    expect(() => resolveJob(jobs, "2026-11-2")).toThrow(AmbiguousNameError);
    expect(resolveAt(jobs, "2026-11-28T04-00")).toBe("2026-11-28T04-00-00Z-aaaa");
    // A date: the newest job that ended by then (the start of the 29th: the 28th's job).
    expect(resolveAt(jobs, "2026-11-29")).toBe("2026-11-28T04-00-00Z-aaaa");
    expect(resolveAt(jobs, "2026-11-29T04:10:00")).toBe("2026-11-29T04-00-00Z-bbbb");
  });
});

describe("one duration per job, labelled the same in the run summary and in jobs", () => {
  it("is the report's makespan in both", () => {
    const report = {
      jobId: "j",
      status: "complete",
      createdAt: "2026-11-29T05:00:00.000Z",
      endedAt: "2026-11-29T05:00:12.340Z",
      makespanSeconds: 12.34,
      totals: { items: 1, bytes: 1, removed: 0, errors: 0 },
      mailboxes: [],
    } as unknown as JobReport;
    expect(durationText(report)).toBe("makespan 12.3 s");
    const row = jobRow({ jobId: "j", report });
    expect(`makespan ${row.makespanSeconds!.toFixed(1)} s`).toBe(durationText(report));
  });
});

describe("a message's sender and time when its delta item lacks them", () => {
  const store = new MemoryObjectStore();
  const mime = Buffer.from(
    'From: "Megan Bowen" <megan.bowen@contoso.test>\r\nTo: x@contoso.test\r\nSubject: hi\r\nDate: Sun, 29 Nov 2026 06:00:00 +0100\r\n\r\nbody\r\n',
  );
  const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  store.objects.set(blobKey(sha256), mime);
  const message = (meta: Record<string, unknown>): ViewMessage => ({
    messageId: "m",
    folderId: "f",
    sha256,
    size: mime.length,
    meta,
    jobId: "j",
  });

  it("takes `sender` when `from` is missing, and sentDateTime when receivedDateTime is", async () => {
    const meta = {
      sender: { emailAddress: { name: "Adele", address: "adele@contoso.test" } },
      sentDateTime: "2026-11-29T04:00:00Z",
    };
    expect(senderText(meta)).toBe("adele@contoso.test");
    expect(receivedAt(meta)).toBe(Date.UTC(2026, 10, 29, 4));
    expect(formatReceived(meta)).toBe("2026-11-29 04:00");
    expect(messageMatches(meta, "Inbox", { from: "adele" })).toBe(true);
    // Both found in the properties: nothing to complete, and the blob is not read (the store is empty).
    expect(await completeMeta(new MemoryObjectStore(), message(meta))).toBe(meta);
  });

  it("falls back to the MIME's From and Date headers when the properties have neither", async () => {
    const completed = await completeMeta(store, message({ subject: "hi" }));
    expect(senderOf(completed)?.emailAddress).toEqual({
      name: "Megan Bowen",
      address: "megan.bowen@contoso.test",
    });
    expect(completed.receivedDateTime).toBe("2026-11-29T05:00:00.000Z");
    expect(messageMatches(completed, "Inbox", { from: "megan" })).toBe(true);
    expect(parseAddressHeader("plain@contoso.test")).toEqual({
      emailAddress: { address: "plain@contoso.test" },
    });
  });
});

describe("isRead in the catalog", () => {
  it("is written as a boolean", async () => {
    expect(catalogMeta({ id: "a", isRead: "true" })).toEqual({ id: "a", isRead: true });
    expect(catalogMeta({ id: "a", isRead: "false" })).toEqual({ id: "a", isRead: false });
    expect(catalogMeta({ id: "a", isRead: 1 })).toEqual({ id: "a" });
    const kept = { id: "a", isRead: false };
    expect(catalogMeta(kept)).toBe(kept);

    const store = new MemoryObjectStore();
    const archive = createArchive(store);
    const part = { jobId: "j", mailboxId: "mb", folderId: "f", unit: 0, page: 0 };
    await archive.writeCatalogPart(part, [
      {
        kind: "upsert",
        messageId: "a",
        folderId: "f",
        sha256: "0".repeat(64),
        size: 1,
        meta: { id: "a", isRead: "true" },
      },
    ]);
    const read = await readCatalogPart(store, catalogPartKey(part));
    expect(read.entries[0]).toMatchObject({ meta: { isRead: true } });
  });
});

describe("search folders and the timeline", () => {
  it("records search folders as such", async () => {
    const store = new MemoryObjectStore();
    await createArchive(store).recordFolders("j", "mb", [
      { id: "inbox", parentFolderId: "root", path: "Inbox", displayName: "Inbox" },
      {
        id: "s",
        parentFolderId: "finder",
        path: "Unread Mail",
        displayName: "Unread Mail",
        isSearchFolder: true,
      },
    ]);
    const text = [...store.objects.values()][0]!.toString();
    expect(text).toContain(
      '"folderId":"s","parentId":"finder","path":"Unread Mail","displayName":"Unread Mail","searchFolder":true',
    );
    expect(text).not.toContain(
      '"folderId":"inbox","parentId":"root","path":"Inbox","displayName":"Inbox","searchFolder"',
    );
  });

  it("labels the timeline's bars by mailbox address", () => {
    const report = {
      createdAt: "2026-11-01T10:00:00.000Z",
      endedAt: "2026-11-01T10:00:10.000Z",
      plan: { streams: 1, units: [{ index: 0, mailboxId: "m1", estimatedSeconds: 5 }] },
      units: [
        {
          index: 0,
          mailboxId: "m1",
          status: "done",
          streamId: 0,
          startedAt: "2026-11-01T10:00:01.000Z",
          endedAt: "2026-11-01T10:00:06.000Z",
        },
      ],
      mailboxes: [{ mailboxId: "m1", address: "adele@contoso.test" }],
      skippedMailboxes: [],
    } as unknown as JobReport;
    expect(actualBars(report)[0]!.mailbox).toBe("adele@contoso.test");
    expect(plannedBars(report)[0]!.mailbox).toBe("adele@contoso.test");
  });
});
