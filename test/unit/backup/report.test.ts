import { describe, expect, it } from "vitest";
import { buildJobReport, type UnitRecordView } from "../../../lib/backup/report.js";

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
