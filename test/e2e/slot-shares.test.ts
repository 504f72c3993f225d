/**
 * Planned slot shares end to end: a tenant whose whole-mailbox units would leave streams idle
 * (5 equal mailboxes on 4 streams) is planned with each mailbox on 3 of a stream's 4 slots, cut
 * into a 2-slot and a 1-slot folder group; the streams run those units side by side and the
 * groups of one mailbox at once, never more than the mailbox's 4 requests in flight (the
 * simulator counts them, and answers 429 to a fifth), and the archive equals the ground truth.
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
/** Discovery's requests for one mailbox of this tenant, at most: probe, ids, folder tree pages. */
const DISCOVERY_REQUESTS_PER_MAILBOX = 8;

describe("planned slot shares: a mailbox's folder groups at once, within its 4 requests", () => {
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
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-shares-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 4,
      // The planner's latency (default 0.25 s) is the simulator's, so its plan is what runs.
      latency: { baseMs: 250 },
      env: { MAILSTREAM_PAGE_SIZE: "25" },
      // Slot shares as such: stream bins would pack these mailboxes instead (test/e2e/stream-bins.test.ts).
      planLimits: { streamBins: false },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "backs up the tenant with split mailboxes whose units ran at once, never over 4 in flight",
    async () => {
      const { report } = await stack!.runJob(WAIT);
      expect(report.status).toBe("complete");

      // The plan: every mailbox within its C; some cut into units that share it.
      const byMailbox = new Map<string, Array<(typeof report.plan.units)[number]>>();
      for (const u of report.plan.units)
        byMailbox.set(u.mailboxId, [...(byMailbox.get(u.mailboxId) ?? []), u]);
      for (const units of byMailbox.values()) {
        expect(units.reduce((n, u) => n + u.concurrency, 0)).toBeLessThanOrEqual(4);
      }
      const split = [...byMailbox.entries()].filter(([, units]) => units.length > 1);
      expect(split.length).toBeGreaterThan(0);
      expect(report.plan.units.some((u) => u.concurrency < 4)).toBe(true);

      // A split mailbox's units ran at once (each unit lasts seconds at 250 ms per request; the
      // streams claim all 10 units, 15 of their 16 slots, within their first state round trips).
      const ran = new Map(report.units.map((u) => [u.index, u]));
      const overlapping = split.filter(([, units]) => {
        const [a, b] = units.map((u) => ran.get(u.index)!);
        return (
          Date.parse(a!.startedAt!) < Date.parse(b!.endedAt!) &&
          Date.parse(b!.startedAt!) < Date.parse(a!.endedAt!)
        );
      });
      expect(overlapping.length).toBeGreaterThan(0);
      // Streams ran units side by side: a stream held three at once (2 + 1 + 1 slots), where
      // whole units (and the lookahead of a unit's tail) hold two at most.
      const mostAtOnce = Math.max(
        ...report.units.map((u) => {
          const at = Date.parse(u.startedAt!);
          return report.units.filter(
            (v) => v.streamId === u.streamId && Date.parse(v.startedAt!) <= at && at < Date.parse(v.endedAt!),
          ).length;
        }),
      );
      expect(mostAtOnce).toBeGreaterThanOrEqual(3);

      // Never more than the mailbox's 4 requests in flight, and no request refused for it.
      const stats = stack!.sim.stats();
      for (const [mailboxId] of byMailbox) {
        const served = stats.mailboxes[mailboxId];
        expect(served?.maxInFlight).toBeGreaterThan(0);
        expect(served!.maxInFlight).toBeLessThanOrEqual(4);
        expect(served!.throttled).toBe(0);
      }
      for (const [mailboxId] of overlapping)
        expect(stats.mailboxes[mailboxId]!.maxInFlight).toBeGreaterThan(2);

      // Each unit reports the requests it sent, not its mailbox's: the units of a mailbox add up to
      // what the simulator served for it less discovery's few (probe, ids, folder listing), where
      // units that ran at once used to count each other's requests too (more than was served).
      for (const [mailboxId] of byMailbox) {
        const made = report.units
          .filter((u) => u.mailboxId === mailboxId)
          .reduce((n, u) => n + (u.requests ?? 0), 0);
        const served = stats.mailboxes[mailboxId]!.requests;
        expect(made).toBeGreaterThan(0);
        expect(made).toBeLessThanOrEqual(served);
        expect(served - made).toBeLessThanOrEqual(DISCOVERY_REQUESTS_PER_MAILBOX);
      }

      const { archived, expected } = await compareAll(stack!.app.archive.store, await store.groundTruth());
      expect(archived).toEqual(expected);
    },
    TEST_TIMEOUT,
  );
});
