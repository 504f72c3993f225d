import { describe, expect, it } from "vitest";
import { figures, realContent } from "../../../bench/figures.js";
import type { JobReport } from "../../../lib/backup/report.js";
import type { GroundTruth } from "../../../lib/dev/sim/index.js";
import { lowerBound, resolvePlanLimits } from "../../../lib/plan/index.js";

const messages = (count: number, size: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `m${i}`, sha256: "x", size }) as never);
const folder = (id: string, count: number, size: number, isSearchFolder = false) => ({
  id,
  path: id,
  isHidden: false,
  isSearchFolder,
  messages: messages(count, size),
});

/** The work model reads mail folders only: no archive, no other item kinds. */
const mailOnly = { primaryMailboxId: "MBX:p@t", archiveMailboxId: null, mailboxFolders: [] };

const truth: GroundTruth = {
  tenantId: "t",
  mailboxes: [
    {
      userId: "u1",
      address: "big@x",
      // 150 items need two delta pages of 100; an empty folder still costs its one page; a
      // search folder is not backed up.
      folders: [folder("inbox", 150, 1000), folder("empty", 0, 0), folder("search", 5, 10, true)],
      ...mailOnly,
    },
    { userId: "u2", address: "small@x", folders: [folder("inbox", 10, 500)], ...mailOnly },
  ],
};
const service = { perRequestSeconds: 0.4, perByteSeconds: 20e-9, pageSize: 100 };

describe("the benchmark's work model", () => {
  it("counts one $value per item and max(1, ⌈items / page⌉) delta pages per folder, without search folders", () => {
    const content = realContent(truth, service);
    expect(content.items).toBe(160);
    expect(content.folders).toBe(3);
    expect(content.works.map((w) => w.requests)).toEqual([150 + 2 + 1, 10 + 1]);
    expect(content.works[0]!.serialSeconds).toBeCloseTo(153 * 0.4 + 150_000 * 20e-9, 9);
    expect(realContent(truth, { ...service, only: new Set(["small@x"]) }).addresses).toEqual(["small@x"]);
  });

  describe("in a content mode: every folder of both mailboxes, read as the mode reads it", () => {
    const mib = 1024 * 1024;
    const items = (prefix: string, type: string, sizes: number[]) =>
      sizes.map((size, i) => ({ id: `${prefix}${i}`, type, size, sha256: "x" }));
    const mailboxFolder = (
      id: string,
      type: string,
      list: ReturnType<typeof items>,
      mailbox: "primary" | "archive" = "primary",
      itemsMailboxId = mailbox === "primary" ? "MBX:p@t" : "MBX:a@t",
    ) => ({ mailbox, itemsMailboxId, id, path: id, type, items: list });
    const kinds: GroundTruth = {
      tenantId: "t",
      mailboxes: [
        {
          userId: "u1",
          address: "all@x",
          // The inbox's messages: MIME of 1,000 bytes each, export streams of 1,500.
          folders: [
            {
              id: "inbox",
              path: "inbox",
              isHidden: false,
              isSearchFolder: false,
              messages: messages(3, 1000),
            },
            { id: "search", path: "search", isHidden: false, isSearchFolder: true, messages: [] },
          ],
          primaryMailboxId: "MBX:p@t",
          archiveMailboxId: "MBX:a@t",
          mailboxFolders: [
            mailboxFolder("inbox", "IPF.Note", items("m", "IPM.Note", [1500, 1500, 1500])),
            // 25 events: one page.
            mailboxFolder("calendar", "IPF.Appointment", items("e", "IPM.Appointment", Array(25).fill(100))),
            // The API does not tell search folders apart: one empty page.
            mailboxFolder("search", "IPF.Note", []),
            // An archive item above 4 MiB is exported alone, streamed.
            mailboxFolder("old", "IPF.Note", items("a", "IPM.Note", [200, 5 * mib]), "archive"),
          ],
        },
      ],
    };
    it("counts an auto-expanding archive's auxiliary mailbox apart: one export request carries one mailbox's items", () => {
      const [mailbox] = kinds.mailboxes;
      const expanded: GroundTruth = {
        ...kinds,
        mailboxes: [
          {
            ...mailbox!,
            mailboxFolders: [
              ...mailbox!.mailboxFolders,
              // Moved to the auxiliary archive: its 2 small items cannot join the archive's request.
              mailboxFolder("older", "IPF.Note", items("x", "IPM.Note", [100, 100]), "archive", "MBX:x@t"),
            ],
          },
        ],
      };
      const before = realContent(kinds, { ...service, mailContent: "fidelity" }).works[0]!.requests;
      const after = realContent(expanded, { ...service, mailContent: "fidelity" }).works[0]!.requests;
      // Its first request's 308 to the auxiliary mailbox, its page and its own export request.
      expect(after).toBe(before + 1 + 1 + 1);
    });
    const otherBytes = 25 * 100 + 200 + 5 * mib;
    // Pages: one per folder (4). Exports pooled per mailbox: the primary's 28 items (25 events,
    // and the 3 messages in fidelity and both) in 2 requests; the archive's large item alone and
    // the small one in 1.
    it.each([
      ["fidelity", 4 + 2 + 2, 3 * 1500],
      ["mime", 4 + 3 + 2 + 2, 3 * 1000],
      ["both", 4 + 3 + 2 + 2, 3 * 1000 + 3 * 1500],
    ] as const)("mode %s", (mailContent, requests, inboxBytes) => {
      const content = realContent(kinds, { ...service, mailContent });
      expect(content.works.map((w) => w.requests)).toEqual([requests]);
      expect(content.works[0]!.serialSeconds).toBeCloseTo(
        requests * 0.4 + (inboxBytes + otherBytes) * 20e-9,
        9,
      );
      expect(content.items).toBe(3 + 25 + 0 + 2);
      expect(content.folders).toBe(4);
    });
  });

  it("gives LB as the largest mailbox at many streams and the total over N at few", () => {
    const { works } = realContent(truth, service);
    const limits = resolvePlanLimits({
      perMailboxConcurrency: 4,
      requestLatencySeconds: 0.4,
      perByteSeconds: 20e-9,
    });
    const big = works[0]!.serialSeconds / 4;
    const all = (works[0]!.serialSeconds + works[1]!.serialSeconds) / 4;
    expect(lowerBound(works, 1, limits)).toBeCloseTo(all, 9);
    expect(lowerBound(works, 16, limits)).toBeCloseTo(big, 9);
  });

  it("counts streams that never got a unit as idle for the whole job", () => {
    const report = {
      makespanSeconds: 10,
      phases: { planningSeconds: 2, backupSeconds: 7, finalizingSeconds: 1 },
      totals: { items: 40, bytes: 4e6 },
      streams: [{ idleSeconds: 3 }, { idleSeconds: 1 }],
      status: "complete",
    } as unknown as JobReport;
    const f = figures(
      report,
      { requests: 5, throttled: 0, earlyRetries: 0 },
      { requests: 55, throttled: 1, earlyRetries: 0 },
      4,
    );
    expect(f).toMatchObject({
      requests: 50,
      requestsPerItem: 1.25,
      throttled: 1,
      itemsPerSecond: 4,
      backupSeconds: 7,
    });
    // 3 + 1 seconds, plus two unused streams × 10 s, over 4 streams × 10 s.
    expect(f.streamIdleSeconds).toBe(24);
    expect(f.streamIdleShare).toBeCloseTo(0.6, 9);
  });

  it("counts a $batch as its inner requests, and HTTP exchanges as the simulator served them", () => {
    const report = {
      makespanSeconds: 10,
      phases: { planningSeconds: 2, backupSeconds: 7, finalizingSeconds: 1 },
      totals: { items: 40, bytes: 4e6 },
      streams: [{ idleSeconds: 0 }],
      status: "complete",
    } as unknown as JobReport;
    // 30 requests alone and 5 batches of 4 inner requests: the simulator served 30 + 5 + 20.
    const f = figures(
      report,
      { requests: 0, throttled: 0, earlyRetries: 0, batches: 0, batchedRequests: 0 },
      { requests: 55, throttled: 0, earlyRetries: 0, batches: 5, batchedRequests: 20 },
      1,
    );
    expect(f).toMatchObject({ requests: 50, requestsPerItem: 1.25, roundTrips: 35 });
    // Counters that do not say (older callers): as served, no exchanges figure.
    const old = figures(
      report,
      { requests: 0, throttled: 0, earlyRetries: 0 },
      { requests: 55, throttled: 0, earlyRetries: 0 },
      1,
    );
    expect(old.requests).toBe(55);
    expect(old.roundTrips).toBeUndefined();
  });
});
