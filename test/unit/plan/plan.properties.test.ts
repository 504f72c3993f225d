import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  lowerBound,
  mailboxWork,
  type Plan,
  type PlanLimits,
  type PlanMailbox,
  planJob,
  resolvePlanLimits,
  simulateSchedule,
} from "../../../lib/plan/index.js";
import { buildTenant, seedArbitrary, type TenantShape, tenantShapes } from "./tenants.js";

const limitsArbitrary = (maxStreams: number, perStreamConcurrency?: number) =>
  fc.record({
    maxStreams: fc.constant(maxStreams),
    // 0.05 s: budget-bound mailboxes; 0.25 and 0.5 s: concurrency-bound ones.
    requestLatencySeconds: fc.constantFrom(0.05, 0.25, 0.5),
    perByteSeconds: fc.constantFrom(0, 5e-8),
    tailFillers: fc.boolean(),
    slotPacking: fc.boolean(),
    claimSeconds: fc.constantFrom(0, 0.05),
    pageSize: fc.constantFrom(10, 50, 100),
    ...(perStreamConcurrency === undefined
      ? {}
      : { perStreamConcurrency: fc.constant(perStreamConcurrency) }),
  });

const syncedShareArbitrary = fc.constantFrom(0, 0.7);

/**
 * Every invariant a plan must keep, whatever the tenant and limits. Violations are collected and
 * asserted once: thousands of `expect` calls per plan would dominate the run time.
 */
function checkInvariants(plan: Plan, mailboxes: readonly PlanMailbox[], limits: PlanLimits): void {
  const C = limits.perMailboxConcurrency;
  const violations: string[] = [];
  // Every non-search folder in exactly one unit of its own mailbox; no search folder in any.
  const owner = new Map<string, string>();
  for (const unit of plan.units) {
    for (const folderId of unit.folderIds) {
      if (owner.has(folderId)) violations.push(`folder ${folderId} in two units`);
      owner.set(folderId, unit.mailboxId);
    }
  }
  let folders = 0;
  for (const m of mailboxes) {
    for (const f of m.folders) {
      if (f.isSearchFolder) {
        if (owner.has(f.folderId)) violations.push(`search folder ${f.folderId} in a unit`);
      } else {
        folders++;
        if (owner.get(f.folderId) !== m.mailboxId)
          violations.push(`folder ${f.folderId} not in a unit of its mailbox`);
      }
    }
  }
  if (owner.size !== folders) violations.push(`${owner.size} folders in units, expected ${folders}`);

  // Indexed in order, longest first (ties: costlier first). Tail fillers (plan.ts) follow every
  // other unit, longest first; the main unit of a mailbox cut for one keeps its whole unit's place
  // (it is left out of the head's order) and is the mailbox's only other unit.
  const fillersFrom = plan.units.length - (plan.tailFillers ?? 0);
  const fillers = plan.units.slice(fillersFrom);
  const cut = new Set(fillers.map((u) => u.mailboxId));
  if (cut.size !== fillers.length) violations.push("a mailbox with two tail fillers");
  for (const mailboxId of cut) {
    const mains = plan.units.slice(0, fillersFrom).filter((u) => u.mailboxId === mailboxId);
    if (mains.length !== 1 || mains[0]!.kind !== "folders")
      violations.push(`mailbox ${mailboxId} has a filler and ${mains.length} other units`);
  }
  const inOrder = (units: readonly Plan["units"][number][]) =>
    units.forEach((u, i) => {
      const next = units[i + 1];
      if (
        next &&
        (u.estimatedSeconds < next.estimatedSeconds ||
          (u.estimatedSeconds === next.estimatedSeconds && u.cost < next.cost))
      ) {
        violations.push(`unit ${u.index} is shorter than unit ${next.index}`);
      }
    });
  plan.units.forEach((u, i) => {
    if (u.index !== i) violations.push(`unit at ${i} has index ${u.index}`);
  });
  // A balanced start order (waves.ts) is by start, not length: its own tests check it. A slot
  // layout (slot-pack.ts) lists the whole units first, longest first, then units of one slot.
  if (plan.slotPacked) {
    const wide = plan.units.findIndex((u) => u.concurrency === 1);
    inOrder(plan.units.slice(0, wide));
    if (plan.units.slice(wide).some((u) => u.concurrency !== 1))
      violations.push("a slot layout's unit of more than one slot after one of one slot");
  } else if (!plan.startOrdered)
    inOrder(plan.units.slice(0, fillersFrom).filter((u) => !cut.has(u.mailboxId)));
  inOrder(fillers);

  // A mailbox's units share its C; each has at least one slot and no more than a stream runs.
  const shares = new Map<string, number>();
  for (const u of plan.units) {
    if (u.concurrency < 1 || u.concurrency > limits.perStreamConcurrency) {
      violations.push(`unit ${u.index} has concurrency ${u.concurrency}`);
    }
    shares.set(u.mailboxId, (shares.get(u.mailboxId) ?? 0) + u.concurrency);
  }
  for (const [mailboxId, share] of shares) {
    if (share > C) violations.push(`mailbox ${mailboxId} has ${share} slots, more than C = ${C}`);
  }
  if (shares.size !== mailboxes.length)
    violations.push(`${shares.size} mailboxes in units of ${mailboxes.length}`);

  // The prediction is the simulation, which keeps every mailbox inside C and B per window.
  const perWindow = new Map<string, number>();
  const schedule = simulateSchedule(plan.units, plan.streams, limits, (interval) => {
    if (interval.concurrency > C * (1 + 1e-9)) {
      violations.push(`${interval.mailboxId} runs ${interval.concurrency} requests at once`);
    }
    if (interval.toSeconds > interval.windowStartSeconds + limits.windowSeconds * (1 + 1e-9)) {
      violations.push(`${interval.mailboxId} runs past its window`);
    }
    const key = `${interval.mailboxId}@${interval.windowStartSeconds}`;
    const sent =
      (perWindow.get(key) ?? 0) + interval.requestsPerSecond * (interval.toSeconds - interval.fromSeconds);
    perWindow.set(key, sent);
    if (sent > limits.budgetPerWindow * (1 + 1e-9)) {
      violations.push(
        `${interval.mailboxId} sends ${sent} requests in one window of ${limits.budgetPerWindow}`,
      );
    }
  });
  expect(violations.slice(0, 10)).toEqual([]);
  expect(schedule.makespanSeconds).toBe(plan.predictedMakespanSeconds);

  // The planned work is the estimated work: splitting loses and duplicates nothing.
  const estimates = mailboxes.map((m) => mailboxWork(m, limits));
  const estimatedCost = estimates.reduce((sum, e) => sum + e.requests, 0);
  expect(plan.totalCost).toBeCloseTo(estimatedCost, 6);

  // Streams: at least one when there is work, never more than allowed or than units.
  expect(plan.streams).toBeGreaterThanOrEqual(1);
  expect(plan.streams).toBeLessThanOrEqual(limits.maxStreams);
  expect(plan.streams).toBeLessThanOrEqual(plan.units.length);

  expect(plan.lowerBoundSeconds).toBeCloseTo(lowerBound(estimates, plan.streams, limits), 6);
  expect(plan.predictedMakespanSeconds).toBeGreaterThanOrEqual(plan.lowerBoundSeconds * (1 - 1e-9));
}

/**
 * Predicted makespan over the bound with all `maxStreams` streams (stricter than the plan's N).
 * Planned without the per-unit overhead (which LB leaves out): the schedule's quality against the
 * bound the model could reach.
 */
function ratioToBestBound(plan: Plan, mailboxes: readonly PlanMailbox[], limits: PlanLimits): number {
  const estimates = mailboxes.map((m) => mailboxWork(m, limits));
  return plan.predictedMakespanSeconds / lowerBound(estimates, limits.maxStreams, limits);
}

// Runs per (shape, N): each plan of a many-small tenant simulates ~5,000 units several times.
const runs: Record<TenantShape, number> = { uniform: 5, skewed: 8, giant: 8, "many-small": 3 };

describe.each(tenantShapes)("planJob on %s tenants", (shape) => {
  it.each([16, 64])("keeps every invariant and predicts ≤ 1.15 × LB with up to %i streams", (maxStreams) => {
    fc.assert(
      fc.property(
        seedArbitrary,
        limitsArbitrary(maxStreams),
        syncedShareArbitrary,
        (seed, given, syncedShare) => {
          const mailboxes = buildTenant(shape, seed, { syncedShare });
          const limits = resolvePlanLimits(given);
          checkInvariants(planJob({ mailboxes, limits }), mailboxes, limits);
          const bare = resolvePlanLimits({ ...given, unitOverheadSeconds: 0, claimSeconds: 0 });
          expect(ratioToBestBound(planJob({ mailboxes, limits: bare }), mailboxes, bare)).toBeLessThanOrEqual(
            1.15,
          );
        },
      ),
      { numRuns: runs[shape] },
    );
  });
});

describe("planJob when one stream cannot fill a mailbox (C_stream < C)", () => {
  it.each(tenantShapes)("keeps every invariant on %s tenants", (shape) => {
    fc.assert(
      fc.property(
        seedArbitrary,
        fc.constantFrom(16, 64).chain((n) => limitsArbitrary(n, 1)),
        fc.constantFrom(1, 2),
        (seed, given, perStreamConcurrency) => {
          const mailboxes = buildTenant(shape, seed);
          const limits = resolvePlanLimits({ ...given, perStreamConcurrency });
          checkInvariants(planJob({ mailboxes, limits }), mailboxes, limits);
        },
      ),
      { numRuns: Math.max(2, runs[shape] >> 1) },
    );
  });

  it("splits the giant mailbox and still predicts ≤ 1.15 × LB", () => {
    fc.assert(
      fc.property(
        seedArbitrary,
        fc.constantFrom(16, 64),
        fc.constantFrom(1, 2),
        (seed, maxStreams, perStream) => {
          const mailboxes = buildTenant("giant", seed);
          const limits = resolvePlanLimits({
            maxStreams,
            perStreamConcurrency: perStream,
            unitOverheadSeconds: 0,
          });
          const plan = planJob({ mailboxes, limits });
          const giant = plan.units.filter((u) => u.mailboxId === "mbx-0");
          // At least C / C_stream units make up the giant's full C (one unit alone would take
          // C / C_stream × longer); more (each with fewer slots) when that balances its folders
          // better, but never more slots than the mailbox has.
          expect(giant.length).toBeGreaterThanOrEqual(limits.perMailboxConcurrency / perStream);
          expect(giant.reduce((s, u) => s + u.concurrency, 0)).toBeLessThanOrEqual(
            limits.perMailboxConcurrency,
          );
          expect(giant.every((u) => u.kind === "folders")).toBe(true);
          expect(ratioToBestBound(plan, mailboxes, limits)).toBeLessThanOrEqual(1.15);
        },
      ),
      { numRuns: 6 },
    );
  });
});
