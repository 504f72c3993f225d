import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../lib/errors.js";
import {
  budgetRate,
  folderWork,
  lowerBound,
  mailboxWork,
  minimumWorkSeconds,
  type PlanFolder,
  resolvePlanLimits,
  workSeconds,
} from "../../../lib/plan/index.js";

const limits = resolvePlanLimits({ requestLatencySeconds: 0.25, perByteSeconds: 1e-6, pageSize: 100 });

function folder(overrides: Partial<PlanFolder>): PlanFolder {
  return {
    folderId: "f",
    path: "Inbox",
    totalItemCount: 0,
    hasSyncState: false,
    isSearchFolder: false,
    ...overrides,
  };
}

describe("folderWork", () => {
  it("costs a full pass as one GET per item and its delta pages, the last one carrying the delta link", () => {
    const work = folderWork(folder({ totalItemCount: 250, sizeBytes: 1_000_000 }), limits);
    expect(work.requests).toBe(250 + 3);
    expect(work.serialSeconds).toBeCloseTo(253 * 0.25 + 1_000_000 * 1e-6, 9);
    // A page-size multiple needs no page more: the last full page carries the link.
    expect(folderWork(folder({ totalItemCount: 200 }), limits).requests).toBe(200 + 2);
  });

  it("costs an empty folder one request", () => {
    expect(folderWork(folder({ totalItemCount: 0 }), limits).requests).toBe(1);
  });

  it("costs an incremental pass by the change ratio, with bytes in proportion", () => {
    const work = folderWork(
      folder({ totalItemCount: 1000, sizeBytes: 1_000_000, hasSyncState: true }),
      limits,
    );
    // ceil(0.02 × 1000) = 20 changed items on one page.
    expect(work.requests).toBe(21);
    expect(work.serialSeconds).toBeCloseTo(21 * 0.25 + 20_000 * 1e-6, 9);
  });

  it("prefers the folder's own change estimate; unchanged costs one request", () => {
    const synced = folder({ totalItemCount: 5000, hasSyncState: true });
    expect(folderWork({ ...synced, estimatedChangedItems: 0 }, limits).requests).toBe(1);
    expect(folderWork({ ...synced, estimatedChangedItems: 150 }, limits).requests).toBe(150 + 2);
    // Without a sync state the estimate is irrelevant: a full pass.
    expect(folderWork({ ...synced, hasSyncState: false, estimatedChangedItems: 0 }, limits).requests).toBe(
      5050,
    );
  });

  it("costs a search folder nothing, whatever it reports", () => {
    expect(folderWork(folder({ totalItemCount: 9999, isSearchFolder: true }), limits)).toEqual({
      requests: 0,
      serialSeconds: 0,
    });
  });
});

describe("mailboxWork", () => {
  it("is its non-search folders' work: discovery is the coordinator's, no unit's", () => {
    const work = mailboxWork(
      {
        mailboxId: "m",
        address: "a@b.test",
        folders: [
          folder({ folderId: "a", totalItemCount: 10 }),
          folder({ folderId: "b", totalItemCount: 100 }),
          folder({ folderId: "s", totalItemCount: 50, isSearchFolder: true }),
        ],
      },
      limits,
    );
    expect(work.requests).toBe(10 + 1 + (100 + 1));
  });
});

describe("workSeconds and minimumWorkSeconds", () => {
  const fast = resolvePlanLimits({ requestLatencySeconds: 0.01, perByteSeconds: 0 });

  it("is concurrency-bound below the allowance or below the budget rate", () => {
    expect(workSeconds({ requests: 8000, serialSeconds: 80 }, 4, 1, fast)).toBeCloseTo(20, 9);
    // 0.5 s per request at 4 slots = 8 requests/s < 16.7: the budget never binds.
    expect(workSeconds({ requests: 50_000, serialSeconds: 25_000 }, 4, 1, fast)).toBeCloseTo(6250, 9);
  });

  it("bursts through the first window's allowance, then runs at B / W", () => {
    const work = { requests: 30_000, serialSeconds: 300 };
    const expected = 10_000 / 400 + 20_000 / budgetRate(fast);
    expect(workSeconds(work, 4, 1, fast)).toBeCloseTo(expected, 9);
    expect(minimumWorkSeconds(work, 4, fast)).toBeCloseTo(expected, 9);
    // Half the budget and allowance: 5,000 at 200/s, then 25,000 at half the rate.
    expect(workSeconds(work, 2, 0.5, fast)).toBeCloseTo(5000 / 200 + 25_000 / (budgetRate(fast) / 2), 9);
  });

  it("counts whole budget windows: 1.1 windows' requests need the second window", () => {
    // 11,000 requests at 400/s: 10,000 in the first window, the last 1,000 only after W.
    const work = { requests: 11_000, serialSeconds: 110 };
    const windowed = fast.windowSeconds + 1000 / 400;
    expect(minimumWorkSeconds(work, 4, fast)).toBeCloseTo(windowed, 9);
    expect(workSeconds(work, 4, 1, fast)).toBeCloseTo(windowed, 9);
    // The fluid model (burst, then B / W) would promise less than any client can reach.
    expect(10_000 / 400 + 1000 / budgetRate(fast)).toBeLessThan(windowed);
    // Half the budget: 5,000 per window, so three windows.
    expect(workSeconds(work, 2, 0.5, fast)).toBeCloseTo(2 * fast.windowSeconds + 1000 / 200, 9);
  });

  it("never exceeds the unit estimate (bytes only slow a unit down)", () => {
    const work = { requests: 30_000, serialSeconds: 900 };
    expect(minimumWorkSeconds(work, 4, fast)).toBeLessThanOrEqual(workSeconds(work, 4, 1, fast));
  });
});

describe("lowerBound", () => {
  const fast = resolvePlanLimits({ requestLatencySeconds: 0.01, perByteSeconds: 0 });
  const big = { requests: 30_000, serialSeconds: 300 };
  const bigSeconds = 10_000 / 400 + 20_000 / budgetRate(fast);

  it("is the largest mailbox's time when streams are plenty", () => {
    expect(lowerBound([big, { requests: 100, serialSeconds: 1 }], 8, fast)).toBeCloseTo(bigSeconds, 9);
  });

  it("is the stream time over N when streams are few", () => {
    expect(lowerBound([big, big, big], 2, fast)).toBeCloseTo((3 * bigSeconds) / 2, 9);
  });

  it("counts stream time at the per-stream concurrency", () => {
    const oneSlot = resolvePlanLimits({
      requestLatencySeconds: 0.5,
      perByteSeconds: 0,
      perStreamConcurrency: 1,
    });
    const work = { requests: 1000, serialSeconds: 500 };
    // Mailbox term: 500 / 4 = 125 s; stream term: 2 × 500 / 1 / 4 streams = 250 s.
    expect(lowerBound([work, work], 4, oneSlot)).toBeCloseTo(250, 9);
    expect(lowerBound([work, work], 100, oneSlot)).toBeCloseTo(125, 9);
  });

  it("is 0 for no mailboxes and refuses no streams", () => {
    expect(lowerBound([], 4, fast)).toBe(0);
    expect(() => lowerBound([big], 0, fast)).toThrow(RangeError);
  });
});

describe("resolvePlanLimits", () => {
  it("fills defaults; the per-stream concurrency follows the mailbox's", () => {
    const resolved = resolvePlanLimits({ perMailboxConcurrency: 2 });
    expect(resolved.perStreamConcurrency).toBe(2);
    expect(resolved.budgetPerWindow).toBe(10_000);
    expect(resolved.windowSeconds).toBe(600);
  });

  it("names the field, the expectation and the value", () => {
    expect(() => resolvePlanLimits({ perMailboxConcurrency: 4, perStreamConcurrency: 5 })).toThrow(
      /plan\.perStreamConcurrency: expected an integer 1–perMailboxConcurrency \(4\), found 5/,
    );
    expect(() => resolvePlanLimits({ maxStreams: 0 })).toThrow(ConfigError);
    expect(() => resolvePlanLimits({ requestLatencySeconds: 0 })).toThrow(/plan\.requestLatencySeconds/);
    expect(() => resolvePlanLimits({ changeRatio: 1.5 })).toThrow(/plan\.changeRatio/);
    expect(() => resolvePlanLimits({ pageSize: Number.NaN })).toThrow(/plan\.pageSize/);
  });
});
