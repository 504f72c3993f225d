import { describe, expect, it } from "vitest";
import type { OpenJobView } from "../../../lib/backup/ports.js";
import { type SweepDeps, sweep } from "../../../lib/backup/sweep.js";

function setup(jobs: OpenJobView[]) {
  const failed = new Map<string, string>();
  const finalized: string[] = [];
  const deps: SweepDeps = {
    state: {
      openJobs: async () => jobs,
      streams: async () => [],
      handOn: async (t) => ({ ...t, seq: t.seq + 1 }),
      tryFinalizeJob: async () => false,
      async failPlanning(jobId, reason) {
        if (failed.has(jobId)) return false;
        failed.set(jobId, reason);
        return true;
      },
    },
    queue: { send: async () => {}, sendAll: async () => {} },
    finalizeJob: async (jobId) => {
      finalized.push(jobId);
    },
    now: () => Date.parse("2026-12-01T01:00:00Z"),
    planningStaleAfterMs: 20 * 60_000,
  };
  return { deps, failed, finalized };
}

describe("sweep: jobs interrupted in planning", () => {
  it("closes a job stuck in planning past the limit, and finalizes it (its manifest covers its folder lists)", async () => {
    const { deps, failed, finalized } = setup([
      { jobId: "old", status: "planning", updatedAt: "2026-12-01T00:30:00Z" },
      { jobId: "fresh", status: "planning", updatedAt: "2026-12-01T00:50:00Z" },
    ]);
    const out = await sweep(deps);
    expect(out.abandoned).toEqual(["old"]);
    expect(out.finalized).toEqual(["old"]);
    expect(finalized).toEqual(["old"]);
    expect(failed.get("old")).toMatch(/^planning was interrupted: the job stayed in planning for 1800 s/);
    expect(failed.has("fresh")).toBe(false);
  });

  it("does not finalize a job that another sweep (or its coordinator) moved on meanwhile", async () => {
    const { deps, failed, finalized } = setup([
      { jobId: "old", status: "planning", updatedAt: "2026-12-01T00:00:00Z" },
    ]);
    failed.set("old", "closed by the other sweep");
    const out = await sweep(deps);
    expect(out.abandoned).toEqual([]);
    expect(finalized).toEqual([]);
  });
});
