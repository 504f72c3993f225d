/**
 * The giant shape in content mode `fidelity` against mode `mime` in one run (issue 12): one
 * simulator serves both full backups (the tenant is not mutated between them), each with a fresh
 * state table, queue and archive, at the benchmark's 400 ms per request. The targets: the
 * fidelity backup phase ≤ 0.33 × the mime one, and ≤ 1.15 × its own lower bound (LB from the
 * work each mode asks of the service, bench/figures.ts `realContent`).
 */
import type { RunningEmulators } from "../lib/dev/local/emulators.js";
import type { TenantSpec } from "../lib/dev/sim/tenant/generate.js";
import type { MailContent } from "../lib/plan/index.js";
import { SHAPES } from "./settings.js";
import { type BenchRow, benchOne, startRig, stopRig } from "./shape-runs.js";

/** The modes compared, in the order they run (`BENCH_GIANT_MODES=fidelity` runs one, for diagnosis). */
export const GIANT_MODES: readonly MailContent[] = (process.env.BENCH_GIANT_MODES ?? "fidelity,mime")
  .split(",")
  .filter((m): m is MailContent => m === "fidelity" || m === "mime" || m === "both");
/** Streams of both runs: enough for every mailbox of the shape (its giant mailbox is LB). */
export const GIANT_MODES_STREAMS = 16;

/**
 * The giant shape at the issue's scale: its giant mailbox holds about 4,800 messages (40 % of
 * the tenant's), besides its calendars, contacts and tasks. Backed up once, in mode `fidelity`
 * (mode `mime` would take about 8 minutes), to see bk/LB where the unit's start and end weigh
 * less than in the benchmark's small giant shape. `BENCH_GIANT_ISSUE_SCALE=0` leaves it out.
 */
const { subset: _giantSubset, ...giantSpec } = SHAPES.giant!;
export const GIANT_ISSUE_SCALE: TenantSpec = { ...giantSpec, totalMessages: 12_000 };
const issueScale = process.env.BENCH_GIANT_ISSUE_SCALE !== "0";

export interface GiantByMode {
  streams: number;
  byMode: Partial<Record<MailContent, BenchRow>>;
  /** Fidelity's backup phase / mime's (target ≤ 0.33). */
  fidelityOverMimeBackup: number;
  /** Fidelity's backup phase / its LB (target ≤ 1.15). */
  fidelityBackupOverLowerBound: number;
  /** Fidelity's LB / mime's: what the request model alone promises. */
  fidelityOverMimeLowerBound: number;
  /** The same shape at the issue's scale, mode `fidelity` ({@link GIANT_ISSUE_SCALE}). */
  issueScale?: { spec: TenantSpec; fidelity: BenchRow; giantMailboxItems: number };
}

export async function benchGiantByMode(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  reportsDir?: string,
  /** AWS emulators shared with the other steps. Default: a pair per rig. */
  emulators?: RunningEmulators,
): Promise<GiantByMode> {
  const rig = await startRig("giant", ca, caDir, undefined, emulators);
  const byMode: GiantByMode["byMode"] = {};
  try {
    for (const mailContent of GIANT_MODES) {
      process.stderr.write(`bench: giant N=${GIANT_MODES_STREAMS} mode ${mailContent} …\n`);
      byMode[mailContent] = await benchOne(rig, GIANT_MODES_STREAMS, {
        reportsDir,
        mailContent,
        fullOnly: true,
      });
    }
  } finally {
    await stopRig(rig);
  }
  const figures = giantModesFigures(GIANT_MODES_STREAMS, byMode);
  if (issueScale) figures.issueScale = await benchIssueScale(ca, caDir, reportsDir, emulators);
  return figures;
}

async function benchIssueScale(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  reportsDir: string | undefined,
  emulators: RunningEmulators | undefined,
): Promise<NonNullable<GiantByMode["issueScale"]>> {
  const rig = await startRig("giant-issue", ca, caDir, GIANT_ISSUE_SCALE, emulators);
  const spec = rig.spec;
  try {
    const truth = await rig.sim.groundTruth();
    const giantMailboxItems = Math.max(
      ...truth.mailboxes.map((m) => m.mailboxFolders.reduce((n, f) => n + f.items.length, 0)),
    );
    process.stderr.write(
      `bench: giant at the issue's scale (${spec.totalMessages} messages, ${giantMailboxItems} items in its giant mailbox) N=${GIANT_MODES_STREAMS} mode fidelity …\n`,
    );
    const fidelity = await benchOne(rig, GIANT_MODES_STREAMS, {
      reportsDir,
      mailContent: "fidelity",
      fullOnly: true,
    });
    return { spec, fidelity, giantMailboxItems };
  } finally {
    await stopRig(rig);
  }
}

/** The ratios of the two runs (0 where a run is missing). */
export function giantModesFigures(streams: number, byMode: GiantByMode["byMode"]): GiantByMode {
  const fidelity = byMode.fidelity;
  const mime = byMode.mime;
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? a / b : 0);
  return {
    streams,
    byMode,
    fidelityOverMimeBackup: ratio(fidelity?.full.backupSeconds, mime?.full.backupSeconds),
    fidelityBackupOverLowerBound: ratio(fidelity?.full.backupSeconds, fidelity?.lowerBoundSeconds),
    fidelityOverMimeLowerBound: ratio(fidelity?.lowerBoundSeconds, mime?.lowerBoundSeconds),
  };
}

export function giantModesLine(g: GiantByMode): string {
  const f = (n: number, d = 2) => n.toFixed(d);
  const rows = Object.entries(g.byMode).map(
    ([mode, r]) =>
      `${mode}: backup ${f(r.full.backupSeconds)} s, LB ${f(r.lowerBoundSeconds)} s, bk/LB ${f(r.full.backupOverLowerBound)}, ` +
      `${r.full.requests} requests for ${r.full.items} items (${f(r.full.requestsPerItem, 3)}/item), ${r.full.throttled} 429s`,
  );
  const issue = g.issueScale;
  const atScale = issue
    ? `; at the issue's scale (${issue.giantMailboxItems} items in the giant mailbox): fidelity backup ` +
      `${f(issue.fidelity.full.backupSeconds)} s, LB ${f(issue.fidelity.lowerBoundSeconds)} s, bk/LB ` +
      `${f(issue.fidelity.full.backupOverLowerBound)}, ${issue.fidelity.full.requests} requests for ${issue.fidelity.full.items} items`
    : "";
  return (
    `giant N=${g.streams} by content mode — ${rows.join("; ")}; fidelity/mime backup ${f(g.fidelityOverMimeBackup)} ` +
    `(target ≤ 0.33), fidelity bk/LB ${f(g.fidelityBackupOverLowerBound)} (target ≤ 1.15)${atScale}`
  );
}
