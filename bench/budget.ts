/**
 * The budget-bound regime: Graph answers fast enough that 4 concurrent requests would spend a
 * mailbox's request budget long before its window ends. The gateway must pace each mailbox to the
 * budget (a sliding window of B requests per W + margin) instead of meeting 429s, and the job's
 * makespan must stay near the budget's lower bound: whole windows of B requests, the service's
 * window starting with the mailbox's first request (`minimumWorkSeconds` in lib/plan/cost.ts).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunningEmulators } from "../lib/dev/local/emulators.js";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import type { LatencyOptions, LimitOptions } from "../lib/dev/sim/server/index.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import { lowerBound, resolvePlanLimits } from "../lib/plan/index.js";
import { figures, type RunFigures, realContent } from "./figures.js";
import { inItsOwnProcess } from "./own-process.js";
import { PAGE_SIZE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess, trustBenchCa } from "./sim-process.js";

/**
 * 25 ms per request: 4 slots would send 160 requests/s, the budget allows 1.6/s (32 per 20 s). The
 * budget is small because the run is in content mode fidelity (the configuration's default), where
 * 20 items ride on one export request: its ~150 requests per mailbox must still fill several
 * windows for the budget, not the latency, to bind.
 */
export const BUDGET_LATENCY: LatencyOptions = { baseMs: 25, jitterMs: 0, perMimeByteNs: 0 };
export const BUDGET_LIMITS: Required<
  Pick<LimitOptions, "concurrentPerMailbox" | "budgetPerWindow" | "windowMs">
> = {
  concurrentPerMailbox: 4,
  budgetPerWindow: 32,
  windowMs: 20_000,
};
/**
 * Two mailboxes of 148 stream requests each in content mode fidelity (2,100 messages and 220
 * items of other kinds: 4.6 windows of 32): four whole windows and a last, partial one, so
 * pacing (not the tail) decides the makespan. Discovery's few requests per mailbox spend the same
 * budget (≈ 152 in all, room for 160 in five windows): they do not add a window.
 */
export const BUDGET_TENANT: TenantSpec = {
  seed: 16,
  shape: "uniform",
  mailboxes: 2,
  totalMessages: 4200,
  maxUserFolders: 2,
  largeFraction: 0,
};
/** The gateway's margin on the window (the client counts W + margin): one machine, little delay. */
const MARGIN_MS = 250;
/** The content mode of the run, and of its lower bound: the configuration's default. */
export const BUDGET_MAIL_CONTENT = "fidelity" as const;

export interface BudgetFigures {
  latencyMs: number;
  limits: typeof BUDGET_LIMITS;
  marginMs: number;
  /** The run's content mode (its lower bound counts the requests of that mode). */
  mailContent: typeof BUDGET_MAIL_CONTENT;
  mailboxes: number;
  /**
   * Stream requests per mailbox in the run's content mode (ground truth: delta pages of every
   * folder and the fewest export requests that carry the items), largest first.
   */
  requestsPerMailbox: number[];
  /** Whole windows of B requests per mailbox, from its first request (the budget's lower bound). */
  lowerBoundSeconds: number;
  makespanOverLowerBound: number;
  /** The share of requests answered 429 (target ≤ 1 %). */
  throttledShare: number;
  full: RunFigures;
  /**
   * The benchmark's steps that ran at the same time (bench/beside.ts): counting steps and chaos,
   * none of them a timing ratio; absent: it ran alone.
   */
  ranBeside?: string[];
}

/** A full backup of {@link BUDGET_TENANT} with the client paced to the simulator's budget. */
export async function benchBudget(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  /** AWS emulators shared with other steps (left running; the run's table and queue its own). Default: a pair of its own. */
  emulators?: RunningEmulators,
): Promise<BudgetFigures> {
  const sim = await startSimProcess({
    tenant: BUDGET_TENANT,
    latency: BUDGET_LATENCY,
    limits: BUDGET_LIMITS,
    ca,
    certDir: caDir,
  });
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-budget-"));
  let services: LocalServices | undefined;
  try {
    const service = {
      perRequestSeconds: (BUDGET_LATENCY.baseMs ?? 0) / 1000,
      perByteSeconds: 0,
      pageSize: PAGE_SIZE,
      mailContent: BUDGET_MAIL_CONTENT,
    };
    const content = realContent(await sim.groundTruth(), service);
    const planLimits = resolvePlanLimits({
      maxStreams: BUDGET_TENANT.mailboxes,
      perMailboxConcurrency: BUDGET_LIMITS.concurrentPerMailbox,
      budgetPerWindow: BUDGET_LIMITS.budgetPerWindow,
      windowSeconds: BUDGET_LIMITS.windowMs / 1000,
      requestLatencySeconds: service.perRequestSeconds,
      perByteSeconds: 0,
    });
    // The stream work alone (discovery's few requests per mailbox not counted): a strict bound.
    const lb = lowerBound(content.works, BUDGET_TENANT.mailboxes, planLimits);
    services = await startLocalServices(
      {
        archive: { kind: "local", path: join(dir, "archive") },
        ...(emulators ? { emulators, resourceSuffix: `-budget-${randomUUID().slice(0, 8)}` } : {}),
        streams: BUDGET_TENANT.mailboxes,
        planLimits,
        env: {
          MAILSTREAM_PER_MAILBOX_BUDGET: String(BUDGET_LIMITS.budgetPerWindow),
          MAILSTREAM_BUDGET_WINDOW_SECONDS: String(BUDGET_LIMITS.windowMs / 1000),
          MAILSTREAM_BUDGET_MARGIN_MS: String(MARGIN_MS),
          MAILSTREAM_MAIL_CONTENT: BUDGET_MAIL_CONTENT,
        },
      },
      sim.info.tenantEnv,
    );
    const c0 = await counters(sim);
    const full = await services.runJob({ refreshMs: 500 });
    const c1 = await counters(sim);
    const run = figures(full.report, c0, c1, BUDGET_TENANT.mailboxes);
    return {
      latencyMs: BUDGET_LATENCY.baseMs ?? 0,
      limits: BUDGET_LIMITS,
      marginMs: MARGIN_MS,
      mailContent: BUDGET_MAIL_CONTENT,
      mailboxes: content.works.length,
      requestsPerMailbox: content.works.map((w) => w.requests).sort((a, b) => b - a),
      lowerBoundSeconds: lb,
      makespanOverLowerBound: lb > 0 ? run.makespanSeconds / lb : 0,
      throttledShare: run.throttledShare,
      full: run,
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * {@link benchBudget} in a process of its own (`npm run bench` runs it beside other steps): its
 * gateway paces each mailbox by its own clock, and a late timer in a process shared with other
 * steps' controllers sent requests the simulator's window had not freed yet (6 429s in 310
 * requests, where alone it had none).
 */
export function benchBudgetInItsOwnProcess(
  /** AWS emulators already running (their endpoints are passed on; left running). Default: a pair of its own. */
  emulators?: RunningEmulators,
): Promise<BudgetFigures> {
  return inItsOwnProcess<BudgetFigures>(
    fileURLToPath(import.meta.url),
    emulators ? [`--endpoints=${JSON.stringify(emulators.endpoints)}`] : [],
  );
}

/** `tsx bench/budget.ts --out=FILE [--endpoints=JSON]`: the run, its figures written to FILE. */
async function main(): Promise<void> {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const out = arg("out");
  if (!out) throw new Error("bench/budget.ts: expected --out=FILE, found none");
  const endpoints = arg("endpoints");
  const { ca, caDir } = await trustBenchCa();
  const figures = await benchBudget(
    ca,
    caDir,
    endpoints ? { endpoints: JSON.parse(endpoints), stop: async () => {} } : undefined,
  );
  writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `bench budget: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
