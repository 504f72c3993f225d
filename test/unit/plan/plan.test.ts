import { describe, expect, it } from "vitest";
import type { CoordinatorDeps } from "../../../lib/backup/coordinator.js";
import { dealStartUnits } from "../../../lib/backup/start-units.js";
import { FatalError } from "../../../lib/errors.js";
import {
  createPlanner,
  cutFiller,
  lowerBound,
  mailboxWork,
  type PlanFolder,
  type PlanMailbox,
  planJob,
  resolvePlanLimits,
  shareMailbox,
  simulateSchedule,
} from "../../../lib/plan/index.js";
import { balanceStreams, startOrder } from "../../../lib/plan/waves.js";

function folders(mailboxId: string, counts: number[], extra: Partial<PlanFolder> = {}): PlanFolder[] {
  return counts.map((totalItemCount, i) => ({
    folderId: `${mailboxId}-f${i}`,
    path: `F${i}`,
    totalItemCount,
    hasSyncState: false,
    isSearchFolder: false,
    ...extra,
  }));
}

function mailbox(mailboxId: string, counts: number[], extra: Partial<PlanFolder> = {}): PlanMailbox {
  return { mailboxId, address: `${mailboxId}@contoso.test`, folders: folders(mailboxId, counts, extra) };
}

const base = { requestLatencySeconds: 0.25, perByteSeconds: 0, pageSize: 100, unitOverheadSeconds: 0 };

/**
 * 40 mailboxes of 13–22 folders of one item-delta page each (a third with 2 items: exports), for
 * 16 streams: 2.5 whole units of 1.3–2.3 s a stream, so that LPT leaves some streams a unit longer
 * than others (the many-small shape's 160 mailboxes on 64 streams, scaled down). The tail fillers'
 * and the balanced start order's tests plan it.
 */
const manySmallScaledDown = Array.from({ length: 40 }, (_, i) =>
  mailbox(
    `m${String(i).padStart(2, "0")}`,
    Array.from({ length: 13 + ((i * 7) % 10) }, (_, f) => (f % 3 === 0 ? 2 : 0)),
    { read: "p" },
  ),
);

describe("planJob", () => {
  it("plans nothing for an empty tenant", () => {
    expect(planJob({ mailboxes: [], limits: base })).toEqual({
      units: [],
      streams: 0,
      streamSlots: 4,
      predictedMakespanSeconds: 0,
      lowerBoundSeconds: 0,
      totalCost: 0,
      perMailbox: [],
      work: { streamSeconds: 0, mailboxSeconds: 0 },
    });
  });

  it("gives the lower bound's terms, so that plans of parts of a tenant add up to the whole's bound", () => {
    const a = [mailbox("a", [250]), mailbox("b", [40, 40])];
    const b = [mailbox("c", [900])];
    const limits = { ...base, maxStreams: 4 };
    const whole = planJob({ mailboxes: [...a, ...b], limits });
    const [pa, pb] = [planJob({ mailboxes: a, limits }), planJob({ mailboxes: b, limits })];
    expect(pa.work.streamSeconds + pb.work.streamSeconds).toBeCloseTo(whole.work.streamSeconds, 9);
    expect(Math.max(pa.work.mailboxSeconds, pb.work.mailboxSeconds)).toBe(whole.work.mailboxSeconds);
    const n = whole.streams;
    expect(Math.max(whole.work.mailboxSeconds, whole.work.streamSeconds / n)).toBeCloseTo(
      whole.lowerBoundSeconds,
      9,
    );
  });

  it("plans one mailbox as one unit on one stream, at its lower bound", () => {
    const plan = planJob({ mailboxes: [mailbox("m", [250])], limits: { ...base, maxStreams: 8 } });
    expect(plan.units).toEqual([
      {
        index: 0,
        mailboxId: "m",
        folderIds: ["m-f0"],
        folderReads: "m",
        cost: 253,
        serialSeconds: 63.25,
        estimatedSeconds: 15.8125,
        concurrency: 4,
        kind: "mailbox",
      },
    ]);
    expect(plan.streams).toBe(1);
    expect(plan.predictedMakespanSeconds).toBeCloseTo(15.8125, 9);
    expect(plan.lowerBoundSeconds).toBeCloseTo(15.8125, 9);
    expect(plan.totalCost).toBe(253);
  });

  it("starts a unit's folders longest chain first, those without items last, each mailbox's together, the mailbox's order among equals", () => {
    // Item reads: a folder of 250 items is 3 pages (a chain) and 12.5 export requests; one of 0
    // items one page. f7–f9 are the archive's (read `a`, a pool and a `$batch` of their own).
    const m = mailbox("m", [0, 3, 250, 0, 40, 3, 0], { read: "p" });
    m.folders.push(
      ...folders("m", [5, 0, 120], { read: "a" }).map((f, i) => ({ ...f, folderId: `m-f${7 + i}` })),
    );
    const plan = planJob({ mailboxes: [m], limits: { ...base, maxStreams: 1 } });
    expect(plan.units.map((u) => u.folderIds)).toEqual([
      ["m-f2", "m-f9", "m-f4", "m-f1", "m-f5", "m-f7", "m-f0", "m-f3", "m-f6", "m-f8"],
    ]);
    expect(plan.units[0]?.folderReads).toBe("papppapppa");
    // Each unit of a split mailbox too (2 slots a stream: two units of 2 slots side by side).
    const split = planJob({
      mailboxes: [mailbox("s", [0, 500, 2, 600, 0, 1, 700, 3], { read: "p" })],
      limits: { ...base, maxStreams: 2, perStreamConcurrency: 2 },
    });
    expect(split.units.length).toBe(2);
    for (const unit of split.units) {
      const items = unit.folderIds.map((id) => [0, 500, 2, 600, 0, 1, 700, 3][Number(id.split("-f")[1])]!);
      expect(items).toEqual([...items].sort((a, b) => b - a));
    }
  });

  it("starts one round of a unit's folders without items after its chains, keeping a round of them for its end", () => {
    // 9 folders without items, 4 slots: 4 of them start right after the chain (their pages are
    // durable at once, nothing to export), 5 stay last (the last round's pages beside the last
    // partial batches). With 4 or fewer, all stay last (the first case above).
    const m = mailbox("e", [0, 0, 3, 0, 250, 0, 0, 5, 0, 0, 0, 2, 0], { read: "p" });
    const plan = planJob({ mailboxes: [m], limits: { ...base, maxStreams: 1 } });
    expect(plan.units).toHaveLength(1);
    expect(plan.units[0]?.concurrency).toBe(4);
    expect(plan.units[0]?.folderIds.map((id) => Number(id.split("-f")[1]))).toEqual([
      4, 0, 1, 3, 5, 7, 2, 11, 6, 8, 9, 10, 12,
    ]);
    // Two slots: two early, the other seven last.
    const two = planJob({ mailboxes: [m], limits: { ...base, maxStreams: 1, perStreamConcurrency: 2 } });
    expect(two.units[0]?.concurrency).toBe(2);
    expect(two.units[0]?.folderIds.map((id) => Number(id.split("-f")[1]))).toEqual([
      4, 0, 1, 7, 2, 11, 3, 5, 6, 8, 9, 10, 12,
    ]);
  });

  it("costs unchanged incremental folders one request each", () => {
    const unchanged = [
      mailbox("a", [500, 20, 3000], { hasSyncState: true, estimatedChangedItems: 0 }),
      mailbox("b", [10, 0], { hasSyncState: true, estimatedChangedItems: 0 }),
    ];
    const plan = planJob({ mailboxes: unchanged, limits: base });
    expect(plan.perMailbox.map((m) => m.cost)).toEqual([3, 2]);
    expect(plan.totalCost).toBe(5);
    // The change ratio 0 says the same without per-folder estimates.
    const byRatio = unchanged.map((m) => ({
      ...m,
      folders: m.folders.map(({ estimatedChangedItems: _, ...f }) => f),
    }));
    expect(planJob({ mailboxes: byRatio, limits: { ...base, changeRatio: 0 } }).totalCost).toBe(5);
  });

  it("backs up no search folder and still visits a mailbox that has only those", () => {
    const m = mailbox("m", [10]);
    m.folders.push({
      folderId: "s",
      path: "Unread",
      totalItemCount: 400,
      hasSyncState: false,
      isSearchFolder: true,
    });
    const onlySearch: PlanMailbox = {
      mailboxId: "x",
      address: "x@contoso.test",
      folders: [
        { folderId: "xs", path: "Flagged", totalItemCount: 9, hasSyncState: false, isSearchFolder: true },
      ],
    };
    const plan = planJob({ mailboxes: [m, onlySearch], limits: base });
    expect(plan.units.flatMap((u) => u.folderIds)).toEqual(["m-f0"]);
    expect(plan.units.find((u) => u.mailboxId === "x")).toMatchObject({ folderIds: [], cost: 0 });
    expect(plan.perMailbox.map((p) => p.excludedFolderIds)).toEqual([["s"], ["xs"]]);
  });

  it("orders units longest first and indexes them in that order", () => {
    const plan = planJob({
      mailboxes: [mailbox("small", [10]), mailbox("big", [5000]), mailbox("mid", [800])],
      limits: base,
    });
    expect(plan.units.map((u) => [u.index, u.mailboxId])).toEqual([
      [0, "big"],
      [1, "mid"],
      [2, "small"],
    ]);
    expect(plan.perMailbox.map((p) => p.unitIndexes)).toEqual([[2], [0], [1]]);
  });

  it("starts no more streams than it needs: small mailboxes share a stream beside the big one", () => {
    // big: 10,000 + 100 = 10,100 requests; ten of 990 + 10 = 1,000: 10,000 in all.
    const mailboxes = [
      mailbox("big", [10_000]),
      ...Array.from({ length: 10 }, (_, i) => mailbox(`s${i}`, [990])),
    ];
    const limits = { ...base, maxStreams: 16 };
    const plan = planJob({ mailboxes, limits });
    expect(plan.streams).toBe(2);
    const resolved = resolvePlanLimits(limits);
    const best = simulateSchedule(plan.units, 11, resolved).makespanSeconds;
    expect(plan.predictedMakespanSeconds).toBeLessThanOrEqual(best * 1.02);
    expect(simulateSchedule(plan.units, 1, resolved).makespanSeconds).toBeGreaterThan(best * 1.02);
  });

  it("never plans more streams than units", () => {
    const plan = planJob({
      mailboxes: [mailbox("a", [100]), mailbox("b", [100]), mailbox("c", [100])],
      limits: base,
    });
    expect(plan.streams).toBe(3);
  });

  it("keeps a mailbox whole when one stream fills its rate (C_stream = C)", () => {
    const giant = mailbox("g", [4000, 4000, 4000, 4000]);
    const plan = planJob({ mailboxes: [giant, mailbox("a", [100])], limits: { ...base, maxStreams: 8 } });
    expect(plan.units.filter((u) => u.mailboxId === "g")).toMatchObject([
      { kind: "mailbox", concurrency: 4 },
    ]);
  });

  it("splits the tail mailbox into folder groups that together use its C when one stream cannot", () => {
    const giant = mailbox("g", [4000, 4000, 4000, 4000]);
    const limits = { ...base, maxStreams: 8, perStreamConcurrency: 1 };
    const plan = planJob({ mailboxes: [giant, mailbox("a", [100])], limits });
    const parts = plan.units.filter((u) => u.mailboxId === "g");
    expect(parts).toHaveLength(4);
    for (const part of parts) expect(part).toMatchObject({ kind: "folders", concurrency: 1 });
    expect(parts.flatMap((u) => u.folderIds).sort()).toEqual(["g-f0", "g-f1", "g-f2", "g-f3"]);
    // Four streams at one slot each run the mailbox at its full rate: the bound's mailbox term.
    expect(plan.predictedMakespanSeconds).toBeLessThanOrEqual(plan.lowerBoundSeconds * 1.01);
  });

  it("keeps a big folder whole and splits only as far as it pays", () => {
    const lopsided = mailbox("g", [20_000, 50, 50, 50]);
    const limits = { ...base, maxStreams: 8, perStreamConcurrency: 2 };
    const plan = planJob({ mailboxes: [lopsided], limits });
    // Two groups at ⌊4 / 2⌋ = 2 slots: the big folder alone, the rest beside it. Three or four
    // groups would leave the big folder one slot.
    expect(plan.units.map((u) => [u.folderIds, u.concurrency])).toEqual([
      [["g-f0"], 2],
      [["g-f1", "g-f2", "g-f3"], 2],
    ]);
  });

  it("never gives a mailbox's units more than C between them", () => {
    const plan = planJob({
      mailboxes: [
        mailbox(
          "g",
          Array.from({ length: 12 }, () => 3000),
        ),
      ],
      limits: { ...base, perMailboxConcurrency: 2, perStreamConcurrency: 1 },
    });
    expect(plan.units).toHaveLength(2);
    expect(plan.units.reduce((sum, u) => sum + u.concurrency, 0)).toBe(2);
  });

  it("reports the lower bound for the streams it chose", () => {
    const mailboxes = Array.from({ length: 40 }, (_, i) => mailbox(`m${i}`, [1000 + 10 * i]));
    const limits = resolvePlanLimits({ ...base, maxStreams: 8 });
    const plan = planJob({ mailboxes, limits });
    const estimates = mailboxes.map((m) => mailboxWork(m, limits));
    expect(plan.lowerBoundSeconds).toBeCloseTo(lowerBound(estimates, plan.streams, limits), 9);
  });

  it("counts a stream of unitsPerStream units as that many lanes: fewer streams, the same makespan, the bound over the lanes", () => {
    const mailboxes = Array.from({ length: 40 }, (_, i) => mailbox(`m${i}`, [1000 + 10 * i]));
    const one = planJob({ mailboxes, limits: { ...base, maxStreams: 8 } });
    const four = planJob({ mailboxes, limits: { ...base, maxStreams: 8, unitsPerStream: 4 } });
    const resolved = resolvePlanLimits({ ...base, maxStreams: 8, unitsPerStream: 4 });
    expect(one.streams).toBe(8);
    // 8 streams of 4 units are 32 lanes: the same work in about a quarter of the time …
    expect(four.streams).toBeLessThanOrEqual(8);
    expect(four.predictedMakespanSeconds).toBeCloseTo(
      simulateSchedule(four.units, four.streams, resolved).makespanSeconds,
      9,
    );
    expect(four.predictedMakespanSeconds).toBeLessThan(one.predictedMakespanSeconds / 2);
    // … and no faster than the bound over those lanes allows.
    const estimates = mailboxes.map((m) => mailboxWork(m, resolved));
    expect(four.lowerBoundSeconds).toBeCloseTo(lowerBound(estimates, four.streams * 4, resolved), 9);
    expect(four.predictedMakespanSeconds).toBeGreaterThanOrEqual(four.lowerBoundSeconds - 1e-9);
    // Never more streams than it takes to give each unit a lane.
    const three = planJob({
      mailboxes: [mailbox("a", [100]), mailbox("b", [100]), mailbox("c", [100])],
      limits: { ...base, unitsPerStream: 2 },
    });
    expect(three.streams).toBe(2);
  });

  it("refuses a mailbox listed twice and negative counts", () => {
    expect(() => planJob({ mailboxes: [mailbox("a", [1]), mailbox("a", [2])] })).toThrow(FatalError);
    expect(() => planJob({ mailboxes: [mailbox("a", [-1])] })).toThrow(/item counts and sizes ≥ 0/);
  });
});

describe("createPlanner", () => {
  it("plans the coordinator's listing: synced folders as incremental passes", () => {
    const plan = createPlanner(
      base,
      "mime",
    )([
      {
        mailbox: { userId: "u1", address: "u1@contoso.test" },
        folders: [
          { id: "inbox", path: "Inbox", totalItemCount: 1000, isSearchFolder: false },
          {
            id: "sent",
            path: "Sent Items",
            totalItemCount: 1000,
            sizeBytes: 5_000_000,
            isSearchFolder: false,
          },
        ],
        syncedFolderIds: new Set(["inbox"]),
      },
    ]);
    // inbox: ceil(0.02 × 1000) = 20 changes on 1 page, 21; sent: 1000 + 10 pages = 1010, so the
    // unit starts it first.
    expect(plan.units).toMatchObject([{ mailboxId: "u1", folderIds: ["sent", "inbox"], cost: 21 + 1010 }]);
  });

  it("fits the coordinator's plan dependency", () => {
    const plan: CoordinatorDeps["plan"] = createPlanner(base, "mime");
    const job = plan([
      {
        mailbox: { userId: "u2", address: "u2@contoso.test", displayName: "U2", purpose: "shared" },
        folders: [
          {
            id: "f",
            parentFolderId: "root",
            path: "Inbox",
            displayName: "Inbox",
            isHidden: false,
            isSearchFolder: false,
            totalItemCount: 5,
            unreadItemCount: 0,
          },
        ],
        mailboxIds: { primary: "MBX:u2@tenant" },
        syncedFolderIds: new Set(),
      },
    ]);
    expect(job).toMatchObject({
      streams: 1,
      units: [{ index: 0, mailboxId: "u2", folderIds: ["f"], cost: 5 + 1 }],
    });
  });

  it("reads folders by the content mode: item delta and 20 items per export request, archives always", () => {
    const listed = [
      {
        mailbox: { userId: "u3", address: "u3@contoso.test" },
        folders: [
          {
            id: "inbox",
            path: "Inbox",
            totalItemCount: 1000,
            isSearchFolder: false,
            folderClass: "IPF.Note",
          },
          {
            id: "cal",
            path: "Calendar",
            totalItemCount: 40,
            isSearchFolder: false,
            folderClass: "IPF.Appointment",
          },
          {
            id: "old",
            path: "Inbox",
            totalItemCount: 200,
            isSearchFolder: false,
            mailbox: "archive" as const,
          },
        ],
        syncedFolderIds: new Set(["inbox", "cal"]),
        syncedItemFolderIds: new Set(["old"]),
      },
    ];
    const unit = (mode: "mime" | "fidelity" | "both") => createPlanner(base, mode)(listed).units[0]!;
    // fidelity: inbox full item pass 10 + 50 (its message delta link does not count);
    // cal 1 + 2; old incremental: ceil(0.02 × 200) = 4 changed → 1 + 4 / 20 (a unit pools
    // the export requests of its folders: each counts its share).
    const expectUnit = (mode: "mime" | "fidelity" | "both", folderReads: string, cost: number) => {
      expect(unit(mode).folderReads).toBe(folderReads);
      expect(unit(mode).cost).toBeCloseTo(cost, 9);
    };
    expectUnit("fidelity", "ppa", 60 + 3 + 1.2);
    // mime: inbox incremental by message delta (20 + 1), cal by item delta in full.
    expectUnit("mime", "mpa", 21 + 3 + 1.2);
    // both: MIME and one export per 20 messages.
    expectUnit("both", "bpa", 22 + 3 + 1.2);
  });

  it("rejects bad limits when it is created", () => {
    expect(() => createPlanner({ windowSeconds: -1 })).toThrow(/plan\.windowSeconds/);
    expect(() => createPlanner({ unitsPerStream: 9 })).toThrow(
      /plan\.unitsPerStream: expected an integer 1–8/,
    );
  });
});

describe("planJob: units small enough for one state record", () => {
  const longIds = (m: PlanMailbox): PlanMailbox => ({
    ...m,
    folders: m.folders.map((f, i) => ({
      ...f,
      folderId: `AAMkAD${String(i).padStart(6, "0")}${"Q".repeat(150)}`,
    })),
  });

  it("cuts a mailbox of 2,500 folders into units of at most 1,000, sharing its C", () => {
    const big = longIds(mailbox("big", new Array(2500).fill(1)));
    const plan = planJob({ mailboxes: [big, mailbox("small", [10])], limits: { ...base, maxStreams: 8 } });
    const units = plan.units.filter((u) => u.mailboxId === "big");
    // 3 by count (833, 833, 834 on 1 slot each), or 4 groups of 625 on one slot each, which
    // planned slot shares find faster (the mailbox's 4 slots busy instead of 3).
    expect(units.length).toBeGreaterThanOrEqual(3);
    expect(units.every((u) => u.folderIds.length <= 1000)).toBe(true);
    expect(units.every((u) => u.kind === "folders" && u.concurrency === 1)).toBe(true);
    expect(units.reduce((n, u) => n + u.concurrency, 0)).toBeLessThanOrEqual(4);
    // Every folder in exactly one unit, in the listing's order within each.
    expect(units.flatMap((u) => u.folderIds).sort()).toEqual(big.folders.map((f) => f.folderId).sort());
    // The unit's record (its folder ids are most of it) stays far below DynamoDB's 400 KB.
    for (const u of units) expect(Buffer.byteLength(JSON.stringify(u))).toBeLessThan(200 * 1024);
  });

  it("never gives a mailbox more units than its C: 6,000 folders become 4 units of 1,500", () => {
    const plan = planJob({
      mailboxes: [mailbox("huge", new Array(6000).fill(0))],
      limits: { ...base, maxStreams: 8 },
    });
    expect(plan.units.map((u) => u.folderIds.length)).toEqual([1500, 1500, 1500, 1500]);
    expect(plan.units.reduce((n, u) => n + u.concurrency, 0)).toBeLessThanOrEqual(4);
  });

  it("keeps a mailbox of 1,000 folders whole", () => {
    const plan = planJob({
      mailboxes: [mailbox("m", new Array(1000).fill(1))],
      limits: { ...base, maxStreams: 8 },
    });
    expect(plan.units).toHaveLength(1);
    expect(plan.units[0]?.kind).toBe("mailbox");
  });
});

describe("planJob: planned slot shares", () => {
  const limits = { ...base, requestLatencySeconds: 0.4, unitOverheadSeconds: 0.5, maxStreams: 16 };
  /**
   * 24 mailboxes of 18–24 folders of 5–7 items read through item delta and exports (20 items a
   * request), on 16 streams: the skewed shape's sizes in content mode fidelity.
   */
  const tenant = Array.from({ length: 24 }, (_, i) =>
    mailbox(`m${String(i).padStart(2, "0")}`, new Array(18 + (i % 7)).fill(5 + (i % 3)), { read: "p" }),
  );
  /** The same mailboxes as whole units of 4 slots, longest first: the plan without shares. */
  const wholeUnits = (mailboxes: PlanMailbox[]) => {
    const resolved = resolvePlanLimits(limits);
    return mailboxes
      .map((m) => ({ mailboxId: m.mailboxId, ...mailboxWork(m, resolved) }))
      .sort((a, b) => b.serialSeconds - a.serialSeconds)
      .map((w, index) => ({
        index,
        mailboxId: w.mailboxId,
        cost: w.requests,
        serialSeconds: w.serialSeconds,
        concurrency: 4,
      }));
  };

  it("gives mailboxes shares of a stream's slots when whole units would leave streams idle at the end", () => {
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: tenant, limits });
    const whole = simulateSchedule(wholeUnits(tenant), 16, resolved).makespanSeconds;
    expect(plan.units.some((u) => u.concurrency < 4)).toBe(true);
    expect(plan.predictedMakespanSeconds).toBeLessThan(whole * 0.95);
    expect(plan.predictedMakespanSeconds).toBeGreaterThanOrEqual(plan.lowerBoundSeconds);
    // The prediction is the simulation of these units (streams run units side by side).
    expect(plan.predictedMakespanSeconds).toBe(
      simulateSchedule(plan.units, plan.streams, resolved).makespanSeconds,
    );
    for (const m of tenant) {
      const units = plan.units.filter((u) => u.mailboxId === m.mailboxId);
      // Never more than C slots for a mailbox, every folder in exactly one unit.
      expect(units.reduce((n, u) => n + u.concurrency, 0)).toBeLessThanOrEqual(4);
      expect(units.flatMap((u) => u.folderIds).sort()).toEqual(m.folders.map((f) => f.folderId).sort());
    }
  });

  it("plans whole units only when slot shares are off", () => {
    const plan = planJob({ mailboxes: tenant, limits: { ...limits, slotShares: false } });
    expect(plan.units.length).toBe(24);
    expect(plan.units.every((u) => u.concurrency === 4 && u.kind === "mailbox")).toBe(true);
    expect(() => resolvePlanLimits({ slotShares: "yes" as unknown as boolean })).toThrow(/plan\.slotShares/);
  });

  it("keeps whole units where they already reach the bound", () => {
    const equal = Array.from({ length: 16 }, (_, i) =>
      mailbox(`e${i}`, new Array(20).fill(6), { read: "p" }),
    );
    const plan = planJob({ mailboxes: equal, limits });
    expect(plan.units.length).toBe(16);
    expect(plan.units.every((u) => u.concurrency === 4 && u.kind === "mailbox")).toBe(true);
  });

  it("gives a mailbox that may be budget-bound its whole stream", () => {
    // m00's 49 requests are over the budget of 40 per 1 s window (the others make 23–33): its unit
    // waits for the budget holding its slots, which the lower bound counts only for a unit of a
    // whole stream.
    const budgeted = [mailbox("m00", new Array(20).fill(29), { read: "p" }), ...tenant.slice(1)];
    const plan = planJob({
      mailboxes: budgeted,
      limits: { ...limits, budgetPerWindow: 40, windowSeconds: 1 },
    });
    expect(plan.units.some((u) => u.concurrency < 4)).toBe(true);
    expect(plan.units.filter((u) => u.mailboxId === "m00").map((u) => u.concurrency)).toEqual([4]);
  });
});

describe("planJob: slot packing", () => {
  const limits = {
    ...base,
    requestLatencySeconds: 0.4,
    unitOverheadSeconds: 0.1,
    claimSeconds: 0.05,
    maxStreams: 16,
    slotPacking: true,
    // Stream bins would pack these mailboxes into the streams instead (their own tests below).
    streamBins: false,
  };
  /**
   * 24 mailboxes of 14–33 requests (folders of 1–2 requests, read through item delta and exports)
   * on 16 streams of 4 slots: the skewed shape at N = 16, where LB asks ≈ 9 requests a slot and
   * slot shares of 2 + 1 slots end 1.2 × LB.
   */
  const tenant = Array.from({ length: 24 }, (_, i) =>
    mailbox(
      `m${String(i).padStart(2, "0")}`,
      Array.from({ length: 13 + (i % 6) + (i === 0 ? 8 : 0) }, (_, f) => (f % 4 === 0 ? 25 : 5)),
      { read: "p" },
    ),
  );

  it("lays the mailboxes out along the slots in one-slot units when that ends sooner than slot shares", () => {
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: tenant, limits });
    const shares = planJob({ mailboxes: tenant, limits: { ...limits, slotPacking: false } });
    expect(plan.slotPacked).toBe(true);
    expect(shares.slotPacked).toBeUndefined();
    expect(plan.predictedMakespanSeconds).toBeLessThan(shares.predictedMakespanSeconds * 0.95);
    expect(plan.predictedMakespanSeconds).toBe(
      simulateSchedule(plan.units, plan.streams, resolved).makespanSeconds,
    );
    // A layout is cut for all the streams.
    expect(plan.streams).toBe(16);
    for (const m of tenant) {
      const units = plan.units.filter((u) => u.mailboxId === m.mailboxId);
      // One slot each, never more than C between them, every folder in exactly one unit.
      expect(units.every((u) => u.concurrency === 1)).toBe(true);
      expect(units.length).toBeLessThanOrEqual(4);
      expect(units.flatMap((u) => u.folderIds).sort()).toEqual(m.folders.map((f) => f.folderId).sort());
    }
    // The same work, cut otherwise.
    expect(plan.totalCost).toBeCloseTo(shares.totalCost, 9);
    expect(plan.units.map((u) => u.index)).toEqual(plan.units.map((_, i) => i));
    for (const m of plan.perMailbox)
      for (const i of m.unitIndexes) expect(plan.units[i]!.mailboxId).toBe(m.mailboxId);
  });

  it("packs however dear a claim at the start (the first tasks carry the start units), not when later claims cost more than it gains", () => {
    const cheap = planJob({ mailboxes: tenant, limits });
    const dear = planJob({ mailboxes: tenant, limits: { ...limits, claimSeconds: 1 } });
    expect(dear.slotPacked).toBe(true);
    expect(dear.predictedMakespanSeconds).toBeCloseTo(cheap.predictedMakespanSeconds, 9);
    // A lane's next unit is claimed alone when the one before ends: at 3 s a claim, that loses.
    const dearer = planJob({ mailboxes: tenant, limits: { ...limits, claimSeconds: 3 } });
    expect(dearer.slotPacked).toBeUndefined();
  });

  it("packs nothing when whole units reach the bound, or when it is off (the default)", () => {
    const equal = Array.from({ length: 16 }, (_, i) =>
      mailbox(`e${i}`, new Array(20).fill(6), { read: "p" }),
    );
    expect(planJob({ mailboxes: equal, limits }).slotPacked).toBeUndefined();
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, slotPacking: undefined } }).slotPacked,
    ).toBeUndefined();
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, slotPacking: false } }).slotPacked,
    ).toBeUndefined();
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, slotShares: false } }).slotPacked,
    ).toBeUndefined();
    expect(() => resolvePlanLimits({ slotPacking: 0 as unknown as boolean })).toThrow(
      /plan\.slotPacking: expected true or false, found 0/,
    );
    expect(() => resolvePlanLimits({ claimSeconds: -1 })).toThrow(
      /plan\.claimSeconds: expected a number of seconds ≥ 0, found -1/,
    );
  });
});

describe("planJob: stream bins", () => {
  const limits = {
    ...base,
    requestLatencySeconds: 0.4,
    unitOverheadSeconds: 0.1,
    claimSeconds: 0.05,
    maxStreams: 16,
  };
  /**
   * The skewed shape at N = 16 (as in slot packing's tests): 24 mailboxes of 14–33 requests
   * (folders of 1–2 requests) on 16 streams of 4 slots, where LB asks ≈ 9 requests a slot and
   * slot shares of 2 + 1 slots end 1.2 × LB.
   */
  const tenant = Array.from({ length: 24 }, (_, i) =>
    mailbox(
      `m${String(i).padStart(2, "0")}`,
      Array.from({ length: 13 + (i % 6) + (i === 0 ? 8 : 0) }, (_, f) => (f % 4 === 0 ? 25 : 5)),
      { read: "p" },
    ),
  );

  it("packs by whole rounds: no stream holds more of the fewest requests than 4 slots make in R rounds", () => {
    // The tenant above with folders of 20 and 5 items: Σ fewest 563, R = ⌈563 / 64⌉ = 9. Packed
    // by slot-seconds alone a stream held 37 of the fewest (a 10th round): the
    // export fractions (items / 20 a folder) add up below what the stack makes whole.
    const byRounds = Array.from({ length: 24 }, (_, i) =>
      mailbox(
        `r${String(i).padStart(2, "0")}`,
        Array.from({ length: 13 + (i % 6) + (i === 0 ? 8 : 0) }, (_, f) => (f % 4 === 0 ? 20 : 5)),
        { read: "p" },
      ),
    );
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: byRounds, limits });
    expect(plan.streamBins).toBe(true);
    const items = new Map(
      byRounds.flatMap((m) => m.folders.map((f) => [f.folderId, f.totalItemCount] as const)),
    );
    // A unit's fewest requests: its pages and ⌈its items / 20⌉ exports (one mailbox, read `p`).
    const fewest = (folderIds: readonly string[]) => {
      const all = folderIds.map((id) => items.get(id)!);
      return (
        all.reduce((sum, n) => sum + Math.max(1, Math.ceil(n / resolved.pageSize)), 0) +
        Math.ceil(all.reduce((sum, n) => sum + n, 0) / resolved.exportBatchSize)
      );
    };
    const wholeFewest = byRounds.reduce((sum, m) => sum + fewest(m.folders.map((f) => f.folderId)), 0);
    expect(wholeFewest).toBe(563);
    const rounds = Math.ceil(wholeFewest / (16 * 4));
    const dealt = dealStartUnits(
      plan.units.map((u) => u.concurrency),
      plan.streams,
      plan.streamSlots,
    );
    expect(plan.streams).toBe(16);
    for (const units of dealt) {
      expect(units.reduce((sum, i) => sum + fewest(plan.units[i]!.folderIds), 0)).toBeLessThanOrEqual(
        4 * rounds,
      );
      // A piece: the slots that make its fewest in R rounds.
      for (const i of units) {
        const u = plan.units[i]!;
        if (u.maxConcurrency === undefined && u.concurrency < 4) {
          expect(u.concurrency).toBe(Math.ceil(fewest(u.folderIds) / rounds));
        }
      }
    }
  });

  it("packs the mailboxes into the streams, every unit a start unit, when that ends sooner", () => {
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: tenant, limits });
    const before = planJob({ mailboxes: tenant, limits: { ...limits, streamBins: false } });
    expect(plan.streamBins).toBe(true);
    expect(before.streamBins).toBeUndefined();
    expect(before.units.some((u) => u.maxConcurrency !== undefined)).toBe(false);
    // Model: within 8 % of LB, where the slot shares' plan is over 15 %.
    expect(plan.predictedMakespanSeconds).toBeLessThanOrEqual(plan.lowerBoundSeconds * 1.08);
    expect(before.predictedMakespanSeconds).toBeGreaterThan(before.lowerBoundSeconds * 1.15);
    expect(plan.predictedMakespanSeconds).toBe(
      simulateSchedule(plan.units, plan.streams, resolved).makespanSeconds,
    );
    // The job's start deals every unit to a stream (lib/backup/start-units.ts): none is left to
    // a later claim, and every stream's shares fill its 4 slots.
    const dealt = dealStartUnits(
      plan.units.map((u) => u.concurrency),
      plan.streams,
      plan.streamSlots,
    );
    expect(dealt.flat().sort((a, b) => a - b)).toEqual(plan.units.map((u) => u.index));
    for (const units of dealt) {
      expect(units.reduce((sum, i) => sum + plan.units[i]!.concurrency, 0)).toBe(4);
      expect(units.length).toBeLessThanOrEqual(4);
    }
    for (const m of tenant) {
      const units = plan.units.filter((u) => u.mailboxId === m.mailboxId);
      expect(units.flatMap((u) => u.folderIds).sort()).toEqual(m.folders.map((f) => f.folderId).sort());
      // A mailbox's units run at once: their shares never more than its C; only a mailbox's only
      // unit may borrow, up to C.
      expect(units.reduce((sum, u) => sum + u.concurrency, 0)).toBeLessThanOrEqual(4);
      if (units.length > 1) expect(units.every((u) => u.maxConcurrency === undefined)).toBe(true);
      for (const u of units) if (u.maxConcurrency !== undefined) expect(u.maxConcurrency).toBe(4);
    }
    expect(plan.units.some((u) => u.maxConcurrency === 4)).toBe(true);
    expect(plan.totalCost).toBeCloseTo(before.totalCost, 9);
  });

  it("packs nothing when whole units reach the bound, without slot shares, or when it is off", () => {
    const equal = Array.from({ length: 16 }, (_, i) =>
      mailbox(`e${i}`, new Array(20).fill(6), { read: "p" }),
    );
    expect(planJob({ mailboxes: equal, limits }).streamBins).toBeUndefined();
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, slotShares: false } }).streamBins,
    ).toBeUndefined();
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, streamBins: false } }).streamBins,
    ).toBeUndefined();
    expect(planJob({ mailboxes: tenant, limits: { ...limits, streamBins: undefined } }).streamBins).toBe(
      true,
    );
    expect(() => resolvePlanLimits({ streamBins: 1 as unknown as boolean })).toThrow(
      /plan\.streamBins: expected true or false, found 1/,
    );
  });
});

describe("shareMailbox", () => {
  const limits = resolvePlanLimits({ ...base, unitOverheadSeconds: 0 });
  const folder = (id: string, requests: number) => ({
    folderId: id,
    work: { requests, serialSeconds: requests * limits.requestLatencySeconds },
  });

  it("cuts 3 slots into groups of 2 and 1 that end together", () => {
    const folders = ["a", "b", "c", "d", "e", "f"].map((id, i) => folder(id, 10 + i));
    const split = shareMailbox(folders, 3, limits)!;
    expect(split.groups.map((g) => g.concurrency)).toEqual([2, 1]);
    const [two, one] = split.groups.map((g) => g.work.serialSeconds / g.concurrency!);
    expect(Math.abs(two! - one!)).toBeLessThanOrEqual(folders[5]!.work.serialSeconds);
    expect(split.groups.flatMap((g) => g.folderIds).sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("keeps one folder whole on its share, and gives nothing for a whole stream or a budget-bound mailbox", () => {
    expect(shareMailbox([folder("a", 30)], 3, limits)?.groups).toEqual([
      { folderIds: ["a"], work: folder("a", 30).work, concurrency: 3 },
    ]);
    expect(shareMailbox([folder("a", 30), folder("b", 30)], 4, limits)).toBeUndefined();
    expect(shareMailbox([folder("a", 10_001)], 2, limits)).toBeUndefined();
  });
});

describe("planJob: tail fillers", () => {
  const limits = {
    ...base,
    requestLatencySeconds: 0.4,
    unitOverheadSeconds: 0.05,
    maxStreams: 16,
    tailFillers: true,
    // Longest first without fillers, so that the comparison is the fillers' alone.
    balancedOrder: false,
    // Slot packing would lay these mailboxes out along the slots instead (its own tests below),
    // and stream bins pack them into the streams (theirs too).
    slotPacking: false,
    streamBins: false,
  };
  const tenant = manySmallScaledDown;

  it("cuts the last mailboxes into a main unit in place and a filler after every unit, when that is faster", () => {
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: tenant, limits });
    const without = planJob({ mailboxes: tenant, limits: { ...limits, tailFillers: false } });
    expect(without.tailFillers).toBeUndefined();
    expect(without.units).toHaveLength(40);
    const fillers = plan.tailFillers ?? 0;
    expect(fillers).toBeGreaterThan(0);
    // 5.43 s without, 4.79 s with, against LB 4.53 s.
    expect(plan.predictedMakespanSeconds).toBeLessThan(without.predictedMakespanSeconds * 0.95);
    expect(plan.predictedMakespanSeconds).toBe(
      simulateSchedule(plan.units, plan.streams, resolved).makespanSeconds,
    );
    const tail = plan.units.slice(plan.units.length - fillers);
    const head = plan.units.slice(0, plan.units.length - fillers);
    for (const filler of tail) {
      const main = head.filter((u) => u.mailboxId === filler.mailboxId);
      expect(main).toHaveLength(1);
      expect([main[0]!.kind, filler.kind]).toEqual(["folders", "folders"]);
      expect([main[0]!.concurrency, filler.concurrency]).toEqual([2, 2]);
      // The filler holds the smaller part; both together are the whole mailbox.
      expect(filler.serialSeconds).toBeLessThan(main[0]!.serialSeconds);
      const m = tenant.find((t) => t.mailboxId === filler.mailboxId)!;
      expect([...main[0]!.folderIds, ...filler.folderIds].sort()).toEqual(
        m.folders.map((f) => f.folderId).sort(),
      );
    }
    // The fillers are the last units claimed, longest first.
    tail.forEach((u, i) => {
      if (i > 0) expect(u.estimatedSeconds).toBeLessThanOrEqual(tail[i - 1]!.estimatedSeconds);
    });
    expect(plan.totalCost).toBeCloseTo(without.totalCost, 9);
  });

  it("plans no fillers by default, when whole units reach the bound, or without slot shares", () => {
    expect(planJob({ mailboxes: tenant, limits: { ...limits, tailFillers: undefined } }).units).toHaveLength(
      40,
    );
    const equal = Array.from({ length: 16 }, (_, i) =>
      mailbox(`e${i}`, new Array(20).fill(6), { read: "p" }),
    );
    expect(planJob({ mailboxes: equal, limits }).tailFillers).toBeUndefined();
    expect(planJob({ mailboxes: tenant, limits: { ...limits, slotShares: false } }).units).toHaveLength(40);
    expect(() => resolvePlanLimits({ tailFillers: 1 as unknown as boolean })).toThrow(
      /plan\.tailFillers: expected true or false, found 1/,
    );
  });
});

describe("cutFiller", () => {
  const limits = resolvePlanLimits({ ...base, unitOverheadSeconds: 0 });
  const folder = (id: string, requests: number) => ({
    folderId: id,
    work: { requests, serialSeconds: requests * limits.requestLatencySeconds },
  });

  it("gives the filler the smallest folders up to the fraction of the time, and half the slots", () => {
    const folders = [folder("a", 10), folder("b", 1), folder("c", 6), folder("d", 2), folder("e", 1)];
    // 20 requests: a quarter is 5, so b, e (1 each) and d (2) go; c (6 more) would pass it.
    const cut = cutFiller(folders, 0.25, limits)!;
    expect(cut.filler.folderIds).toEqual(["b", "d", "e"]);
    expect(cut.main.folderIds).toEqual(["a", "c"]);
    expect([cut.main.concurrency, cut.filler.concurrency]).toEqual([2, 2]);
    expect(cut.main.work.requests + cut.filler.work.requests).toBe(20);
    // At least one folder, even one above the fraction; never all of them.
    expect(cutFiller([folder("a", 10), folder("b", 9)], 0.1, limits)?.filler.folderIds).toEqual(["b"]);
  });

  it("cuts nothing of one folder, on streams of one slot, or of a mailbox that may be budget-bound", () => {
    expect(cutFiller([folder("a", 10)], 0.25, limits)).toBeUndefined();
    const one = resolvePlanLimits({ ...base, perMailboxConcurrency: 1 });
    expect(cutFiller([folder("a", 10), folder("b", 1)], 0.25, one)).toBeUndefined();
    expect(cutFiller([folder("a", 10_000), folder("b", 1)], 0.25, limits)).toBeUndefined();
    // Three slots a stream: 2 for the main unit, 1 for the filler.
    const three = resolvePlanLimits({ ...base, perMailboxConcurrency: 3 });
    const cut = cutFiller([folder("a", 10), folder("b", 1)], 0.25, three)!;
    expect([cut.main.concurrency, cut.filler.concurrency]).toEqual([2, 1]);
  });
});

describe("planJob: balanced start order", () => {
  // Without slot packing, which would lay these mailboxes out along the slots, nor stream bins,
  // which would pack them into the streams (their own tests below).
  const limits = {
    ...base,
    requestLatencySeconds: 0.4,
    unitOverheadSeconds: 0.05,
    maxStreams: 16,
    slotPacking: false,
    streamBins: false,
  };
  const tenant = manySmallScaledDown;

  it("orders whole units by their start in a balanced assignment when that ends sooner than longest first", () => {
    const resolved = resolvePlanLimits(limits);
    const plan = planJob({ mailboxes: tenant, limits });
    const lpt = planJob({ mailboxes: tenant, limits: { ...limits, balancedOrder: false } });
    expect(plan.startOrdered).toBe(true);
    expect(lpt.startOrdered).toBeUndefined();
    // 5.43 s longest first, 5.01 s balanced, against LB 4.53 s; the same 40 whole units.
    expect(plan.predictedMakespanSeconds).toBeLessThan(lpt.predictedMakespanSeconds * 0.95);
    expect(plan.predictedMakespanSeconds).toBe(
      simulateSchedule(plan.units, plan.streams, resolved).makespanSeconds,
    );
    const key = (u: { mailboxId: string; folderIds: string[]; concurrency: number }) =>
      `${u.mailboxId} ${u.folderIds.join(",")} ${u.concurrency}`;
    expect(plan.units.map(key).sort()).toEqual(lpt.units.map(key).sort());
    expect(plan.units.map((u) => u.index)).toEqual(plan.units.map((_, i) => i));
    // Each mailbox's units are listed under its plan.
    for (const m of plan.perMailbox)
      for (const i of m.unitIndexes) expect(plan.units[i]!.mailboxId).toBe(m.mailboxId);
    expect(() => resolvePlanLimits({ balancedOrder: "no" as unknown as boolean })).toThrow(
      /plan\.balancedOrder: expected true or false, found no/,
    );
  });

  it("keeps longest first where it reaches the bound, or when a stream runs several units at once", () => {
    const equal = Array.from({ length: 32 }, (_, i) =>
      mailbox(`e${i}`, new Array(20).fill(6), { read: "p" }),
    );
    expect(planJob({ mailboxes: equal, limits }).startOrdered).toBeUndefined();
    // The balanced assignment is one of whole streams: with 2 units a stream it does not apply.
    expect(
      planJob({ mailboxes: tenant, limits: { ...limits, unitsPerStream: 2 } }).startOrdered,
    ).toBeUndefined();
  });
});

describe("balanceStreams and startOrder", () => {
  it("swaps a unit off the fullest stream where longest first leaves it a unit over", () => {
    // Longest first: 3 + 2 + 2 = 7 and 3 + 2 = 5; balanced: 3 + 3 and 2 + 2 + 2.
    const seconds = [3, 3, 2, 2, 2];
    const bins = balanceStreams(seconds, 2);
    expect(bins.map((b) => b.reduce((s, i) => s + seconds[i]!, 0)).sort()).toEqual([6, 6]);
    expect(bins.flat().sort()).toEqual([0, 1, 2, 3, 4]);
    // By start: both streams' first units at 0 (longer first), then 2, 3, 4.
    const order = startOrder(seconds, bins);
    expect(order.map((i) => seconds[i])).toEqual([3, 2, 2, 3, 2]);
    // Pulled in that order by 2 streams of 4 slots (each unit on all 4), they end at 6 s, not 7.
    const units = order.map((i, index) => ({
      index,
      mailboxId: `m${i}`,
      cost: seconds[i]!,
      serialSeconds: 4 * seconds[i]!,
      concurrency: 4,
    }));
    const limits = resolvePlanLimits({ requestLatencySeconds: 1, unitOverheadSeconds: 0 });
    expect(simulateSchedule(units, 2, limits).makespanSeconds).toBeCloseTo(6, 9);
  });
});
