/**
 * Stream bins end to end: the tenant of the slot shares' test (5 equal mailboxes on 4 streams),
 * planned as bins: every unit a start unit, each stream's whole mailbox borrowing the slots its
 * other units leave (`maxConcurrency`). The streams start every unit at once, a whole mailbox runs
 * more requests than its share while its stream has slots free, no mailbox ever more than its 4
 * (the simulator counts them, and answers 429 to a fifth), and the archive equals the ground truth.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareAll } from "../../lib/dev/local/archive-truth.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant } from "../../lib/dev/sim/index.js";
import { loadTestCa } from "../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 100_000 };
const TEST_TIMEOUT = 180_000;

describe("stream bins: every unit at the start, whole mailboxes borrowing free slots, within their 4 requests", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  const store = generateTenant({
    seed: 1212,
    shape: "uniform",
    mailboxes: 5,
    totalMessages: 300,
    archiveFraction: 0,
    unlicensedFraction: 0,
    sharedFraction: 0,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-bins-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 4,
      // The planner's latency (default 0.25 s) is the simulator's, so its plan is what runs.
      latency: { baseMs: 250 },
      env: { MAILSTREAM_PAGE_SIZE: "25" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "backs up the tenant with its units started together and whole mailboxes over their share, never over 4 in flight",
    async () => {
      const { report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");

      const byMailbox = new Map<string, Array<(typeof report.plan.units)[number]>>();
      for (const u of report.plan.units)
        byMailbox.set(u.mailboxId, [...(byMailbox.get(u.mailboxId) ?? []), u]);
      for (const units of byMailbox.values()) {
        expect(units.reduce((n, u) => n + u.concurrency, 0)).toBeLessThanOrEqual(4);
      }
      // Bins: one stream a bin, each stream's shares filling its 4 slots, every unit dealt at the start.
      const streams = new Set(report.units.map((u) => u.streamId));
      expect(streams.size).toBe(4);
      for (const stream of streams) {
        const held = report.plan.units.filter(
          (p) => report.units.find((u) => u.index === p.index)?.streamId === stream,
        );
        expect(held.reduce((n, u) => n + u.concurrency, 0)).toBe(4);
      }
      const starts = report.units.map((u) => Date.parse(u.startedAt!));
      // All units started within the first state round trips, long before the first ends
      // (each lasts seconds at 250 ms a request).
      const firstEnd = Math.min(...report.units.map((u) => Date.parse(u.endedAt!)));
      expect(Math.max(...starts)).toBeLessThan(firstEnd);

      // A whole mailbox on fewer than 4 slots ran more requests at once than its share: it borrowed.
      const stats = stack!.sim.stats();
      const borrowers = [...byMailbox.values()].filter(
        (units) => units.length === 1 && units[0]!.concurrency < 4,
      );
      expect(borrowers.length).toBeGreaterThan(0);
      expect(
        borrowers.some((units) => stats.mailboxes[units[0]!.mailboxId]!.maxInFlight > units[0]!.concurrency),
      ).toBe(true);
      // Never more than the mailbox's 4 requests in flight, and no request refused for it.
      for (const [mailboxId] of byMailbox) {
        const served = stats.mailboxes[mailboxId];
        expect(served!.maxInFlight).toBeLessThanOrEqual(4);
        expect(served!.throttled).toBe(0);
      }

      const { archived, expected } = await compareAll(stack!.app.archive.store, await store.groundTruth());
      expect(archived).toEqual(expected);
    },
    TEST_TIMEOUT,
  );
});
