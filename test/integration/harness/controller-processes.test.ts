/**
 * The local stack's controllers in child processes (`controllerProcesses`): a job backed up by
 * two controller processes, each polling the stream queue with its share of the streams, stores
 * the tenant as the ground truth has it; the children's log lines reach the stack's logger, their
 * state requests come back when they stop, and nothing of them outlives `stop()`. A pool's
 * children serve one stack after another in the same processes and end at the pool's close.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../../../lib/app/logger.js";
import { compareAll } from "../../../lib/dev/local/archive-truth.js";
import { AwsMeter } from "../../../lib/dev/local/aws-meter.js";
import {
  ControllerProcessPool,
  concurrencyShares,
  inheritedHeapFlags,
} from "../../../lib/dev/local/controllers.js";
import { startEmulators } from "../../../lib/dev/local/emulators.js";
import { processAlive } from "../../../lib/dev/local/process-alive.js";
import { type LocalStack, startLocalServices, startLocalStack } from "../../../lib/dev/local/stack.js";
import { generateTenant } from "../../../lib/dev/sim/index.js";
import { loadTestCa } from "../../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 90_000 };

describe("concurrencyShares", () => {
  it("splits the streams as evenly as can be, the first shares one more", () => {
    expect(concurrencyShares(16, 2)).toEqual([8, 8]);
    expect(concurrencyShares(10, 4)).toEqual([3, 3, 2, 2]);
    expect(concurrencyShares(3, 3)).toEqual([1, 1, 1]);
  });

  it("refuses more processes than streams, or none", () => {
    expect(() => concurrencyShares(4, 5)).toThrow(/expected an integer 1–4 \(the streams\), found 5/);
    expect(() => concurrencyShares(4, 0)).toThrow(/found 0/);
  });
});

describe("inheritedHeapFlags", () => {
  it("keeps the parent's heap sizing flags only", () => {
    expect(
      inheritedHeapFlags([
        "--max-semi-space-size=64",
        "--import",
        "tsx",
        "--max-old-space-size=512",
        "--cpu-prof",
      ]),
    ).toEqual(["--max-semi-space-size=64", "--max-old-space-size=512"]);
    expect(inheritedHeapFlags(["--enable-source-maps"])).toEqual([]);
  });
});

describe("controllers in two child processes", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug: () => {},
    info: (event, fields = {}) => events.push({ event, fields }),
    warn: (event, fields = {}) => events.push({ event, fields }),
    error: (event, fields = {}) => events.push({ event, fields }),
    child: () => logger,
  };
  const store = generateTenant({
    seed: 1313,
    shape: "uniform",
    mailboxes: 4,
    totalMessages: 120,
    archiveFraction: 0,
    unlicensedFraction: 0,
    sharedFraction: 0,
    itemScale: 0,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-controller-processes-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 4,
      controllerProcesses: 2,
      delegateToHarness: ["finalize"],
      countStateRequestSites: true,
      logger,
      latency: { baseMs: 5 },
      env: { MAILSTREAM_PAGE_SIZE: "25" },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("backs up the tenant whole, with the streams' work in the children", async () => {
    const s = stack!;
    const pids = s.controllerProcesses?.pids ?? [];
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(process.pid);
    for (const pid of pids) expect(processAlive(pid)).toBe(true);

    // The last stream's finalization comes here, to the app's method as wrapped now.
    const finalized: string[] = [];
    const finalize = s.app.finalize.bind(s.app);
    s.app.finalize = (jobId, remainingMs) => {
      finalized.push(jobId);
      return finalize(jobId, remainingMs);
    };
    const { jobId, report } = await s.runJob(WAIT);
    expect(finalized).toContain(jobId);
    expect(report.status).toBe("complete");
    const { archived, expected } = await compareAll(s.app.archive.store, await store.groundTruth());
    expect(archived).toEqual(expected);

    // The units ran in the children: their log lines came over IPC, one unit.end per unit.
    const unitEnds = events.filter((e) => e.event === "unit.end");
    expect(unitEnds.map((e) => e.fields.unit).sort()).toEqual(report.units.map((u) => u.index).sort());

    const figures = await s.controllerProcesses!.stopControllers();
    // Every stream task was an invocation of a child; their state requests came back at stop.
    expect(figures.invocations).toBeGreaterThanOrEqual(report.plan.streams);
    expect(figures.stateRequests.TransactWriteItemsCommand ?? 0).toBeGreaterThan(0);
    expect(Object.values(figures.stateRequests).reduce((a, b) => a + b, 0)).toBeGreaterThan(
      report.units.length,
    );
    // Stopped children have ended.
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
  }, 150_000);

  it("refuses a meter (it counts in this process) and function-valued Graph policy fields", async () => {
    const s = stack!;
    const base = {
      archive: { kind: "local" as const, path: join(dir, "refused") },
      emulators: s.emulators,
      streams: 2,
      controllerProcesses: 2,
    };
    await expect(
      startLocalServices({ ...base, resourceSuffix: "-m", meter: new AwsMeter() }, {}),
    ).rejects.toThrow(/controllerProcesses: expected 0 with a meter/);
    await expect(
      startLocalServices({ ...base, resourceSuffix: "-f", graphPolicy: { random: () => 0.5 } }, {}),
    ).rejects.toThrow(/expected data-only graphPolicy fields, found a function in "random"/);
  });
});

describe("a pool of two controller processes kept between stacks", () => {
  const store = generateTenant({
    seed: 1414,
    shape: "uniform",
    mailboxes: 3,
    totalMessages: 60,
    archiveFraction: 0,
    unlicensedFraction: 0,
    sharedFraction: 0,
    itemScale: 0,
  });

  it("runs two stacks' jobs one after the other in the same children, which end at close", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailstream-controller-pool-"));
    const emulators = await startEmulators({});
    const pool = new ControllerProcessPool(2);
    const pidsByRun: number[][] = [];
    try {
      for (const run of [1, 2]) {
        const stack = await startLocalStack({
          store,
          ca: await loadTestCa(),
          archive: { kind: "local", path: join(dir, `archive-${run}`) },
          emulators,
          resourceSuffix: `-pool-${run}`,
          streams: 3,
          controllerPool: pool,
          latency: { baseMs: 5 },
          env: { MAILSTREAM_PAGE_SIZE: "25" },
        });
        try {
          const { report } = await stack.runJob(WAIT);
          expect(report.status).toBe("complete");
          const { archived, expected } = await compareAll(stack.app.archive.store, await store.groundTruth());
          expect(archived).toEqual(expected);
          const pids = stack.controllerProcesses?.pids ?? [];
          expect(pids).toHaveLength(2);
          pidsByRun.push(pids);
          // This stack's invocations, counted by the children since this stack attached.
          const figures = await stack.controllerProcesses!.stopControllers();
          expect(figures.invocations).toBeGreaterThanOrEqual(report.plan.streams);
          expect(figures.stateRequests.TransactWriteItemsCommand ?? 0).toBeGreaterThan(0);
        } finally {
          await stack.stop();
        }
        // Stopped with its stack, a kept child stays for the next one.
        for (const pid of pidsByRun.at(-1) ?? []) expect(processAlive(pid)).toBe(true);
      }
      expect(pidsByRun[1]).toEqual(pidsByRun[0]);
      // One stack at a time, with the pool's count of processes.
      const base = {
        archive: { kind: "local" as const, path: join(dir, "refused") },
        emulators,
        streams: 3,
        controllerPool: pool,
      };
      await expect(
        startLocalServices({ ...base, resourceSuffix: "-pool-k3", controllerProcesses: 3 }, {}),
      ).rejects.toThrow(/expected controllerProcesses unset or 2 \(the pool's\), found 3/);
      // A kept child that died between stacks fails the next stack's start at once, by name.
      const [killed] = pidsByRun[0] ?? [];
      process.kill(killed as number, "SIGKILL");
      for (let i = 0; i < 50 && processAlive(killed as number); i++)
        await new Promise((r) => setTimeout(r, 20));
      await expect(
        startLocalStack({ ...base, store, ca: await loadTestCa(), resourceSuffix: "-pool-dead" }),
      ).rejects.toThrow(
        new RegExp(`controller process ${killed}: expected it kept for the next stack, found it ended`),
      );
    } finally {
      await pool.close();
      await emulators.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const pid of pidsByRun.flat()) expect(processAlive(pid)).toBe(false);
  }, 150_000);
});
