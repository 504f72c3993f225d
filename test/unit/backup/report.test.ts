import { describe, expect, it } from "vitest";
import {
  buildJobReport,
  emptyTally,
  mailboxEntry,
  reportSummary,
  tallyMailboxes,
  tallyUnits,
  type UnitRecordView,
} from "../../../lib/backup/report.js";

const unit = (over: Partial<UnitRecordView>): UnitRecordView => ({
  index: 0,
  mailboxId: "m1",
  folderIds: ["f1"],
  cost: 10,
  estimatedSeconds: 5,
  concurrency: 4,
  status: "done",
  progress: { items: 10, bytes: 1000, removed: 0, deduplicated: 0, requests: 0, throttled: 0 },
  errors: [],
  incompleteFolders: [],
  ...over,
});

describe("buildJobReport", () => {
  const base = {
    jobId: "J",
    trigger: "schedule",
    createdAt: "2026-01-01T00:00:00.000Z",
    endedAt: "2026-01-01T00:01:40.000Z",
    streams: 2,
    predictedMakespanSeconds: 90,
    lowerBoundSeconds: 80,
    mailboxes: [
      { mailboxId: "m1", address: "a@x" },
      { mailboxId: "m2", address: "b@x" },
    ],
    skippedMailboxes: [{ userId: "u9", reason: "MailboxNotEnabledForRESTAPI" }],
  };

  it("adds up units per stream and mailbox and measures busy and idle time", () => {
    const r = buildJobReport({
      ...base,
      units: [
        unit({
          index: 0,
          streamId: 0,
          startedAt: "2026-01-01T00:00:00.000Z",
          endedAt: "2026-01-01T00:01:00.000Z",
        }),
        unit({
          index: 1,
          streamId: 1,
          mailboxId: "m2",
          startedAt: "2026-01-01T00:00:10.000Z",
          endedAt: "2026-01-01T00:01:30.000Z",
          requests: 12,
          throttled: 2,
        }),
        unit({
          index: 2,
          streamId: 0,
          startedAt: "2026-01-01T00:01:00.000Z",
          endedAt: "2026-01-01T00:01:20.000Z",
        }),
      ],
    });
    expect(r.status).toBe("complete");
    expect(r.makespanSeconds).toBe(100);
    // Without a planning time the whole span up to the last unit counts as backup.
    expect(r.phases).toEqual({ planningSeconds: 0, backupSeconds: 90, finalizingSeconds: 10 });
    expect(r.totals).toMatchObject({
      items: 30,
      bytes: 3000,
      units: 3,
      mailboxes: 2,
      requests: 12,
      throttled: 2,
    });
    expect(r.streams).toEqual([
      expect.objectContaining({ streamId: 0, units: 2, busySeconds: 80, idleSeconds: 20, items: 20 }),
      expect.objectContaining({ streamId: 1, units: 1, busySeconds: 80, idleSeconds: 20, items: 10 }),
    ]);
    expect(r.mailboxes.map((m) => [m.address, m.items, m.status])).toEqual([
      ["a@x", 20, "complete"],
      ["b@x", 10, "complete"],
    ]);
    expect(r.skippedMailboxes).toHaveLength(1);
  });

  it("is partial when an item or folder was recorded, failed when a unit failed", () => {
    const withError = buildJobReport({
      ...base,
      units: [unit({ errors: [{ subject: "message x", name: "ItemNotFoundError", message: "gone" }] })],
    });
    expect(withError.status).toBe("partial");
    expect(withError.mailboxes[0]?.errors).toHaveLength(1);
    const failed = buildJobReport({ ...base, units: [unit({ status: "failed" })] });
    expect(failed.status).toBe("failed");
    expect(failed.mailboxes[0]?.status).toBe("failed");
  });

  it("splits the makespan into planning, backup (tasks sent → last unit ended) and finalizing", () => {
    const r = buildJobReport({
      ...base,
      plannedAt: "2026-01-01T00:00:05.000Z",
      units: [
        unit({
          index: 0,
          streamId: 0,
          startedAt: "2026-01-01T00:00:06.000Z",
          endedAt: "2026-01-01T00:01:35.000Z",
        }),
        unit({
          index: 1,
          streamId: 1,
          startedAt: "2026-01-01T00:00:06.000Z",
          endedAt: "2026-01-01T00:00:50.000Z",
        }),
      ],
    });
    expect(r.phases).toEqual({ planningSeconds: 5, backupSeconds: 90, finalizingSeconds: 5 });
  });
});

describe("the report built page by page", () => {
  const head = {
    jobId: "J",
    trigger: "schedule",
    createdAt: "2026-01-01T00:00:00.000Z",
    plannedAt: "2026-01-01T00:00:10.000Z",
    streams: 3,
    predictedMakespanSeconds: 90,
    lowerBoundSeconds: 80,
  };
  const endedAt = "2026-01-01T00:05:00.000Z";
  const units = Array.from({ length: 9 }, (_, index) =>
    unit({
      index,
      mailboxId: `m${index % 4}`,
      // Stream 4 is beyond the plan's streams (a re-plan); unit 8 never started.
      ...(index < 8 ? { streamId: index % 5, startedAt: `2026-01-01T00:0${1 + (index % 3)}:00.000Z` } : {}),
      ...(index < 7 ? { endedAt: `2026-01-01T00:0${2 + (index % 3)}:30.000Z` } : {}),
      status: index === 8 ? "pending" : "done",
      requests: index,
      errors: index === 3 ? [{ subject: "message x", name: "E", message: "e" }] : [],
      progress: {
        items: index,
        bytes: 100 * index,
        removed: 1,
        deduplicated: 2,
        requests: index,
        throttled: 0,
      },
    }),
  );
  const mailboxes = ["m0", "m1", "m2", "m3"].map((mailboxId) => ({ mailboxId, address: `${mailboxId}@x` }));

  it("gives the one-step report's totals, streams, phases and status whatever the pages", () => {
    const whole = buildJobReport({ ...head, endedAt, units, mailboxes, skippedMailboxes: [] });
    for (const size of [1, 2, 4, 9]) {
      let tally = emptyTally();
      for (let i = 0; i < units.length; i += size) tally = tallyUnits(tally, units.slice(i, i + size));
      for (let i = 0; i < mailboxes.length; i += size) {
        const page = mailboxes.slice(i, i + size).map((m) =>
          mailboxEntry(
            m,
            units.filter((u) => u.mailboxId === m.mailboxId),
          ),
        );
        tally = tallyMailboxes(tally, page);
      }
      const summary = reportSummary(head, tally, endedAt);
      expect(summary).toEqual({
        ...whole,
        plan: { ...whole.plan, units: [] },
        units: [],
        mailboxes: [],
        skippedMailboxes: [],
      });
    }
    expect(whole.status).toBe("failed");
    expect(whole.streams.map((s) => s.streamId)).toEqual([0, 1, 2, 3, 4]);
  });

  it("keeps a checkpoint's figures far under DynamoDB's 400 KB item at 1,000 streams and 100,000 mailboxes", () => {
    const many = Array.from({ length: 100_000 }, (_, index) =>
      unit({
        index,
        mailboxId: `m${index}`,
        streamId: index % 1000,
        startedAt: new Date(Date.parse("2026-01-01T00:00:00.000Z") + index * 997).toISOString(),
        endedAt: new Date(Date.parse("2026-01-01T00:00:00.000Z") + index * 997 + 123_456).toISOString(),
        progress: {
          items: 12_345,
          bytes: 987_654_321,
          removed: 0,
          deduplicated: 0,
          requests: 400,
          throttled: 3,
        },
      }),
    );
    let tally = emptyTally();
    for (let i = 0; i < many.length; i += 1000) tally = tallyUnits(tally, many.slice(i, i + 1000));
    expect(tally.streams).toHaveLength(1000);
    // As JSON (DynamoDB stores these numbers in fewer bytes than their digits).
    expect(Buffer.byteLength(JSON.stringify(tally))).toBeLessThan(100_000);
  });
});
