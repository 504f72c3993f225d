import { describe, expect, it } from "vitest";
import { type CoordinatorDeps, runDiscovery, startJob } from "../../../lib/backup/coordinator.js";
import type {
  CoordinatorStatePort,
  DiscoveredMailbox,
  FolderInfo,
  JobPlan,
  SkippedMailbox,
} from "../../../lib/backup/ports.js";
import { ConfigError, RetriesExhaustedError, RetryableError, SkipError } from "../../../lib/errors.js";
import type { DiscoveryTask, StreamTask } from "../../../lib/queue/stream-task.js";

const mailbox = (n: number): DiscoveredMailbox => ({
  userId: `u${n}`,
  address: `user${n}@contoso.test`,
  displayName: `User ${n}`,
  purpose: "user",
});

const folder = (id: string): FolderInfo => ({
  id,
  parentFolderId: "root",
  path: id,
  displayName: id,
  isHidden: false,
  isSearchFolder: false,
  totalItemCount: 1,
  unreadItemCount: 0,
});

/**
 * Fake ports: a job store with the coordinator's rules (a piece's lease, its writes guarded by
 * it, the commit that moves discovery on), and a directory of `mailboxes` users in pages.
 */
function setup(
  options: {
    mailboxes?: number;
    listing?: (userId: string) => Promise<FolderInfo[]>;
    /** Fails the commit of these pieces once (the invocation dies before its checkpoint). */
    crashBeforeCommit?: number[];
  } = {},
) {
  const job = {
    status: "none" as string,
    failure: undefined as string | undefined,
    unitCount: 0,
    streamCount: 0,
    discoveryOpen: true,
    discovery: {
      piece: 0,
      cursor: undefined as string | undefined,
      lease: undefined as string | undefined,
      done: false,
    },
    /** Unit records by index (beyond unitCount: not claimable yet). */
    units: new Map<number, string>(),
    skipped: [] as SkippedMailbox[],
    plans: 0,
  };
  const recorded: string[] = [];
  const finalized: string[] = [];
  const sent: number[] = [];
  const continuations: DiscoveryTask[] = [];
  const crashes = new Set(options.crashBeforeCommit ?? []);
  const view = () => ({
    createdAt: "2026-12-01T00:00:00.000Z",
    unitCount: job.unitCount,
    streamCount: job.streamCount,
    workStreamSeconds: 0,
    workMailboxSeconds: 0,
    longestUnitSeconds: 0,
  });
  const discovering = () => job.status === "planning" || (job.status === "running" && job.discoveryOpen);
  const state: CoordinatorStatePort = {
    jobIdFor: () => "J1",
    async createJob() {
      if (job.status !== "none") return { created: false, status: job.status };
      job.status = "planning";
      return { created: true, status: "planning" };
    },
    syncedFolderIds: async () => new Set<string>(),
    nextPiece: async () => job.discovery.piece,
    async beginPiece(_jobId, piece, lease) {
      if (!discovering() || job.discovery.piece !== piece || job.discovery.done) return undefined;
      job.discovery.lease = lease;
      return job.discovery.cursor ? { job: view(), cursor: job.discovery.cursor } : { job: view() };
    },
    async writePiece(_jobId, piece, lease, base, plan, discovery) {
      if (job.discovery.piece !== piece || job.discovery.lease !== lease) return false;
      job.plans++;
      for (const u of plan.units) job.units.set(base + u.index, u.mailboxId);
      job.skipped.push(...discovery.skipped);
      return true;
    },
    addStreams: async () => {},
    async commitPiece(_jobId, piece, lease, commit) {
      if (crashes.delete(piece)) throw new RetryableError("state table: expected DynamoDB to answer");
      if (job.discovery.piece !== piece || job.discovery.lease !== lease) return false;
      if (!discovering()) return false;
      job.discovery = {
        piece: piece + 1,
        cursor: commit.next,
        lease: undefined,
        done: commit.next === undefined,
      };
      job.unitCount = commit.unitCount;
      job.streamCount = commit.streamCount;
      if (commit.unitCount > 0) job.status = "running";
      if (commit.next === undefined) job.discoveryOpen = false;
      return true;
    },
    tryFinalizeJob: async () => false,
    async failPlanning(_jobId, reason) {
      if (job.status !== "planning") return false;
      job.status = "finalizing";
      job.failure = reason;
      return true;
    },
    async abandonDiscovery(_jobId, reason) {
      if (!(job.status === "running" && job.discoveryOpen)) return false;
      job.discoveryOpen = false;
      job.failure = reason;
      return true;
    },
  };
  const users = Array.from({ length: options.mailboxes ?? 3 }, (_, i) => mailbox(i));
  const deps: CoordinatorDeps = {
    directory: {
      // Pages of `pageSize` users; the cursor is the next page's first index.
      async discoverPage(cursor, pageSize) {
        const from = Number(cursor ?? 0);
        const to = Math.min(users.length, from + pageSize);
        return {
          mailboxes: users.slice(from, to),
          skipped: [],
          ...(to < users.length ? { next: String(to) } : {}),
        };
      },
      listFolders: async (userId) => ({
        mailboxIds: { primary: `MBX:${userId}@tenant` },
        folders: await (options.listing ?? (async (id: string) => [folder(`${id}-inbox`)]))(userId),
      }),
    },
    state,
    plan: (mailboxes): JobPlan => ({
      units: mailboxes.map((m, index) => ({
        index,
        mailboxId: m.mailbox.userId,
        folderIds: m.folders.map((f) => f.id),
        cost: 1,
        estimatedSeconds: 1,
        concurrency: 4,
      })),
      streams: 1,
      predictedMakespanSeconds: 1,
      lowerBoundSeconds: 1,
    }),
    queue: {
      send: async () => {},
      sendAll: async (tasks) => {
        sent.push(tasks.length);
      },
      sendDiscovery: async (task) => {
        continuations.push(task);
      },
    },
    recordFolders: async (_jobId, m) => {
      recorded.push(m.userId);
      return undefined;
    },
    finalizeJob: async (jobId) => {
      finalized.push(jobId);
    },
    maxStreams: 4,
  };
  /** The claimable units' mailboxes, in index order. */
  const planned = () => Array.from({ length: job.unitCount }, (_, i) => job.units.get(i));
  return { deps, job, recorded, finalized, sent, continuations, planned };
}

const trigger = { kind: "on-demand" as const, time: "2026-12-01T00:00:00.000Z" };

/** Records the stream tasks a job's start sends and each committed piece's first claimable unit. */
function recordStarts(deps: CoordinatorDeps): { tasks: StreamTask[]; firstUnits: Array<number | undefined> } {
  const tasks: StreamTask[] = [];
  deps.queue.sendAll = async (sent) => {
    tasks.push(...sent);
  };
  const firstUnits: Array<number | undefined> = [];
  const commitPiece = deps.state.commitPiece.bind(deps.state);
  deps.state.commitPiece = async (...args) => {
    firstUnits.push(args[3].firstUnits);
    return commitPiece(...args);
  };
  return { tasks, firstUnits };
}

describe("startJob: planning that survives its faults", () => {
  it("records and skips a mailbox whose listing keeps failing (retry budget spent), and plans the others", async () => {
    const setupOut = setup({
      listing: async (userId) => {
        if (userId === "u1") {
          throw RetriesExhaustedError.after(
            new RetryableError("GET /users/u1/mailFolders answered 504 GatewayTimeout"),
            14,
            300_000,
          );
        }
        return [folder(`${userId}-inbox`)];
      },
    });
    const { deps, job, recorded, planned } = setupOut;
    const out = await startJob(trigger, deps);
    expect(out).toMatchObject({ status: "started", discovery: "done", units: 2, skipped: 1 });
    expect(planned()).toEqual(["u0", "u2"]);
    expect(job.skipped).toEqual([
      {
        userId: "u1",
        address: "user1@contoso.test",
        reason: expect.stringMatching(/answered 504 GatewayTimeout.*gave up after 14 attempts/),
      },
    ]);
    expect(recorded.sort()).toEqual(["u0", "u2"]);
    expect(job.status).toBe("running");
  });

  it("records a mailbox whose listing asks for a longer wait than planning can give, and an ordinary skip", async () => {
    const { deps, job } = setup({
      listing: async (userId) => {
        if (userId === "u0")
          throw new RetryableError("429; Retry-After 600000 ms", { retryAfterMs: 600_000 });
        if (userId === "u2") throw new SkipError("mailbox gone");
        return [folder(`${userId}-inbox`)];
      },
    });
    const out = await startJob(trigger, deps);
    expect(out).toMatchObject({ status: "started", skipped: 2 });
    expect(job.skipped.map((s) => s.userId).sort()).toEqual(["u0", "u2"]);
  });

  it("closes the job failed with one line naming what to fix when the credentials are refused", async () => {
    const { deps, job, finalized, sent } = setup();
    deps.directory.discoverPage = async () => {
      throw new ConfigError(
        "credentials (MAILSTREAM_CLIENT_SECRET)",
        "expected an access token, found error invalid_client: the client secret was refused",
      );
    };
    const out = await startJob(trigger, deps);
    expect(out).toEqual({
      status: "failed",
      jobId: "J1",
      reason:
        "configuration credentials (MAILSTREAM_CLIENT_SECRET): expected an access token, found error invalid_client: the client secret was refused",
    });
    expect(job).toMatchObject({ status: "finalizing", failure: out.status === "failed" ? out.reason : "" });
    expect(finalized).toEqual(["J1"]);
    expect(sent).toEqual([]);
  });

  it("stops on a fatal listing error once every listing has settled (no unhandled rejection)", async () => {
    let settled = 0;
    const { deps, job } = setup({
      mailboxes: 5,
      listing: async (userId) => {
        await new Promise((r) => setTimeout(r, userId === "u0" ? 0 : 20));
        settled++;
        if (userId === "u0") throw new ConfigError("credentials", "refused");
        return [folder(`${userId}-inbox`)];
      },
    });
    const out = await startJob(trigger, deps);
    expect(out.status).toBe("failed");
    expect(settled).toBe(5);
    expect(job.status).toBe("finalizing");
  });

  it("leaves the job planning when waiting would help (the trigger's retry or the sweep takes it from there)", async () => {
    const { deps, job, finalized } = setup();
    const page = deps.directory.discoverPage;
    deps.directory.discoverPage = async () => {
      throw new RetryableError("state table: expected DynamoDB to answer");
    };
    await expect(startJob(trigger, deps)).rejects.toBeInstanceOf(RetryableError);
    expect(job.status).toBe("planning");
    expect(finalized).toEqual([]);
    // The trigger delivered again plans the same job.
    deps.directory.discoverPage = page;
    expect((await startJob(trigger, deps)).status).toBe("started");
  });

  it("does not revive a job the sweep closed while this invocation planned it", async () => {
    const { deps, job, sent } = setup();
    const plan = deps.plan;
    deps.plan = (m) => {
      job.status = "finalizing"; // the sweep closed it meanwhile
      return plan(m);
    };
    const out = await startJob(trigger, deps);
    expect(out.status).toBe("duplicate");
    expect(sent).toEqual([]);
  });
});

describe("discovery in pieces", () => {
  it("plans one directory page per piece, hands the rest on near the deadline, and the continuation finishes it", async () => {
    const { deps, job, sent, continuations, planned } = setup({ mailboxes: 7 });
    deps.pieceMailboxes = 3;
    // Time for one piece only: the second would start inside the deadline margin (the first
    // piece of an invocation always runs).
    let left = 10_000;
    deps.remainingMs = () => left;
    deps.deadlineMarginMs = 5_000;
    const plan = deps.plan;
    deps.plan = (m) => {
      left -= 6_000;
      return plan(m);
    };
    const out = await startJob(trigger, deps);
    expect(out).toMatchObject({
      status: "started",
      discovery: "continued",
      pieces: 1,
      units: 3,
      mailboxes: 3,
    });
    expect(continuations).toEqual([{ kind: "discover", jobId: "J1", piece: 1 }]);
    // The first piece's units are claimable and streams run on them while discovery goes on.
    expect(job).toMatchObject({ status: "running", discoveryOpen: true, unitCount: 3, streamCount: 3 });
    expect(sent).toEqual([3]);

    left = Number.POSITIVE_INFINITY;
    const rest = await runDiscovery(continuations[0]!, deps);
    expect(rest).toMatchObject({ status: "done", pieces: 2, units: 7, streams: 4, largestPiece: 3 });
    expect(planned()).toEqual(["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
    expect(job.discoveryOpen).toBe(false);
    // Streams grew with the units, up to the maximum (3 at first, then 1 more).
    expect(sent).toEqual([3, 1]);
  });

  it("gives the job's first streams their first units in their tasks, with the claim cursor past them", async () => {
    const { deps } = setup({ mailboxes: 7 });
    deps.pieceMailboxes = 3;
    const { tasks, firstUnits } = recordStarts(deps);
    expect(await startJob(trigger, deps)).toMatchObject({ status: "started", units: 7, streams: 4 });
    // The first piece creates streams 0–2 on units 0–2 (the largest: the plan's order); the
    // stream a later piece adds claims as usual (others may have claimed by then).
    expect(tasks).toEqual([
      { jobId: "J1", streamId: 0, seq: 0, units: [0] },
      { jobId: "J1", streamId: 1, seq: 0, units: [1] },
      { jobId: "J1", streamId: 2, seq: 0, units: [2] },
      { jobId: "J1", streamId: 3, seq: 0 },
    ]);
    expect(firstUnits).toEqual([3, undefined, undefined]);
  });

  it("gives each first stream every unit the plan starts on it: shares dealt into its slots", async () => {
    const { deps } = setup({ mailboxes: 9 });
    // Shares 4, 2, 2, 1, 1, 1, 1, 1, 1 on 3 streams of 4 slots, each unit to the stream with the
    // most free slots (ties: the lowest): 0 ← 4 (full); 1 ← 2; 2 ← 2; then 1 and 2 take a one in
    // turn until full.
    const plan = deps.plan;
    const shares = [4, 2, 2, 1, 1, 1, 1, 1, 1];
    deps.plan = (m) => {
      const p = plan(m);
      return {
        ...p,
        streams: 3,
        streamSlots: 4,
        units: p.units.map((u, i) => ({ ...u, concurrency: shares[i]! })),
      };
    };
    const { tasks, firstUnits } = recordStarts(deps);
    expect(await startJob(trigger, deps)).toMatchObject({ status: "started", units: 9, streams: 3 });
    expect(tasks.map((t) => t.units)).toEqual([[0], [1, 3, 5], [2, 4, 6]]);
    // Units 7 and 8 are left to the claims: the cursor starts at 7.
    expect(firstUnits).toEqual([7]);
  });

  it("drops a stale copy of a piece already committed: nothing written twice", async () => {
    const { deps, job } = setup({ mailboxes: 4 });
    deps.pieceMailboxes = 2;
    await startJob(trigger, deps);
    const plans = job.plans;
    expect(await runDiscovery({ kind: "discover", jobId: "J1", piece: 0 }, deps)).toEqual({
      status: "stale",
      jobId: "J1",
    });
    expect(job.plans).toBe(plans);
  });

  it("resumes after a crash before a piece's commit: the piece is done again at the same indexes, nothing lost or twice", async () => {
    const { deps, job, planned } = setup({ mailboxes: 6, crashBeforeCommit: [1] });
    deps.pieceMailboxes = 2;
    await expect(startJob(trigger, deps)).rejects.toBeInstanceOf(RetryableError);
    // Piece 0 is committed; piece 1's units are written but not claimable.
    expect(job.unitCount).toBe(2);
    expect(job.units.size).toBe(4);
    // The sweep's re-sent continuation (or the queue's redelivery) runs piece 1 again.
    const out = await runDiscovery({ kind: "discover", jobId: "J1", piece: 1 }, deps);
    expect(out).toMatchObject({ status: "done", units: 6 });
    expect(planned()).toEqual(["u0", "u1", "u2", "u3", "u4", "u5"]);
  });

  it("resumes a job an older version left in planning (no discovery record) from its first piece", async () => {
    const { deps, job, planned } = setup({ mailboxes: 2 });
    job.status = "planning"; // created, never planned
    const out = await startJob(trigger, deps);
    expect(out).toMatchObject({ status: "started", discovery: "done", units: 2 });
    expect(planned()).toEqual(["u0", "u1"]);
  });
});

describe("unchanged folder trees", () => {
  /** A coordinator whose archive holds tree "T:<user>" for u0 and u1 (written by job J0), none for u2. */
  function withTrees(olderOpen: boolean, redo = false) {
    const { deps } = setup({ mailboxes: 3 });
    const beginPiece = deps.state.beginPiece.bind(deps.state);
    deps.state.beginPiece = async (...args) => {
      const start = await beginPiece(...args);
      return start && (redo ? { ...start, redo } : start);
    };
    const asked: Array<{ userId: string; unless?: string }> = [];
    const hashes: Array<ReadonlyMap<string, string> | undefined> = [];
    deps.state.committedFolderTree = async (userId) =>
      userId === "u2" ? undefined : { treeHash: `T:${userId}`, jobId: "J0" };
    deps.state.olderJobOpen = async (jobId) => {
      expect(jobId).toBe("J1");
      return olderOpen;
    };
    const writePiece = deps.state.writePiece.bind(deps.state);
    deps.state.writePiece = async (...args) => {
      hashes.push(args[5].folderTreeHashes);
      return writePiece(...args);
    };
    // The listing of u1 changed since J0: its tree hashes differently.
    deps.recordFolders = async (_jobId, m, _folders, opts) => {
      asked.push({ userId: m.userId, ...(opts?.unlessTreeHash ? { unless: opts.unlessTreeHash } : {}) });
      const treeHash = m.userId === "u1" ? "T:u1-renamed" : `T:${m.userId}`;
      return { treeHash, written: treeHash !== opts?.unlessTreeHash };
    };
    return { deps, asked, hashes };
  }

  /** u0's and u1's trees asked for unless unchanged since J0, u2's always; u1's and u2's written. */
  function expectOnlyChangedTreesWritten(
    asked: Array<{ userId: string; unless?: string }>,
    hashes: Array<ReadonlyMap<string, string> | undefined>,
  ) {
    expect(asked.sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
      { userId: "u0", unless: "T:u0" },
      { userId: "u1", unless: "T:u1" },
      { userId: "u2" },
    ]);
    expect([...(hashes[0] ?? new Map())].sort()).toEqual([
      ["u1", "T:u1-renamed"],
      ["u2", "T:u2"],
    ]);
  }

  it("asks for a tree to be written only when it differs from the archive's, and records the hashes of the trees written", async () => {
    const { deps, asked, hashes } = withTrees(false);
    expect(await startJob(trigger, deps)).toMatchObject({ status: "started", units: 3 });
    expectOnlyChangedTreesWritten(asked, hashes);
  });

  it("reads each mailbox's sync states and tree at once when the state port offers it", async () => {
    const { deps, asked, hashes } = withTrees(false);
    const discoveries: Array<Parameters<typeof deps.state.writePiece>[5]> = [];
    const writePiece = deps.state.writePiece.bind(deps.state);
    deps.state.writePiece = async (...args) => {
      discoveries.push(args[5]);
      return writePiece(...args);
    };
    const apart = async (): Promise<never> => {
      throw new Error("expected the mailbox's state read at once, found a read of one part");
    };
    deps.state.syncedFolderIds = apart;
    deps.state.syncedItemFolderIds = apart;
    deps.state.committedFolderTree = apart;
    const read: string[] = [];
    deps.state.committedMailbox = async (userId) => {
      read.push(userId);
      return {
        syncedFolderIds: new Set([`m-${userId}`]),
        syncedItemFolderIds: new Set([`i-${userId}`]),
        ...(userId === "u2" ? {} : { folderTree: { treeHash: `T:${userId}`, jobId: "J0" } }),
      };
    };
    expect(await startJob(trigger, deps)).toMatchObject({ status: "started", units: 3 });
    expect(read.sort()).toEqual(["u0", "u1", "u2"]);
    expectOnlyChangedTreesWritten(asked, hashes);
    expect([...(discoveries[0]?.syncedFolderIds.get("u1") ?? [])]).toEqual(["m-u1"]);
    expect([...(discoveries[0]?.syncedItemFolderIds?.get("u2") ?? [])]).toEqual(["i-u2"]);
  });

  it.each([
    ["an older job is open (it could still write or finalize another)", true, false],
    ["the piece is done again (its first delivery may have written a tree of a moment before)", false, true],
  ])("writes every tree while %s", async (_when, olderOpen, redo) => {
    const { deps, asked, hashes } = withTrees(olderOpen, redo);
    expect(await startJob(trigger, deps)).toMatchObject({ status: "started", units: 3 });
    expect(asked.map((a) => a.unless)).toEqual([undefined, undefined, undefined]);
    expect([...(hashes[0] ?? new Map()).keys()].sort()).toEqual(["u0", "u1", "u2"]);
  });
});
