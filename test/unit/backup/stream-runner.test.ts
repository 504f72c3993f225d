import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { UnitCheckpoint, UnitStatePort } from "../../../lib/backup/ports.js";
import {
  type ClaimedUnit,
  runStreamTask,
  type StreamRunnerDeps,
  type StreamStatePort,
  type UnitResult,
} from "../../../lib/backup/stream-runner.js";
import type { StreamTask } from "../../../lib/queue/stream-task.js";

/** An in-memory state with the same rules as the DynamoDB one: seq per stream, one holder per unit. */
class MemoryStreamState implements StreamStatePort {
  seq = new Map<number, number>();
  finished = new Set<number>();
  units: Array<{
    index: number;
    holder?: number;
    status: string;
    checkpoint: UnitCheckpoint;
    items: number;
    result?: UnitResult;
  }>;
  finalizeCalls = 0;
  finalized = false;
  constructor(
    unitCount: number,
    readonly streams: number,
  ) {
    this.units = Array.from({ length: unitCount }, (_, index) => ({
      index,
      status: "pending",
      checkpoint: { folderIndex: 0, page: 0 },
      items: 0,
    }));
  }
  async beginTask(t: StreamTask) {
    const cur = this.seq.get(t.streamId) ?? 0;
    return t.seq < cur || this.finished.has(t.streamId) ? "stale" : "current";
  }
  async resumeOrClaimUnit(t: StreamTask): Promise<ClaimedUnit | null> {
    const mine = this.units.find((u) => u.holder === t.streamId && u.status === "running");
    const u = mine ?? this.units.find((x) => x.status === "pending");
    if (!u) return null;
    u.status = "running";
    u.holder = t.streamId;
    return {
      work: { jobId: t.jobId, index: u.index, mailboxId: `m${u.index}`, folderIds: ["f"], concurrency: 1 },
      checkpoint: u.checkpoint,
    };
  }
  unitState(_t: StreamTask, i: number): UnitStatePort {
    return {
      syncState: async () => undefined,
      checkpoint: async (cp, delta) => {
        this.units[i]!.checkpoint = cp;
        this.units[i]!.items += delta.items;
      },
    };
  }
  async completeUnit(_t: StreamTask, i: number, r: UnitResult) {
    this.units[i]!.status = r.status;
    this.units[i]!.result = r;
  }
  async heartbeat() {}
  async handOn(t: StreamTask) {
    const next = { ...t, seq: t.seq + 1 };
    this.seq.set(t.streamId, next.seq);
    return next;
  }
  async finishStream(t: StreamTask) {
    this.finished.add(t.streamId);
  }
  async tryFinalizeJob() {
    this.finalizeCalls++;
    if (this.finalized || this.finished.size < this.streams) return false;
    this.finalized = true;
    return true;
  }
}

function deps(state: MemoryStreamState, pagesPerFolder: number, remaining: () => number) {
  const sent: StreamTask[] = [];
  const finalizedJobs: string[] = [];
  const d: StreamRunnerDeps = {
    state,
    queue: {
      send: async (t) => {
        sent.push(t);
      },
      sendAll: async () => {},
    },
    unitDeps: () => ({
      source: {
        async *folderDelta(_u, f, from) {
          const start = from ? Number(from) : 0;
          for (let p = start; p < pagesPerFolder; p++) {
            yield {
              upserts: [{ id: `${f}-${p}` }],
              removed: [],
              ...(p + 1 < pagesPerFolder ? { nextLink: String(p + 1) } : { deltaLink: "done" }),
            };
          }
        },
        openMime: async (_u, id) => Readable.from([Buffer.from(id)]),
      },
      archive: {
        storeMime: async (s) => {
          let size = 0;
          for await (const c of s) size += (c as Buffer).length;
          return { sha256: "x", size, existed: false };
        },
        writeCatalogPart: async () => {},
      },
    }),
    remainingMs: remaining,
    deadlineMarginMs: 100,
    heartbeatMs: 1000,
    finalizeJob: async (jobId) => {
      finalizedJobs.push(jobId);
    },
  };
  return { d, sent, finalizedJobs };
}

describe("runStreamTask", () => {
  it("pulls units until none is left, and the last stream to finish finalizes the job once", async () => {
    const state = new MemoryStreamState(5, 2);
    const { d, finalizedJobs } = deps(state, 2, () => 1e9);
    const [a, b] = await Promise.all([
      runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d),
      runStreamTask({ jobId: "J", streamId: 1, seq: 0 }, d),
    ]);
    expect(a.status).toBe("finished");
    expect(b.status).toBe("finished");
    expect(state.units.every((u) => u.status === "done")).toBe(true);
    expect(state.units.reduce((s, u) => s + (u.result?.progress.items ?? 0), 0)).toBe(10);
    expect(finalizedJobs).toEqual(["J"]);
  });

  it("hands itself on before the deadline and the continuation resumes the same unit", async () => {
    const state = new MemoryStreamState(1, 1);
    let budget = 3;
    // Each shouldYield check spends one unit of "time"; after three, the deadline is near.
    const { d, sent, finalizedJobs } = deps(state, 6, () => (budget-- > 0 ? 1e9 : 0));
    const first = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(first.status).toBe("continued");
    expect(sent).toEqual([{ jobId: "J", streamId: 0, seq: 1 }]);
    expect(state.units[0]!.status).toBe("running");
    // The old task delivered again is stale and does nothing.
    expect((await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d)).status).toBe("stale");
    budget = 1e9;
    const second = await runStreamTask(sent[0]!, d);
    expect(second.status).toBe("finished");
    // Counters add up across invocations through the checkpoints: each page stored exactly once.
    expect(state.units[0]!.items).toBe(6);
    expect(finalizedJobs).toEqual(["J"]);
  });

  it("records a unit that throws unexpectedly as failed and goes on", async () => {
    const state = new MemoryStreamState(2, 1);
    const { d } = deps(state, 1, () => 1e9);
    const base = d.unitDeps;
    d.unitDeps = (t, u) => {
      const real = base(t, u);
      if (u.index !== 0) return real;
      return {
        ...real,
        source: {
          ...real.source,
          folderDelta: () => {
            throw new TypeError("unexpected shape");
          },
        },
      };
    };
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("finished");
    expect(state.units[0]!.status).toBe("failed");
    expect(state.units[0]!.result?.errors[0]).toMatchObject({
      name: "TypeError",
      message: "unexpected shape",
    });
    expect(state.units[1]!.status).toBe("done");
  });
});
