import { describe, expect, it } from "vitest";
import type { MailboxView, ViewFolder } from "../../../lib/archive/index.js";
import type { JobReport } from "../../../lib/backup/report.js";
import {
  type ArchivedJob,
  mailboxesOf,
  resolveAt,
  resolveFolder,
  resolveMailbox,
} from "../../../lib/catalog-index/directory.js";
import { ArchiveLookupError } from "../../../lib/catalog-index/errors.js";
import { messageMatches } from "../../../lib/catalog-index/search.js";
import { treeOrder } from "../../../lib/cli/commands/ls.js";
import { criteriaFrom } from "../../../lib/cli/commands/search.js";
import { itemFields } from "../../../lib/cli/commands/show.js";
import { formatTable, truncate } from "../../../lib/cli/format/output.js";
import { actualBars, plannedBars, renderTimelineHtml } from "../../../lib/cli/timeline.js";

const manifest = (jobId: string, endedAt: string, mailboxIds: string[]) => ({
  format: "mailstream.manifest" as const,
  version: 1 as const,
  jobId,
  status: "complete" as const,
  endedAt,
  mailboxes: mailboxIds.map((mailboxId) => ({ mailboxId, status: "complete" as const })),
});

const J1 = "2026-11-01T10-00-00Z-aaaa";
const J2 = "2026-11-02T10-00-00Z-bbbb";
const J3 = "2026-11-03T10-00-00Z-cccc";
const jobs: ArchivedJob[] = [
  {
    jobId: J1,
    manifest: manifest(J1, "2026-11-01T10:05:00.000Z", ["m1"]),
    report: { mailboxes: [{ mailboxId: "m1", address: "Old@contoso.test" }] } as unknown as JobReport,
  },
  {
    jobId: J2,
    manifest: manifest(J2, "2026-11-02T10:05:00.000Z", ["m1", "m2"]),
    report: {
      mailboxes: [
        { mailboxId: "m1", address: "adele@contoso.test", status: "complete" },
        { mailboxId: "m2", address: "ben@contoso.test", status: "complete" },
      ],
    } as unknown as JobReport,
  },
  { jobId: J3 },
];

describe("resolveAt", () => {
  it("takes the newest finalized job by default and for latest", () => {
    expect(resolveAt(jobs, undefined)).toBe(J2);
    expect(resolveAt(jobs, "latest")).toBe(J2);
  });
  it("takes a finalized job id as is and refuses one without a manifest or unknown", () => {
    expect(resolveAt(jobs, J1)).toBe(J1);
    expect(() => resolveAt(jobs, J3)).toThrow(/without a manifest/);
    expect(() => resolveAt(jobs, "2026-11-09T10-00-00Z-zzzz")).toThrow(ArchiveLookupError);
  });
  it("maps a date to the newest job that ended by then, and refuses a date before the first", () => {
    expect(resolveAt(jobs, "2026-11-01T12:00:00Z")).toBe(J1);
    expect(resolveAt(jobs, "2026-11-02T10:05:00Z")).toBe(J2);
    expect(resolveAt(jobs, "2026-12-01")).toBe(J2);
    expect(() => resolveAt(jobs, "2026-11-01")).toThrow(/before it/);
    expect(() => resolveAt(jobs, "yesterday-ish")).toThrow(/expected "latest", a job id/);
  });
});

describe("mailboxes", () => {
  const mailboxes = mailboxesOf(jobs);
  it("takes addresses from the newest report and resolves by address (any case) or id", () => {
    expect(mailboxes.map((m) => [m.mailboxId, m.address, m.lastJobId])).toEqual([
      ["m1", "adele@contoso.test", J2],
      ["m2", "ben@contoso.test", J2],
    ]);
    expect(resolveMailbox(mailboxes, "ADELE@contoso.test").mailboxId).toBe("m1");
    expect(resolveMailbox(mailboxes, "m2").address).toBe("ben@contoso.test");
    expect(() => resolveMailbox(mailboxes, "old@contoso.test")).toThrow(/mailbox "old@contoso.test"/);
  });
});

const folder = (folderId: string, path: string): ViewFolder => ({
  folderId,
  path,
  displayName: path.split("/").pop()!,
  parentId: "root",
  messages: [],
});

describe("folders", () => {
  const folders = [
    folder("f3", "Inbox 2"),
    folder("f2", "Inbox/Sub"),
    folder("f1", "Inbox"),
    folder("f4", "Sent/Sub"),
  ];
  const view: MailboxView = { mailboxId: "m1", jobId: J2, jobs: [J2], folders, errors: [], notes: [] };
  it("orders a tree so children follow their parent", () => {
    expect(treeOrder(folders).map((f) => f.path)).toEqual(["Inbox", "Inbox/Sub", "Inbox 2", "Sent/Sub"]);
  });
  it("resolves by id, path (any case) or a unique name, and refuses an ambiguous name", () => {
    expect(resolveFolder(view, "f3", "a").folderId).toBe("f3");
    expect(resolveFolder(view, "inbox/sub", "a").folderId).toBe("f2");
    expect(resolveFolder(view, "inbox", "a").folderId).toBe("f1");
    expect(() => resolveFolder(view, "Sub", "a")).toThrow(/2 folders have that name/);
    expect(() => resolveFolder(view, "Nope", "a")).toThrow(ArchiveLookupError);
  });
});

describe("messageMatches", () => {
  const meta = {
    subject: "Q3 Budget review",
    from: { emailAddress: { name: "Megan Bowen", address: "megan@contoso.test" } },
    toRecipients: [{ emailAddress: { name: "Adele", address: "adele@contoso.test" } }],
    ccRecipients: [{ emailAddress: { address: "ben@contoso.test" } }],
    receivedDateTime: "2026-03-10T08:00:00Z",
    hasAttachments: true,
  };
  it("matches every criterion given and fails on any one that differs", () => {
    const all = criteriaFrom({
      from: "MEGAN",
      to: "ben@",
      subject: "budget q3",
      since: "2026-03-10",
      until: "2026-03-11",
      folder: "inbox",
      attachments: true,
    });
    expect(messageMatches(meta, "Inbox/Finance", all)).toBe(true);
    expect(messageMatches(meta, "Inboxes", all)).toBe(false);
    expect(messageMatches(meta, "Inbox", { ...all, from: "adele" })).toBe(false);
    expect(messageMatches(meta, "Inbox", { ...all, to: "carl" })).toBe(false);
    expect(messageMatches(meta, "Inbox", { ...all, subjectWords: ["budget", "q4"] })).toBe(false);
    expect(messageMatches(meta, "Inbox", { ...all, until: Date.parse("2026-03-10T08:00:00Z") })).toBe(false);
    expect(messageMatches(meta, "Inbox", { ...all, hasAttachments: false })).toBe(false);
    expect(messageMatches({}, "Inbox", {})).toBe(true);
    expect(messageMatches({}, "Inbox", { since: 0 })).toBe(false);
  });
  it("rejects an unreadable date option", () => {
    expect(() => criteriaFrom({ since: "soon" })).toThrow(/--since/);
  });
  it("finds items of every kind by their metadata: kind, title, organizer, event start", () => {
    const event = {
      kind: "event",
      subject: "Quarterly planning",
      location: "Room 7",
      start: "2026-04-02T09:00:00Z",
      organizer: { emailAddress: { name: "Megan Bowen", address: "megan@contoso.test" } },
    };
    const contact = { kind: "contact", displayName: "Alex Wilber", companyName: "Fabrikam" };
    expect(
      messageMatches(event, "Calendar", criteriaFrom({ kind: "event", from: "megan", subject: "room 7" })),
    ).toBe(true);
    expect(
      messageMatches(event, "Calendar", criteriaFrom({ since: "2026-04-01", until: "2026-04-03" })),
    ).toBe(true);
    expect(messageMatches(event, "Calendar", criteriaFrom({ kind: "mail" }))).toBe(false);
    expect(
      messageMatches(contact, "Contacts", criteriaFrom({ kind: "contact", subject: "fabrikam alex" })),
    ).toBe(true);
    expect(messageMatches(contact, "Contacts", criteriaFrom({ kind: "task" }))).toBe(false);
    // A message backed up as MIME carries no kind: it is mail.
    expect(messageMatches(meta, "Inbox", criteriaFrom({ kind: "mail" }))).toBe(true);
    expect(() => criteriaFrom({ kind: "meeting" })).toThrow(/--kind: expected one of/);
  });
});

describe("timeline", () => {
  const report = {
    jobId: J1,
    status: "complete",
    createdAt: "2026-11-01T10:00:00.000Z",
    endedAt: "2026-11-01T10:00:10.000Z",
    makespanSeconds: 10,
    totals: { items: 3, errors: 0 },
    plan: {
      streams: 2,
      predictedMakespanSeconds: 8,
      lowerBoundSeconds: 6,
      units: [
        { index: 0, mailboxId: "m1", estimatedSeconds: 6 },
        { index: 1, mailboxId: "m2", estimatedSeconds: 4 },
        { index: 2, mailboxId: "m3", estimatedSeconds: 2 },
      ],
    },
    units: [
      {
        index: 0,
        mailboxId: "m1",
        status: "done",
        streamId: 1,
        startedAt: "2026-11-01T10:00:01.000Z",
        endedAt: "2026-11-01T10:00:09.000Z",
      },
      {
        index: 1,
        mailboxId: "m2",
        status: "failed",
        streamId: 0,
        startedAt: "2026-11-01T10:00:01.000Z",
        endedAt: "2026-11-01T10:00:03.000Z",
      },
      { index: 2, mailboxId: "m3", status: "pending" },
    ],
    streams: [{ streamId: 0 }, { streamId: 1 }],
  } as unknown as JobReport;
  it("places the plan largest first on the stream that frees up first", () => {
    expect(plannedBars(report).map((b) => [b.unit, b.streamId, b.start, b.end])).toEqual([
      [0, 0, 0, 6],
      [1, 1, 0, 4],
      [2, 1, 4, 6],
    ]);
    // The plan starts when the streams get their tasks: after the planning phase.
    const phased = { ...report, phases: { planningSeconds: 2, backupSeconds: 7, finalizingSeconds: 1 } };
    expect(plannedBars(phased).map((b) => [b.unit, b.start, b.end])).toEqual([
      [0, 2, 8],
      [1, 2, 6],
      [2, 6, 8],
    ]);
    expect(renderTimelineHtml(phased)).toContain("planning 2.0 s, then the streams 7.0 s");
  });
  it("places what happened relative to the job's start, skipping units that never started", () => {
    expect(actualBars(report).map((b) => [b.unit, b.streamId, b.start, b.end, b.status])).toEqual([
      [0, 1, 1, 9, "done"],
      [1, 0, 1, 3, "failed"],
    ]);
    const html = renderTimelineHtml(report);
    expect(html.match(/class="bar actual"/g)).toHaveLength(2);
    expect(html.match(/class="bar planned"/g)).toHaveLength(3);
    expect(html).toContain('data-status="failed"');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });
  it("draws a unit that started during its stream's previous unit in a second lane", () => {
    const overlapping = {
      ...report,
      units: [
        ...report.units.slice(0, 2),
        {
          index: 2,
          mailboxId: "m3",
          status: "done",
          streamId: 1,
          startedAt: "2026-11-01T10:00:08.000Z",
          endedAt: "2026-11-01T10:00:10.000Z",
        },
      ],
    } as unknown as JobReport;
    expect(actualBars(overlapping).map((b) => [b.unit, b.lane])).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
    ]);
    expect(renderTimelineHtml(overlapping)).toMatch(
      /data-unit="2" data-status="done" data-lane="1"[^>]*height="8"/,
    );
  });
});

describe("format", () => {
  it("aligns columns and truncates with an ellipsis", () => {
    expect(formatTable(["A", "BB"], [["xyz", "1"]])).toBe("A    BB\nxyz  1\n");
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("abc", 4)).toBe("abc");
  });
});

describe("itemFields (show of an item kept as its export stream)", () => {
  it("shows mail's recipients with their addresses where the metadata has them, names otherwise", () => {
    const fields = new Map(
      itemFields({
        kind: "mail",
        subject: "Hi",
        from: { emailAddress: { name: "Ann", address: "ann@x.test" } },
        toRecipients: [
          { emailAddress: { name: "Bo Li", address: "bo@x.test" } },
          { emailAddress: { name: "Carol" } },
        ],
        isRead: true,
      }),
    );
    expect(fields.get("From")).toBe("Ann <ann@x.test>");
    expect(fields.get("To")).toBe("Bo Li <bo@x.test>, Carol");
    expect(fields.has("Cc")).toBe(false);
    expect(fields.get("State")).toBe("read, flag notFlagged");
  });
});
