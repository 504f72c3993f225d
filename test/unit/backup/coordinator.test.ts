import { describe, expect, it } from "vitest";
import { type CoordinatorDeps, startJob } from "../../../lib/backup/coordinator.js";
import type {
  CoordinatorStatePort,
  DiscoveredMailbox,
  FolderInfo,
  JobPlan,
} from "../../../lib/backup/ports.js";
import { ConfigError, RetriesExhaustedError, RetryableError, SkipError } from "../../../lib/errors.js";

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

/** Fake ports: a job store with the coordinator's rules, a directory with per-mailbox failures. */
function setup(options: { mailboxes?: number; listing?: (userId: string) => Promise<FolderInfo[]> } = {}) {
  const job = { status: "none" as string, failure: undefined as string | undefined, plans: 0 };
  const recorded: string[] = [];
  const finalized: string[] = [];
  const sent: number[] = [];
  const state: CoordinatorStatePort = {
    jobIdFor: () => "J1",
    async createJob() {
      if (job.status !== "none") return { created: false, status: job.status };
      job.status = "planning";
      return { created: true, status: "planning" };
    },
    syncedFolderIds: async () => new Set<string>(),
    async writePlan(_jobId, _plan, discovery) {
      if (job.status !== "planning") return false;
      job.plans++;
      (job as { skipped?: unknown }).skipped = discovery.skipped;
      return true;
    },
    async setJobStatus(_jobId, status) {
      job.status = status;
    },
    async failPlanning(_jobId, reason) {
      if (job.status !== "planning") return false;
      job.status = "finalizing";
      job.failure = reason;
      return true;
    },
  };
  const deps: CoordinatorDeps = {
    directory: {
      discover: async () => ({
        mailboxes: Array.from({ length: options.mailboxes ?? 3 }, (_, i) => mailbox(i)),
        skipped: [],
      }),
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
    },
    recordFolders: async (_jobId, m) => {
      recorded.push(m.userId);
    },
    finalizeJob: async (jobId) => {
      finalized.push(jobId);
    },
  };
  return { deps, job, recorded, finalized, sent };
}

const trigger = { kind: "on-demand" as const, time: "2026-12-01T00:00:00.000Z" };

describe("startJob: planning that survives its faults", () => {
  it("records and skips a mailbox whose listing keeps failing (retry budget spent), and plans the others", async () => {
    const { deps, job, recorded } = setup({
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
    const out = await startJob(trigger, deps);
    expect(out.status).toBe("started");
    if (out.status !== "started") return;
    expect(out.plan.units.map((u) => u.mailboxId)).toEqual(["u0", "u2"]);
    expect(out.skipped).toEqual([
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
    const { deps } = setup({
      listing: async (userId) => {
        if (userId === "u0")
          throw new RetryableError("429; Retry-After 600000 ms", { retryAfterMs: 600_000 });
        if (userId === "u2") throw new SkipError("mailbox gone");
        return [folder(`${userId}-inbox`)];
      },
    });
    const out = await startJob(trigger, deps);
    expect(out.status).toBe("started");
    if (out.status !== "started") return;
    expect(out.skipped.map((s) => s.userId).sort()).toEqual(["u0", "u2"]);
  });

  it("closes the job failed with one line naming what to fix when the credentials are refused", async () => {
    const { deps, job, finalized, sent } = setup();
    deps.directory.discover = async () => {
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
    deps.directory.discover = async () => {
      throw new RetryableError("state table: expected DynamoDB to answer");
    };
    await expect(startJob(trigger, deps)).rejects.toBeInstanceOf(RetryableError);
    expect(job.status).toBe("planning");
    expect(finalized).toEqual([]);
    // The trigger delivered again plans the same job.
    deps.directory.discover = async () => ({ mailboxes: [mailbox(0)], skipped: [] });
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
