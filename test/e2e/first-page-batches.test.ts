/**
 * First item delta pages in `$batch`es end to end (controller.firstPageBatch, default 4): a
 * tenant of many small folders is backed up with most first pages riding in batches (fewer HTTP
 * exchanges than requests), never more than a mailbox's 4 requests in flight (the simulator
 * answers 429 to a fifth), folders with more than a page going on alone after their batched first
 * page; with inner 429s injected the throttled pages are fetched again alone; the archive equals
 * the ground truth, and the units' request counts (inner requests each) equal those of the same
 * backup without batches.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compareAll } from "../../lib/dev/local/archive-truth.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant } from "../../lib/dev/sim/index.js";
import { loadTestCa } from "../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 100_000 };
const TEST_TIMEOUT = 150_000;
const PAGE_SIZE = 10;

/** What the simulator served for a job: requests (inner ones each), HTTP exchanges, batches, 429s. */
function served(stack: LocalStack) {
  const { graph, mailboxes } = stack.sim.stats();
  return {
    requests: graph.requests,
    exchanges: graph.requests - graph.batchedRequests,
    batches: graph.batches,
    batched: graph.batchedRequests,
    throttled: graph.throttled,
    maxInFlight: Math.max(...Object.values(mailboxes).map((m) => m.maxInFlight)),
  };
}

async function backup(firstPageBatch: number, inject429s: number) {
  const dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-first-pages-"));
  // Mailboxes of a few dozen items over their folders: most folders fit one page of 10, some not.
  const store = generateTenant({
    seed: 1515,
    shape: "uniform",
    mailboxes: 4,
    totalMessages: 240,
    archiveFraction: 0,
    unlicensedFraction: 0,
  });
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 2,
      latency: { baseMs: 30 },
      env: { MAILSTREAM_PAGE_SIZE: String(PAGE_SIZE), MAILSTREAM_FIRST_PAGE_BATCH: String(firstPageBatch) },
    });
    const truth = await store.groundTruth();
    const multiPage = truth.mailboxes.flatMap((m) => m.folders).filter((f) => f.messages.length > PAGE_SIZE);
    expect(multiPage.length).toBeGreaterThan(0);
    // Discovery's requests are its own: the backup's are counted from the job's start on.
    if (inject429s > 0)
      stack.sim.faults.serverError({
        status: 429,
        count: inject429s,
        pathPattern: "/items/delta$",
        retryAfterSeconds: 1,
      });
    stack.sim.resetStats();
    const { report } = await stack.runJob(WAIT);
    const counts = served(stack);
    const { archived, expected } = await compareAll(stack.app.archive.store, truth);
    return {
      report,
      /** Folders the units read (every kind: mail, calendar, contacts, …). */
      folders: report.plan.units.reduce((n, u) => n + u.folderIds.length, 0),
      counts,
      archived,
      expected,
      unitRequests: report.units.reduce((n, u) => n + (u.requests ?? 0), 0),
    };
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("first item delta pages in $batches", () => {
  let alone: Awaited<ReturnType<typeof backup>>;
  beforeAll(async () => {
    alone = await backup(1, 0);
  }, TEST_TIMEOUT);

  it(
    "backs up the tenant as without batches, in fewer HTTP exchanges, within each mailbox's 4 requests",
    async () => {
      expect(alone.report.status).toBe("complete");
      expect(alone.archived).toEqual(alone.expected);
      // Without first-page batches only discovery batches (its probes and mailbox ids).
      const discovery = { batches: alone.counts.batches, batched: alone.counts.batched };

      const batched = await backup(4, 0);
      expect(batched.report.status).toBe("complete");
      expect(batched.archived).toEqual(batched.expected);
      const pageBatches = batched.counts.batches - discovery.batches;
      const batchedPages = batched.counts.batched - discovery.batched;
      expect(pageBatches).toBeGreaterThan(0);
      // Batches of 2–4 first pages, each folder's first page in one at most.
      expect(batchedPages).toBeGreaterThanOrEqual(2 * pageBatches);
      expect(batchedPages).toBeLessThanOrEqual(4 * pageBatches);
      expect(batchedPages).toBeLessThanOrEqual(batched.folders);
      // Each batch of k saved k - 1 exchanges (export batching, timing-dependent, moves a few).
      expect(batched.counts.exchanges).toBeLessThan(
        alone.counts.exchanges - (batchedPages - pageBatches) / 2,
      );
      // None refused, never over a mailbox's 4 at once; the units count their inner requests
      // (about as many as alone: exports fill up as timing allows).
      expect(batched.counts.throttled).toBe(0);
      expect(batched.counts.maxInFlight).toBeLessThanOrEqual(4);
      expect(batched.unitRequests).toBeGreaterThanOrEqual(batchedPages);
      expect(Math.abs(batched.unitRequests - alone.unitRequests)).toBeLessThanOrEqual(
        alone.unitRequests * 0.1,
      );
    },
    TEST_TIMEOUT,
  );

  it(
    "fetches inner 429s again alone after their Retry-After: the archive still equals the ground truth",
    async () => {
      const throttled = await backup(4, 6);
      expect(throttled.report.status).toBe("complete");
      expect(throttled.archived).toEqual(throttled.expected);
      expect(throttled.counts.batches).toBeGreaterThan(0);
      expect(throttled.counts.throttled).toBeGreaterThanOrEqual(6);
      // The units saw every 429 (inner ones included) and asked each throttled page again.
      expect(throttled.report.units.reduce((n, u) => n + (u.throttled ?? 0), 0)).toBe(
        throttled.counts.throttled,
      );
      expect(throttled.unitRequests).toBeGreaterThanOrEqual(
        alone.unitRequests * 0.9 + throttled.counts.throttled,
      );
    },
    TEST_TIMEOUT,
  );
});
