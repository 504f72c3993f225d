import { Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import type {
  ClaimedUnit,
  MailSource,
  StreamStatePort,
  UnitCheckpoint,
  UnitResult,
  UnitStatePort,
  UnitWork,
} from "../../../lib/backup/ports.js";
import { runStreamTask, type StreamRunnerDeps } from "../../../lib/backup/stream-runner.js";
import { FatalError, RetryableError } from "../../../lib/errors.js";
import type { StreamTask } from "../../../lib/queue/stream-task.js";
import { ClaimLostError, StateContentionError, StateUnavailableError } from "../../../lib/state/errors.js";

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
    this.begins?.push("begin");
    const cur = this.seq.get(t.streamId) ?? 0;
    return t.seq < cur || this.finished.has(t.streamId) ? "stale" : "current";
  }
  /** Calls of each way to begin a task, by name. */
  begins: string[] = [];
  /**
   * Set: the start units' claim is in flight until this resolves (rejects: the state store
   * failed); the units are read, and handed to `onRead` when all pending, before it.
   */
  claimInFlight?: () => Promise<void>;
  async beginTaskWithUnits(
    t: StreamTask & { units: number[] },
    onRead?: (units: ClaimedUnit[]) => void,
  ): Promise<ClaimedUnit[] | undefined> {
    this.begins.push("withUnits");
    if (this.claimInFlight) {
      const read = t.units.map((i) => this.units[i]);
      if (onRead && read.every((u) => u?.status === "pending")) onRead(read.map((u) => this.claimed(u!)));
      await this.claimInFlight();
    }
    const units = t.units.map((i) => this.units[i]);
    const stale = t.seq < (this.seq.get(t.streamId) ?? 0) || this.finished.has(t.streamId);
    // All or none, as the state transaction.
    if (stale || units.some((u) => u?.status !== "pending")) return undefined;
    for (const u of units) {
      u!.status = "running";
      u!.holder = t.streamId;
    }
    this.maxHeld = Math.max(this.maxHeld, units.length);
    return units.map((u) => this.claimed(u!));
  }
  /** The plan's estimate of every unit, seconds. */
  estimatedSeconds = 1;
  /** Each unit's folders. */
  folderIdsOf = (_index: number) => ["f"];
  /** Each unit's planned share of its mailbox's request slots (`concurrency`). */
  concurrencyOf = (_index: number) => 1;
  /** Each unit's `maxConcurrency` (the slots it may borrow up to), or none. */
  maxConcurrencyOf = (_index: number): number | undefined => undefined;
  /** Σ shares of the units a stream held, still making requests, whenever it claimed another. */
  heldSharesAtClaim: number[] = [];
  /** Whether unit `index` may still make requests (a unit past its last answer takes no slot). */
  stillRequesting = (_index: number) => true;
  /** Most units one stream held at once. */
  maxHeld = 0;
  private claimed(u: (typeof this.units)[number]): ClaimedUnit {
    return {
      work: {
        jobId: "J",
        index: u.index,
        mailboxId: `m${u.index}`,
        folderIds: this.folderIdsOf(u.index),
        concurrency: this.concurrencyOf(u.index),
        ...(this.maxConcurrencyOf(u.index) !== undefined
          ? { maxConcurrency: this.maxConcurrencyOf(u.index) }
          : {}),
        estimatedSeconds: this.estimatedSeconds,
      },
      checkpoint: u.checkpoint,
    };
  }
  async heldUnits(t: StreamTask): Promise<ClaimedUnit[]> {
    return this.units
      .filter((u) => u.holder === t.streamId && u.status === "running")
      .map((u) => this.claimed(u));
  }
  /** Discovery is still adding units: a claim that finds none pending answers "later". */
  discovering = false;
  async claimUnit(t: StreamTask): Promise<ClaimedUnit | null | "later"> {
    const u = this.units.find((x) => x.status === "pending");
    if (!u) return this.discovering ? "later" : null;
    this.heldSharesAtClaim.push(
      this.units
        .filter((x) => x.holder === t.streamId && x.status === "running" && this.stillRequesting(x.index))
        .reduce((n, x) => n + this.concurrencyOf(x.index), 0),
    );
    u.status = "running";
    u.holder = t.streamId;
    const held = this.units.filter((x) => x.holder === t.streamId && x.status === "running").length;
    this.maxHeld = Math.max(this.maxHeld, held);
    return this.claimed(u);
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
  heartbeats = 0;
  async heartbeat() {
    this.heartbeats++;
  }
  async handOn(t: StreamTask) {
    // As the state store does: the continuation carries no lease (the next invocation takes its own).
    const next = { jobId: t.jobId, streamId: t.streamId, seq: t.seq + 1 };
    this.seq.set(t.streamId, next.seq);
    return next;
  }
  async finishStream(t: StreamTask) {
    this.finished.add(t.streamId);
    return { othersLeft: this.finished.size < this.streams };
  }
  async tryFinalizeJob() {
    this.finalizeCalls++;
    if (this.finalized || this.finished.size < this.streams) return false;
    this.finalized = true;
    return true;
  }
}

/** Each unit of `d` reads through `wrap(its source, the unit)`. */
function withUnitSources(
  d: StreamRunnerDeps,
  wrap: (source: MailSource, unit: UnitWork) => MailSource,
): void {
  const base = d.unitDeps;
  d.unitDeps = (t, u) => {
    const real = base(t, u);
    return { ...real, source: wrap(real.source, u) };
  };
}

function deps(state: MemoryStreamState, pagesPerFolder: number, remaining: () => number) {
  const sent: StreamTask[] = [];
  const delays: Array<number | undefined> = [];
  const finalizedJobs: string[] = [];
  const d: StreamRunnerDeps = {
    state,
    queue: {
      send: async (t, options) => {
        sent.push(t);
        delays.push(options?.delaySeconds);
      },
      sendAll: async () => {},
      sendDiscovery: async () => {},
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
        storeBlob: async (_kind, s) => {
          let size = 0;
          if (Buffer.isBuffer(s)) size = s.length;
          else for await (const c of s) size += (c as Buffer).length;
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
  return { d, sent, delays, finalizedJobs };
}

/** Deps whose unit `index` fails its first delta request with `error`. */
function failingUnit(state: MemoryStreamState, index: number, error: unknown) {
  const built = deps(state, 1, () => 1e9);
  const base = built.d.unitDeps;
  built.d.unitDeps = (t, u) => {
    const real = base(t, u);
    if (u.index !== index) return real;
    return {
      ...real,
      source: {
        ...real.source,
        folderDelta: () => {
          throw error;
        },
      },
    };
  };
  return built;
}

describe("runStreamTask: the error rules at the task boundary", () => {
  it("does not fail a unit on state contention (retryable): the task ends and the unit goes on in the next one", async () => {
    const state = new MemoryStreamState(1, 1);
    const { d, sent, delays } = failingUnit(
      state,
      0,
      new StateContentionError("state table t: expected a write to go through, found it conflicting"),
    );
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("continued");
    expect(state.units[0]!.status).toBe("running");
    expect(state.units[0]!.result).toBeUndefined();
    expect(sent).toEqual([{ jobId: "J", streamId: 0, seq: 1 }]);
    expect(delays).toEqual([undefined]);
  });

  it("does not fail a unit on a Retry-After it cannot wait out: the continuation is delayed by it", async () => {
    const state = new MemoryStreamState(1, 1);
    const { d, delays } = failingUnit(
      state,
      0,
      new RetryableError("GET …/delta answered 429; Retry-After 600000 ms", { retryAfterMs: 600_000 }),
    );
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("continued");
    expect(state.units[0]!.status).toBe("running");
    expect(delays).toEqual([600]);
  });

  it("drops a superseded task (its unit was taken over) without failing the unit or the task", async () => {
    const state = new MemoryStreamState(2, 1);
    const { d, sent } = deps(state, 1, () => 1e9);
    state.unitState = () => ({
      syncState: async () => undefined,
      checkpoint: async () => {
        throw new ClaimLostError("J", 0, "it held by stream 0", "claimed by stream 1");
      },
    });
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("stale");
    expect(state.units[0]!.status).toBe("running");
    expect(state.units[0]!.result).toBeUndefined();
    expect(sent).toEqual([]);
  });

  it("fails a unit with a fatal error in one line and claims no further unit", async () => {
    const state = new MemoryStreamState(3, 1);
    // Units too long to overlap, each planned on the stream's 4 slots: it runs one at a time.
    state.estimatedSeconds = 120;
    state.concurrencyOf = () => 4;
    const { d } = failingUnit(
      state,
      0,
      new FatalError("configuration tenant.clientSecret: refused by Entra ID"),
    );
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("finished");
    expect(state.units[0]!.status).toBe("failed");
    expect(state.units[0]!.result?.errors).toEqual([
      {
        subject: "unit 0",
        name: "FatalError",
        message: "configuration tenant.clientSecret: refused by Entra ID",
      },
    ]);
    expect(state.units.slice(1).map((u) => u.status)).toEqual(["pending", "pending"]);
  });

  it("records a failure outlasting the retry budget on the folder and completes the unit", async () => {
    const state = new MemoryStreamState(1, 1);
    const { RetriesExhaustedError } = await import("../../../lib/errors.js");
    const { d } = failingUnit(state, 0, RetriesExhaustedError.after(new RetryableError("503"), 9, 300_000));
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out.status).toBe("finished");
    expect(state.units[0]!.status).toBe("done");
    expect(state.units[0]!.result?.errors[0]).toMatchObject({
      subject: "folder f",
      name: "RetriesExhaustedError",
    });
    expect(state.units[0]!.result?.incompleteFolders).toEqual(["f"]);
  });
});

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
    // The stream that finished with the other still to finish left the finalization to it.
    expect(state.finalizeCalls).toBe(1);
  });

  it("sends a heartbeat only when no claim or unit end wrote one within the period", async () => {
    vi.useFakeTimers();
    try {
      const state = new MemoryStreamState(2, 1);
      state.estimatedSeconds = 100; // no lookahead: unit 1 is claimed when unit 0 ends
      const { d } = deps(state, 1, () => 1e9);
      d.heartbeatMs = 1000;
      // Unit 0's page answers after 900 ms, unit 1's after 2,600 ms.
      withUnitSources(d, (source, u) => ({
        ...source,
        async *folderDelta(mailbox, folder, from) {
          await new Promise((r) => setTimeout(r, u.index === 0 ? 900 : 2600));
          yield* source.folderDelta(mailbox, folder, from);
        },
      }));
      const run = runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
      // 1,000 ms: unit 0 ended and unit 1 was claimed 100 ms before: no beat.
      await vi.advanceTimersByTimeAsync(1500);
      expect(state.heartbeats).toBe(0);
      // 2,000 ms: nothing written for 1,100 ms: a beat.
      await vi.advanceTimersByTimeAsync(1000);
      expect(state.heartbeats).toBe(1);
      await vi.advanceTimersByTimeAsync(2000);
      expect((await run).status).toBe("finished");
      expect(state.units.map((u) => u.status)).toEqual(["done", "done"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("hands the task's deadline to its state requests, to each unit's source and to the job's finalization", async () => {
    const state = new MemoryStreamState(2, 1);
    // The invocation has 10 s left; the margin is 100 ms: retries stop 9.9 s from now.
    const endsAt = Date.now() + 10_000;
    const { d } = deps(state, 1, () => endsAt - Date.now());
    const deadlines: Array<{ at: string; deadline: (() => number) | undefined }> = [];
    d.stateUntil = (deadline) => {
      deadlines.push({ at: "state", deadline });
      return state;
    };
    withUnitSources(d, (source, u) => ({
      ...source,
      withContext: (context) => {
        deadlines.push({ at: `unit ${u.index}`, deadline: context.deadline });
        return source;
      },
    }));
    d.finalizeJob = async (_jobId, deadline) => {
      deadlines.push({ at: "finalize", deadline });
    };
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out).toMatchObject({ status: "finished", finalizedJob: true });
    expect(deadlines.map((x) => x.at)).toEqual(["state", "unit 0", "unit 1", "finalize"]);
    for (const { deadline } of deadlines) {
      expect(deadline).toBeTypeOf("function");
      expect(Math.abs((deadline as () => number)() - (endsAt - 100))).toBeLessThan(50);
    }
  });

  it("begins a first task that carries its unit by claiming it at once; one whose unit is taken begins as any other", async () => {
    const state = new MemoryStreamState(3, 2);
    const { d, finalizedJobs } = deps(state, 1, () => 1e9);
    // Stream 0 was given unit 2 (not the next pending one, so the test sees which it ran first).
    const order: number[] = [];
    const unitDeps = d.unitDeps;
    d.unitDeps = (task, unit) => {
      order.push(unit.index);
      return unitDeps(task, unit);
    };
    d.lookaheadUnitSeconds = 0;
    expect(await runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [2] }, d)).toMatchObject({
      status: "finished",
      unitsDone: 3,
    });
    expect(order).toEqual([2, 0, 1]);
    expect(state.begins).toEqual(["withUnits"]);
    // Stream 1's task carries unit 1, long done: it begins as usual and finds nothing left.
    state.begins = [];
    expect(await runStreamTask({ jobId: "J", streamId: 1, seq: 0, units: [1] }, d)).toMatchObject({
      status: "finished",
      unitsDone: 0,
    });
    expect(state.begins).toEqual(["withUnits", "begin"]);
    expect(state.units.map((u) => u.result?.status)).toEqual(["done", "done", "done"]);
    expect(finalizedJobs).toEqual(["J"]);
  });

  it("starts every start unit its first task carries at once, before any claim; one taken unit makes it begin as any other", async () => {
    const state = new MemoryStreamState(6, 2);
    // Shares of one slot each: the stream's 4 slots hold 4 start units.
    state.concurrencyOf = () => 1;
    const { d } = deps(state, 1, () => 1e9);
    d.lookaheadUnitSeconds = 0;
    const events: string[] = [];
    const unitDeps = d.unitDeps;
    d.unitDeps = (task, unit) => {
      events.push(`start ${unit.index}`);
      return unitDeps(task, unit);
    };
    const claimUnit = state.claimUnit.bind(state);
    state.claimUnit = async (t) => {
      events.push("claim");
      return claimUnit(t);
    };
    expect(await runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [1, 2, 4, 5] }, d)).toMatchObject({
      status: "finished",
      unitsDone: 6,
    });
    expect(state.begins).toEqual(["withUnits"]);
    // The 4 start units began together, in index order, before any claim; the stream's slots
    // full, it claimed the rest only as they ended (with fewer than 4 slots held).
    expect(events.slice(0, 5)).toEqual(["start 1", "start 2", "start 4", "start 5", "claim"]);
    expect(events.filter((e) => e.startsWith("start")).sort()).toEqual([
      "start 0",
      "start 1",
      "start 2",
      "start 3",
      "start 4",
      "start 5",
    ]);
    for (const held of state.heldSharesAtClaim) expect(held).toBeLessThan(4);

    // Stream 1's task carries units of which one is done: nothing is claimed by the transaction,
    // it begins as usual and claims what is left (nothing).
    state.begins = [];
    expect(await runStreamTask({ jobId: "J", streamId: 1, seq: 0, units: [0, 3] }, d)).toMatchObject({
      status: "finished",
      unitsDone: 0,
    });
    expect(state.begins).toEqual(["withUnits", "begin"]);
    expect(state.units.map((u) => u.result?.status)).toEqual([
      "done",
      "done",
      "done",
      "done",
      "done",
      "done",
    ]);
  });

  it("does not finish while discovery may add units: it comes back after the discovery wait, then finishes", async () => {
    const state = new MemoryStreamState(1, 1);
    state.discovering = true;
    const { d, sent, delays, finalizedJobs } = deps(state, 1, () => 1e9);
    d.discoveryWaitMs = 7_000;
    const first = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(first).toMatchObject({ status: "continued", unitsDone: 1 });
    expect(sent).toEqual([{ jobId: "J", streamId: 0, seq: 1 }]);
    expect(delays).toEqual([7]);
    expect(state.finished.size).toBe(0);
    // Discovery adds a unit and is done: the continuation claims it and the stream finishes.
    state.units.push({ index: 1, status: "pending", checkpoint: { folderIndex: 0, page: 0 }, items: 0 });
    state.discovering = false;
    expect(await runStreamTask(sent[0]!, d)).toMatchObject({ status: "finished", unitsDone: 1 });
    expect(state.units.map((u) => u.status)).toEqual(["done", "done"]);
    expect(finalizedJobs).toEqual(["J"]);
  });

  it("reads the units its stream holds after its begin: a unit an earlier delivery claims until then is resumed", async () => {
    const state = new MemoryStreamState(3, 1);
    const { d, finalizedJobs } = deps(state, 2, () => 1e9);
    // An earlier delivery of the same task claims unit 1 while this one's begin is on its way
    // (the claim lands before the begin's write takes the lease).
    const begin = state.beginTask.bind(state);
    state.beginTask = async (t: StreamTask) => {
      const held = state.units[1]!;
      held.status = "running";
      held.holder = t.streamId;
      return begin(t);
    };
    const outcome = await runStreamTask({ jobId: "J", streamId: 0, seq: 1 }, d);
    expect(outcome.status).toBe("finished");
    expect(state.units.map((u) => u.status)).toEqual(["done", "done", "done"]);
    expect(state.units[1]!.items).toBe(2);
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
    withUnitSources(d, (source, u) =>
      u.index !== 0
        ? source
        : {
            ...source,
            folderDelta: () => {
              throw new TypeError("unexpected shape");
            },
          },
    );
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

/**
 * Deps whose every delta page takes `ms` to answer, recording in `events` each request sent
 * (`request <unit>`), each answer (`answer <unit>`) and each write of the unit (`blob`, `part`,
 * `checkpoint <unit>`); `inFlight()`: requests sent and not yet answered.
 */
function recordingDeps(state: MemoryStreamState, pages: number, ms: number) {
  const built = deps(state, pages, () => 1e9);
  const events: string[] = [];
  let inFlight = 0;
  const base = built.d.unitDeps;
  built.d.unitDeps = (t, u) => {
    const real = base(t, u);
    return {
      ...real,
      source: {
        ...real.source,
        folderDelta: (mailboxId, folderId, from) => {
          const pagesOf = real.source.folderDelta(mailboxId, folderId, from)[Symbol.asyncIterator]();
          return {
            [Symbol.asyncIterator]: () => ({
              next: async () => {
                events.push(`request ${u.index}`);
                inFlight++;
                await new Promise((r) => setTimeout(r, ms));
                inFlight--;
                events.push(`answer ${u.index}`);
                return pagesOf.next();
              },
            }),
          };
        },
      },
      archive: {
        storeBlob: async (kind, body, owner) => {
          events.push("blob");
          return real.archive.storeBlob(kind, body, owner);
        },
        writeCatalogPart: async (key, entries) => {
          events.push("part");
          return real.archive.writeCatalogPart(key, entries);
        },
      },
    };
  };
  const unitState = state.unitState.bind(state);
  state.unitState = (t, i) => {
    const port = unitState(t, i);
    return {
      ...port,
      checkpoint: async (cp, delta, staged) => {
        events.push(`checkpoint ${i}`);
        return port.checkpoint(cp, delta, staged);
      },
    };
  };
  return { ...built, events, inFlight: () => inFlight };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

describe("runStreamTask: start units started before their claim lands", () => {
  it("sends a start unit's first request while its claim is in flight and processes the answer, and writes, only once it lands", async () => {
    const state = new MemoryStreamState(1, 1);
    // Slots to spare: an answer processed early would send the next page at once.
    state.concurrencyOf = () => 4;
    const { d, events } = recordingDeps(state, 3, 10);
    let land!: () => void;
    state.claimInFlight = () => new Promise<void>((resolve) => (land = resolve));
    const run = runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [0] }, d);
    await until(() => events.includes("answer 0"));
    // Well past the answer: it waits for the claim, so no next page and no write yet.
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(["request 0", "answer 0"]);
    expect(state.units[0]!.status).toBe("pending");
    events.push("landed");
    land();
    expect(await run).toMatchObject({ status: "finished", unitsDone: 1 });
    expect(state.begins).toEqual(["withUnits"]);
    expect(events.slice(0, 3)).toEqual(["request 0", "answer 0", "landed"]);
    expect(events.filter((e) => e === "request 0")).toHaveLength(3);
    expect(events.filter((e) => e === "blob")).toHaveLength(3);
    expect(state.units[0]).toMatchObject({ status: "done", items: 3 });
  });

  it("abandons start units whose claim is refused: their answers are dropped, nothing of them is written, the task begins as any other", async () => {
    const state = new MemoryStreamState(3, 2);
    state.concurrencyOf = () => 2;
    const { d, events, inFlight } = recordingDeps(state, 2, 40);
    d.lookaheadUnitSeconds = 0;
    // Another delivery takes unit 1 while this task's claim of units 0 and 1 is in flight; the
    // refusal comes while the early requests are still unanswered.
    state.claimInFlight = async () => {
      await until(() => events.includes("request 0") && events.includes("request 1"));
      Object.assign(state.units[1]!, { status: "running", holder: 1 });
    };
    const outcome = await runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [0, 1] }, d);
    // It began as any task, claimed units 0 and 2 as usual and ran them from their start.
    expect(outcome).toMatchObject({ status: "finished", unitsDone: 2 });
    expect(state.begins).toEqual(["withUnits", "begin"]);
    expect(inFlight()).toBe(0);
    const refusedAt = events.indexOf("request 0", events.indexOf("answer 0"));
    // Before it: the two early requests and their answers, nothing written, nothing sent after.
    expect(events.slice(0, refusedAt).sort()).toEqual(["answer 0", "answer 1", "request 0", "request 1"]);
    // Unit 1 is the other delivery's: this task wrote nothing of it.
    expect(events.filter((e) => e.endsWith(" 1")).sort()).toEqual(["answer 1", "request 1"]);
    expect(state.units[1]).toMatchObject({ status: "running", holder: 1, items: 0 });
    expect(state.units[1]!.result).toBeUndefined();
    expect(state.units[0]).toMatchObject({ status: "done", items: 2 });
    expect(state.units[2]).toMatchObject({ status: "done", items: 2 });
  });

  it("ends a start unit with nothing to read only once its claim lands, and not at all when it is refused", async () => {
    const state = new MemoryStreamState(2, 1);
    state.folderIdsOf = () => [];
    const { d } = recordingDeps(state, 1, 10);
    const completed: number[] = [];
    const complete = state.completeUnit.bind(state);
    state.completeUnit = async (t, i, r) => {
      completed.push(i);
      return complete(t, i, r);
    };
    let land!: () => void;
    state.claimInFlight = () => new Promise<void>((resolve) => (land = resolve));
    const run = runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [0] }, d);
    await new Promise((r) => setTimeout(r, 30));
    expect(completed).toEqual([]);
    // Refused (another delivery took it): never ended by this task, which claims unit 1 instead.
    Object.assign(state.units[0]!, { status: "running", holder: 1 });
    land();
    expect(await run).toMatchObject({ status: "finished", unitsDone: 1 });
    expect(completed).toEqual([1]);
  });

  it("drops a stale first task whose start unit was read pending: nothing written, no request left running", async () => {
    const state = new MemoryStreamState(1, 1);
    const { d, events, inFlight } = recordingDeps(state, 2, 40);
    // The sweep re-sent the stream (seq 1) before this first task's claim landed.
    state.claimInFlight = async () => {
      await until(() => events.includes("request 0"));
      state.seq.set(0, 1);
    };
    expect(await runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [0] }, d)).toEqual({
      status: "stale",
    });
    expect(inFlight()).toBe(0);
    expect(events).toEqual(["request 0", "answer 0"]);
    expect(state.units[0]).toMatchObject({ status: "pending", items: 0 });
  });

  it("fails the task when the claim cannot be made, after its start units stopped without writing", async () => {
    const state = new MemoryStreamState(1, 1);
    const { d, events, inFlight } = recordingDeps(state, 2, 40);
    const unavailable = new StateUnavailableError(
      "state table t: expected an answer, found none for the whole retry budget",
    );
    state.claimInFlight = async () => {
      await until(() => events.includes("request 0"));
      throw unavailable;
    };
    await expect(runStreamTask({ jobId: "J", streamId: 0, seq: 0, units: [0] }, d)).rejects.toBe(unavailable);
    expect(inFlight()).toBe(0);
    expect(events).toEqual(["request 0", "answer 0"]);
    expect(state.units[0]).toMatchObject({ status: "pending", items: 0 });
  });
});

/** A source whose every request takes `ms` and counts how many run at once. */
function timedSource(ms: number, pages: number, onMime?: (mailboxId: string) => void) {
  const seen = { inFlight: 0, maxInFlight: 0 };
  const request = async <T>(value: T): Promise<T> => {
    seen.inFlight++;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    await new Promise((r) => setTimeout(r, ms));
    seen.inFlight--;
    return value;
  };
  const source = {
    async *folderDelta(mailboxId: string, folderId: string, from: string | undefined) {
      for (let p = from ? Number(from) : 0; p < pages; p++) {
        yield await request({
          upserts: [{ id: `${mailboxId}-${folderId}-${p}-a` }, { id: `${mailboxId}-${folderId}-${p}-b` }],
          removed: [],
          ...(p + 1 < pages ? { nextLink: String(p + 1) } : { deltaLink: "done" }),
        });
      }
    },
    openMime: async (mailboxId: string, id: string) => {
      onMime?.(mailboxId);
      return request(Readable.from([Buffer.from(id)]));
    },
  };
  return { source, seen };
}

/** The same source, counting each mailbox's MIME requests in flight (besides the stream's). */
function perMailboxSource({ source, seen }: ReturnType<typeof timedSource>) {
  /** Per mailbox: MIME requests in flight, most at once, answered, first start and last answer (ms). */
  const perMailbox = new Map<
    string,
    { inFlight: number; max: number; answered: number; first: number; last: number }
  >();
  return {
    seen,
    perMailbox,
    source: {
      ...source,
      openMime: async (mailboxId: string, id: string) => {
        const m = perMailbox.get(mailboxId) ?? { inFlight: 0, max: 0, answered: 0, first: 0, last: 0 };
        perMailbox.set(mailboxId, m);
        m.inFlight++;
        m.max = Math.max(m.max, m.inFlight);
        m.first ||= performance.now();
        try {
          return await source.openMime(mailboxId, id);
        } finally {
          m.inFlight--;
          m.answered++;
          m.last = performance.now();
        }
      },
    },
  };
}

describe("runStreamTask with small units", () => {
  function lookaheadDeps(
    state: MemoryStreamState,
    source: ReturnType<typeof timedSource>["source"],
    remaining: () => number,
  ) {
    const events: string[] = [];
    const { d, sent } = deps(state, 1, remaining);
    withUnitSources(d, () => source);
    d.streamConcurrency = 2;
    d.log = (event, fields) => {
      if (event === "unit.start" || event === "unit.end") events.push(`${event}:${fields.unit}`);
    };
    return { d, sent, events };
  }

  it("starts the next small unit during the last one's tail, within the stream's request slots", async () => {
    const state = new MemoryStreamState(4, 1);
    const { source, seen } = timedSource(15, 3);
    const { d, events } = lookaheadDeps(state, source, () => 1e9);
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out).toMatchObject({ status: "finished", unitsDone: 4 });
    expect(state.units.map((u) => u.result?.progress.items)).toEqual([6, 6, 6, 6]);
    // Two requesting (one in its tail, the next), and at most one more whose completion is
    // being written.
    expect(state.maxHeld).toBeGreaterThanOrEqual(2);
    expect(state.maxHeld).toBeLessThanOrEqual(3);
    // Unit 1 started before unit 0 ended: the two overlapped.
    expect(events.indexOf("unit.start:1")).toBeLessThan(events.indexOf("unit.end:0"));
    // Two units, yet never more requests at once than the stream's slots.
    expect(seen.maxInFlight).toBe(2);
  });

  it("logs each step of a unit's end in order: last answer, items stored, parts written, ended", async () => {
    const state = new MemoryStreamState(2, 1);
    const { source } = timedSource(5, 3);
    const { d } = lookaheadDeps(state, source, () => 1e9);
    const ends: Array<Record<string, unknown>> = [];
    d.log = (event, fields) => {
      if (event === "unit.end") ends.push(fields);
    };
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out).toMatchObject({ status: "finished", unitsDone: 2 });
    expect(ends).toHaveLength(2);
    for (const end of ends) {
      const steps = ["lastAnswerAt", "storedAt", "partsWrittenAt", "endedAt"].map((k) =>
        Date.parse(String(end[k])),
      );
      expect(steps.every(Number.isFinite)).toBe(true);
      expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    }
  });

  it("runs unitsAtOnce units at once, each within its own request slots, and claims the next as one ends", async () => {
    const state = new MemoryStreamState(7, 1);
    state.estimatedSeconds = 120; // no lookahead: only unitsAtOnce counts
    state.concurrencyOf = () => 2; // each unit planned on a whole unit's slots (2)
    const { source, seen, perMailbox } = perMailboxSource(timedSource(10, 3));
    const { d, events } = lookaheadDeps(state, source, () => 1e9);
    d.unitsAtOnce = 3;
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out).toMatchObject({ status: "finished", unitsDone: 7 });
    expect(state.units.map((u) => u.result?.progress.items)).toEqual([6, 6, 6, 6, 6, 6, 6]);
    // Three requesting, and at most three more ending (their completions being written).
    expect(state.maxHeld).toBeGreaterThanOrEqual(3);
    expect(state.maxHeld).toBeLessThanOrEqual(6);
    // Units 0–2 started before any ended.
    expect(events.slice(0, 3)).toEqual(["unit.start:0", "unit.start:1", "unit.start:2"]);
    // Three units' requests at once (the stream has 2 slots per unit), each unit within its own 2.
    expect(seen.maxInFlight).toBeGreaterThan(2);
    expect(seen.maxInFlight).toBeLessThanOrEqual(6);
    expect(Math.max(...[...perMailbox.values()].map((m) => m.max))).toBeLessThanOrEqual(2);
  });

  it("runs units side by side while their planned slot shares leave a slot of the stream free", async () => {
    const state = new MemoryStreamState(6, 1);
    state.estimatedSeconds = 120; // no lookahead: only the shares count
    const shares = [2, 1, 1, 4, 2, 2];
    state.concurrencyOf = (i) => shares[i]!;
    const { source, seen, perMailbox } = perMailboxSource(timedSource(10, 3));
    // Each unit makes 6 MIME requests (3 pages of 2 items); one that has had them all answered
    // is ending (its last writes): it no longer holds its share.
    state.stillRequesting = (i) => (perMailbox.get(`m${i}`)?.answered ?? 0) < 6;
    const { d, events } = lookaheadDeps(state, source, () => 1e9);
    d.streamConcurrency = 4;
    const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(out).toMatchObject({ status: "finished", unitsDone: 6 });
    expect(state.units.map((u) => u.result?.progress.items)).toEqual([6, 6, 6, 6, 6, 6]);
    // Units 0–2 (2 + 1 + 1 slots) started before any ended; each claim found a slot free.
    expect(events.slice(0, 3)).toEqual(["unit.start:0", "unit.start:1", "unit.start:2"]);
    expect(state.maxHeld).toBeGreaterThanOrEqual(3);
    expect(Math.max(...state.heldSharesAtClaim)).toBeLessThan(4);
    // Never more requests than the stream's 4 slots, each unit within its own share.
    expect(seen.maxInFlight).toBeLessThanOrEqual(4);
    for (const [mailboxId, m] of perMailbox)
      expect(m.max).toBeLessThanOrEqual(shares[Number(mailboxId.slice(1))]!);
  });

  it("lends a unit that may borrow (maxConcurrency) the slots the other units leave, after their shares", async () => {
    const run = async (borrow: boolean) => {
      const state = new MemoryStreamState(2, 1);
      state.estimatedSeconds = 120; // no lookahead: only the shares count
      state.concurrencyOf = () => 2;
      // Unit 0 (a piece of 2 slots) has one folder, unit 1 (a whole mailbox) four.
      state.maxConcurrencyOf = (i) => (borrow && i === 1 ? 4 : undefined);
      state.folderIdsOf = (i) => (i === 0 ? ["f"] : ["f", "g", "h", "k"]);
      const { source, seen, perMailbox } = perMailboxSource(timedSource(10, 3));
      const { d } = lookaheadDeps(state, source, () => 1e9);
      d.streamConcurrency = 4;
      const started = performance.now();
      const out = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
      expect(out).toMatchObject({ status: "finished", unitsDone: 2 });
      expect(state.units.map((u) => u.result?.progress.items)).toEqual([6, 24]);
      expect(seen.maxInFlight).toBeLessThanOrEqual(4);
      return { m0: perMailbox.get("m0")!, m1: perMailbox.get("m1")!, ms: performance.now() - started };
    };
    const lent = await run(true);
    // The piece had its 2 slots whenever it asked; the whole mailbox borrowed the other 2 beside
    // it and all 4 once it ended.
    expect(lent.m0.max).toBe(2);
    expect(lent.m1.max).toBe(4);
    const fixed = await run(false);
    expect(fixed.m1.max).toBe(2);
  });

  it("runs the requests of units estimated above lookaheadUnitSeconds one unit at a time", async () => {
    const state = new MemoryStreamState(3, 1);
    state.estimatedSeconds = 120;
    state.concurrencyOf = () => 2;
    const { source, perMailbox } = perMailboxSource(timedSource(5, 2));
    const { d, events } = lookaheadDeps(state, source, () => 1e9);
    d.lookaheadUnitSeconds = 30;
    expect((await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d)).status).toBe("finished");
    // No lookahead: the next unit is claimed only once the last one's requests have all answered
    // (its completion may still be being written).
    expect(state.maxHeld).toBeLessThanOrEqual(2);
    expect(events.filter((e) => e.startsWith("unit.start"))).toEqual([
      "unit.start:0",
      "unit.start:1",
      "unit.start:2",
    ]);
    const spans = ["m0", "m1", "m2"].map((m) => perMailbox.get(m)!);
    expect(spans[1]!.first).toBeGreaterThanOrEqual(spans[0]!.last);
    expect(spans[2]!.first).toBeGreaterThanOrEqual(spans[1]!.last);
  });

  it("claims the next unit while the last one's completion is written, and resumes both after a failed end", async () => {
    const state = new MemoryStreamState(2, 1);
    state.estimatedSeconds = 120; // no lookahead: only the end of unit 0's requests lets unit 1 in
    state.concurrencyOf = () => 2;
    const { source, seen } = timedSource(5, 2);
    const { d, sent } = lookaheadDeps(state, source, () => 1e9);
    const complete = state.completeUnit.bind(state);
    let heldWhileEnding: number[] = [];
    let failEnd = true;
    state.completeUnit = async (t, i, r) => {
      if (i === 0) {
        // Unit 0's completion takes until unit 1 is claimed (bounded, so a runner that waits
        // for it still ends, and fails the expectations below).
        for (let n = 0; n < 200 && state.units[1]!.status === "pending"; n++)
          await new Promise((resolve) => setTimeout(resolve, 5));
        heldWhileEnding = state.units
          .filter((u) => u.holder === 0 && u.status === "running")
          .map((u) => u.index);
        if (failEnd) throw Object.assign(new Error("table unavailable"), { $metadata: {} });
      }
      return complete(t, i, r);
    };
    await expect(runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d)).rejects.toThrow("table unavailable");
    // Unit 1 was claimed before unit 0's completion was committed; both stayed held, never more
    // requests at once than the stream's slots.
    expect(heldWhileEnding).toEqual([0, 1]);
    expect(seen.maxInFlight).toBeLessThanOrEqual(2);
    expect(sent).toEqual([]);
    // The task's redelivery resumes both held units: nothing is lost.
    failEnd = false;
    const again = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(again).toMatchObject({ status: "finished", unitsDone: 2 });
    expect(state.units.map((u) => u.status)).toEqual(["done", "done"]);
    expect(state.units.map((u) => u.items)).toEqual([4, 4]);
  });

  it("pauses both units it holds at the deadline; the continuation resumes both and counts each page once", async () => {
    const state = new MemoryStreamState(3, 1);
    let near = false;
    // The deadline comes as soon as the second unit downloads its first message.
    const { source } = timedSource(10, 4, (mailboxId) => {
      if (mailboxId === "m1") near = true;
    });
    const { d, sent } = lookaheadDeps(state, source, () => (near ? 0 : 1e9));
    const first = await runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d);
    expect(first.status).toBe("continued");
    expect(state.units.filter((u) => u.status === "running").map((u) => u.index)).toEqual([0, 1]);
    near = false;
    d.remainingMs = () => 1e9;
    const second = await runStreamTask(sent[0]!, d);
    expect(second.status).toBe("finished");
    expect(state.units.map((u) => u.status)).toEqual(["done", "done", "done"]);
    expect(state.units.map((u) => u.items)).toEqual([8, 8, 8]);
  });

  it("fails the task when a unit's completion cannot be written, after the other unit stopped", async () => {
    const state = new MemoryStreamState(3, 1);
    const { source, seen } = timedSource(10, 3);
    const { d } = lookaheadDeps(state, source, () => 1e9);
    const complete = state.completeUnit.bind(state);
    state.completeUnit = async (t, i, r) => {
      if (i === 0) throw Object.assign(new Error("table unavailable"), { $metadata: {} });
      return complete(t, i, r);
    };
    await expect(runStreamTask({ jobId: "J", streamId: 0, seq: 0 }, d)).rejects.toThrow("table unavailable");
    // Nothing is left running in the background, and the units that had started stay held for
    // the retry (unit 2 may have been claimed, and unit 1 ended, while unit 0's completion was written).
    expect(seen.inFlight).toBe(0);
    expect(state.units[0]!.status).toBe("running");
    for (const u of state.units.slice(1))
      expect(u.status === "pending" || (["running", "done"].includes(u.status) && u.holder === 0)).toBe(true);
  });
});
