import { describe, expect, it } from "vitest";
import type { DiscoveryView, OpenJobView } from "../../../lib/backup/ports.js";
import { MAX_DISCOVERY_RESENDS, type SweepDeps, sweep } from "../../../lib/backup/sweep.js";
import type { DiscoveryTask } from "../../../lib/queue/stream-task.js";

/** Fake state: jobs with a discovery each (conditional re-send counts), closings recorded. */
function setup(jobs: Array<OpenJobView & { discovery: Omit<DiscoveryView, "status"> }>) {
  const failed = new Map<string, string>();
  const abandoned = new Map<string, string>();
  const finalized: string[] = [];
  const resent: DiscoveryTask[] = [];
  const byId = new Map(jobs.map((j) => [j.jobId, j]));
  const deps: SweepDeps = {
    state: {
      openJobs: async () => jobs,
      streams: async () => [],
      handOn: async (t) => ({ ...t, seq: t.seq + 1 }),
      tryFinalizeJob: async () => false,
      discovery: async (jobId) => {
        const j = byId.get(jobId);
        return j && { ...j.discovery, status: j.status };
      },
      async markContinuationResent(jobId, piece, resends) {
        const d = byId.get(jobId)!.discovery;
        if (d.piece !== piece || d.resends !== resends) return false;
        d.resends++;
        return true;
      },
      async failPlanning(jobId, reason) {
        if (failed.has(jobId)) return false;
        failed.set(jobId, reason);
        return true;
      },
      async abandonDiscovery(jobId, reason) {
        if (abandoned.has(jobId)) return false;
        abandoned.set(jobId, reason);
        return true;
      },
    },
    queue: {
      send: async () => {},
      sendAll: async () => {},
      sendDiscovery: async (t) => void resent.push(t),
    },
    finalizeJob: async (jobId) => {
      finalized.push(jobId);
    },
    now: () => Date.parse("2026-12-01T01:00:00Z"),
    planningStaleAfterMs: 20 * 60_000,
  };
  return { deps, failed, abandoned, finalized, resent };
}

const discovering = (piece: number, updatedAt: string, resends = 0) => ({
  discovering: true,
  piece,
  updatedAt,
  resends,
});

describe("sweep: jobs whose discovery stopped", () => {
  it("re-sends the next piece of a discovery without progress past the limit, and leaves a fresh one alone", async () => {
    const { deps, resent, failed } = setup([
      { jobId: "old", status: "planning", updatedAt: "x", discovery: discovering(0, "2026-12-01T00:30:00Z") },
      { jobId: "mid", status: "running", updatedAt: "x", discovery: discovering(3, "2026-12-01T00:10:00Z") },
      {
        jobId: "fresh",
        status: "planning",
        updatedAt: "x",
        discovery: discovering(0, "2026-12-01T00:50:00Z"),
      },
    ]);
    const out = await sweep(deps);
    expect(resent).toEqual([
      { kind: "discover", jobId: "old", piece: 0 },
      { kind: "discover", jobId: "mid", piece: 3 },
    ]);
    expect(out.discoveryResent).toEqual(resent);
    expect(out.abandoned).toEqual([]);
    expect(failed.size).toBe(0);
  });

  it(`closes a planning job after ${MAX_DISCOVERY_RESENDS} re-sends without progress, and finalizes it`, async () => {
    const { deps, failed, finalized, resent } = setup([
      {
        jobId: "old",
        status: "planning",
        updatedAt: "x",
        discovery: discovering(0, "2026-12-01T00:30:00Z", MAX_DISCOVERY_RESENDS),
      },
    ]);
    const out = await sweep(deps);
    expect(resent).toEqual([]);
    expect(out.abandoned).toEqual(["old"]);
    expect(finalized).toEqual(["old"]);
    expect(failed.get("old")).toMatch(
      /^discovery was interrupted: no progress for 1800 s at piece 0 after 3 re-sent continuations/,
    );
  });

  it("ends the discovery of a running job stuck after its re-sends: its streams finish what it has", async () => {
    const { deps, abandoned, finalized } = setup([
      {
        jobId: "run",
        status: "running",
        updatedAt: "x",
        discovery: discovering(2, "2026-12-01T00:00:00Z", 3),
      },
    ]);
    const out = await sweep(deps);
    expect(out.abandoned).toEqual(["run"]);
    expect(abandoned.get("run")).toMatch(/^discovery was interrupted/);
    expect(finalized).toEqual([]);
  });

  it("does nothing for a job that another sweep (or its coordinator) moved on meanwhile", async () => {
    const { deps, failed, finalized } = setup([
      {
        jobId: "old",
        status: "planning",
        updatedAt: "x",
        discovery: discovering(0, "2026-12-01T00:00:00Z", 3),
      },
    ]);
    failed.set("old", "closed by the other sweep");
    const out = await sweep(deps);
    expect(out.abandoned).toEqual([]);
    expect(finalized).toEqual([]);
  });
});
