/**
 * An A/B of harness layouts in the same minutes (issue 12, session 10): full backups of the shapes
 * at the given stream counts, alternating between variants run by run on one simulator per shape
 * (the tenant is not mutated, so every run backs up the same mailboxes), the order reversed on
 * every other repeat so that neither variant always runs first. A variant is `k<K>` (the
 * controllers in K processes of their own; `k0` in the harness process) with `-noshares` for
 * whole-mailbox units only (`BENCH_SLOT_SHARES=0`), `-fillers` for tail fillers
 * (`BENCH_TAIL_FILLERS=1`), `-lpt` for longest first (`BENCH_BALANCED_ORDER=0`), `-pack` with slot packing (`BENCH_SLOT_PACKING=1`), `-nobins` without stream bins (`BENCH_STREAM_BINS=0`) and `-o<S>` for S seconds of unit overhead (`BENCH_UNIT_OVERHEAD`). Per run: bk/LB, mk/LB and the full backup's
 * CPU seconds by process and its main threads' run-queue waits (the machine's load on the run); at
 * the end the median of each (shape, N, variant). Controller processes are kept warm from one run
 * to the next (`-cold` forks them per run).
 *
 * `npx tsx bench/layout-ab.ts --shapes=uniform,skewed,many-small --streams=16,64 --variants=k0,k2
 * --repeats=2 --out=/tmp/ab.json --mail-content=fidelity` (all optional; these are the defaults;
 * `--mail-content` is the stack's content mode for mail and LB's work model: mime, fidelity, both).
 * `--count-state`: each run also counts its state-table requests by call site
 * (`stateRequestsBySite`; costs harness CPU, so not in runs whose CPU seconds are compared).
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { startEmulators } from "../lib/dev/local/emulators.js";
import type { MailContent } from "../lib/plan/index.js";
import { type BenchRow, benchOne, closeControllerPools, startRig, stopRig } from "./shape-runs.js";
import { trustBenchCa } from "./sim-process.js";

const MAIL_CONTENTS: readonly MailContent[] = ["mime", "fidelity", "both"];

interface Variant {
  name: string;
  controllerProcesses: number;
  slotShares: boolean;
  tailFillers: boolean;
  balancedOrder: boolean;
  /** Slot packing (`BENCH_SLOT_PACKING`); on with `-pack`. */
  slotPacking: boolean;
  /** Stream bins (`BENCH_STREAM_BINS`); off with `-nobins`. */
  streamBins: boolean;
  /** The local archive writes packs (128 KiB threshold) as an S3 archive does; on with `-packs`. */
  archivePacks: boolean;
  /** First item delta pages batched (`controller.firstPageBatch` 4); off (1, as before session 15) with `-nobatch`. */
  firstPageBatch: boolean;
  /** The planner's `unitOverheadSeconds`; undefined: the bench's (bench/settings.ts). */
  unitOverheadSeconds?: number;
  /** Controller processes forked per run (`BENCH_WARM_CONTROLLERS=0`), not kept warm; on with `-cold`. */
  coldControllers: boolean;
}

/**
 * `k2` → 2 controller processes with slot shares; `k0-noshares` → in process, whole units;
 * `-fillers` → with tail fillers; `-lpt` → longest first, without the balanced start order;
 * `-o0.5` → planned with 0.5 s a unit change (`k0-lpt-o0.5` plans as main did before session 12);
 * `-pack` → with slot packing (`BENCH_SLOT_PACKING=1`; off by default, as in production);
 * `-nobatch` → every first item delta page alone (`BENCH_FIRST_PAGE_BATCH=1`, as before session 15);
 * `-nobins` → without stream bins (`BENCH_STREAM_BINS=0`, the plans before session 17);
 * `-cold` → controller processes forked for each run (`BENCH_WARM_CONTROLLERS=0`, as before
 * session 17) instead of kept warm from the shape's earlier runs.
 */
export function parseVariant(name: string): Variant {
  const m =
    /^k(\d+)(-noshares)?(-fillers)?(-lpt)?(?:-o(\d+(?:\.\d+)?))?(-pack)?(-packs)?(-nobatch)?(-nobins)?(-cold)?$/.exec(
      name,
    );
  if (!m)
    throw new Error(
      `--variants: expected k<processes>[-noshares][-fillers][-lpt][-o<seconds>][-pack][-packs][-nobatch][-nobins][-cold], found "${name}"`,
    );
  return {
    name,
    controllerProcesses: Number(m[1]),
    slotShares: m[2] === undefined,
    tailFillers: m[3] !== undefined,
    balancedOrder: m[4] === undefined,
    ...(m[5] === undefined ? {} : { unitOverheadSeconds: Number(m[5]) }),
    slotPacking: m[6] !== undefined,
    archivePacks: m[7] !== undefined,
    firstPageBatch: m[8] === undefined,
    streamBins: m[9] === undefined,
    coldControllers: m[10] !== undefined,
  };
}

interface AbRun {
  shape: string;
  streams: number;
  variant: string;
  repeat: number;
  /** The 1-minute load average when the run began. */
  loadAtStart: number;
  backupOverLowerBound: number;
  makespanOverLowerBound: number;
  backupSeconds: number;
  lowerBoundSeconds: number;
  cpuSeconds: BenchRow["fullCpuSeconds"];
  /** The main threads' run-queue waits over the full backup (s): the machine's load on the run. */
  runQueueWaitSeconds: BenchRow["fullRunQueueWaitSeconds"];
  unitRequests: BenchRow["unitRequests"];
  planUnits: number;
  /** The full backup's Graph requests (inner requests of batches each) and HTTP exchanges. */
  requests: number;
  roundTrips?: number;
  /** 429 answers the simulator gave in the full backup. */
  throttled: number;
  stateRequestsBySite?: Record<string, number>;
}

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const shapes = arg("shapes", "uniform,skewed,many-small").split(",").filter(Boolean);
  const counts = arg("streams", "16,64").split(",").map(Number);
  const variants = arg("variants", "k0,k2").split(",").map(parseVariant);
  const repeats = Number(arg("repeats", "2"));
  const out = arg("out", "/tmp/layout-ab.json");
  const countStateRequests = process.argv.includes("--count-state");
  const mailContent = arg("mail-content", "fidelity");
  if (!MAIL_CONTENTS.includes(mailContent as MailContent))
    throw new Error(`--mail-content: expected one of ${MAIL_CONTENTS.join(", ")}, found "${mailContent}"`);
  const { ca, caDir } = await trustBenchCa();
  const emulators = await startEmulators({});
  const runs: AbRun[] = [];
  const save = () =>
    writeFileSync(
      out,
      `${JSON.stringify({ ranAt: new Date().toISOString(), runs, summary: summary(runs) }, null, 2)}\n`,
    );
  try {
    for (const shape of shapes) {
      const rig = await startRig(shape, ca, caDir, undefined, emulators);
      try {
        for (let repeat = 1; repeat <= repeats; repeat++) {
          for (const streams of counts) {
            const order = repeat % 2 === 1 ? variants : [...variants].reverse();
            for (const v of order) {
              // planLimitsFor reads it at each run.
              process.env.BENCH_SLOT_SHARES = v.slotShares ? "1" : "0";
              process.env.BENCH_TAIL_FILLERS = v.tailFillers ? "1" : "0";
              process.env.BENCH_BALANCED_ORDER = v.balancedOrder ? "1" : "0";
              process.env.BENCH_SLOT_PACKING = v.slotPacking ? "1" : "0";
              process.env.BENCH_STREAM_BINS = v.streamBins ? "1" : "0";
              process.env.BENCH_ARCHIVE_PACKS = v.archivePacks ? "131072" : "";
              process.env.BENCH_FIRST_PAGE_BATCH = v.firstPageBatch ? "" : "1";
              process.env.BENCH_WARM_CONTROLLERS = v.coldControllers ? "0" : "";
              process.env.BENCH_UNIT_OVERHEAD =
                v.unitOverheadSeconds === undefined ? "" : String(v.unitOverheadSeconds);
              const loadAtStart = loadavg()[0] ?? 0;
              const row = await benchOne(rig, streams, {
                fullOnly: true,
                mailContent: mailContent as MailContent,
                controllerProcesses: Math.min(streams, v.controllerProcesses),
                countStateRequests,
              });
              const run: AbRun = {
                shape,
                streams,
                variant: v.name,
                repeat,
                loadAtStart,
                backupOverLowerBound: row.full.backupOverLowerBound,
                makespanOverLowerBound: row.full.makespanOverLowerBound,
                backupSeconds: row.full.backupSeconds,
                lowerBoundSeconds: row.lowerBoundSeconds,
                cpuSeconds: row.fullCpuSeconds,
                runQueueWaitSeconds: row.fullRunQueueWaitSeconds,
                unitRequests: row.unitRequests,
                planUnits: row.planUnits,
                requests: row.full.requests,
                throttled: row.full.throttled,
                ...(row.full.roundTrips !== undefined ? { roundTrips: row.full.roundTrips } : {}),
                ...(row.stateRequestsBySite ? { stateRequestsBySite: row.stateRequestsBySite } : {}),
              };
              runs.push(run);
              const c = run.cpuSeconds;
              const w = run.runQueueWaitSeconds;
              process.stdout.write(
                `${shape} N=${streams} ${v.name} #${repeat} load ${loadAtStart.toFixed(1)}: bk/LB ${run.backupOverLowerBound.toFixed(2)} mk/LB ${run.makespanOverLowerBound.toFixed(2)} (LB ${run.lowerBoundSeconds.toFixed(2)} s) CPU s harness ${c?.harness.toFixed(2)} controllers ${(c?.controllers ?? 0).toFixed(2)} simulator ${c?.simulator.toFixed(2)} DynamoDB ${c?.dynamodb.toFixed(2)}; requests ${run.requests}, HTTP exchanges ${run.roundTrips ?? "?"}, 429s ${run.throttled}; run-queue wait s harness ${w?.harness.toFixed(2)} controllers ${w?.controllers.toFixed(2)} simulator ${w?.simulator.toFixed(2)}\n`,
              );
              save();
            }
          }
        }
      } finally {
        await stopRig(rig);
      }
    }
  } finally {
    await closeControllerPools();
    await emulators.stop();
  }
  save();
  for (const s of summary(runs)) process.stdout.write(`${JSON.stringify(s)}\n`);
}

/** Medians per shape, N and variant. */
function summary(runs: readonly AbRun[]) {
  const groups = new Map<string, AbRun[]>();
  for (const r of runs) {
    const key = `${r.shape} ${r.streams} ${r.variant}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as AbRun;
    const cpu = (pick: (c: NonNullable<AbRun["cpuSeconds"]>) => number) =>
      median(g.map((r) => (r.cpuSeconds ? pick(r.cpuSeconds) : 0)));
    return {
      shape: first.shape,
      streams: first.streams,
      variant: first.variant,
      runs: g.length,
      bkOverLb: median(g.map((r) => r.backupOverLowerBound)),
      bkOverLbEach: g.map((r) => Number(r.backupOverLowerBound.toFixed(2))),
      mkOverLb: median(g.map((r) => r.makespanOverLowerBound)),
      cpuHarness: cpu((c) => c.harness),
      cpuControllers: cpu((c) => c.controllers ?? 0),
      cpuSimulator: cpu((c) => c.simulator),
      cpuDynamodb: cpu((c) => c.dynamodb),
      waitHarnessAndControllers: median(
        g.map((r) =>
          r.runQueueWaitSeconds ? r.runQueueWaitSeconds.harness + r.runQueueWaitSeconds.controllers : 0,
        ),
      ),
      requests: median(g.map((r) => r.requests)),
      roundTrips: median(g.map((r) => r.roundTrips ?? 0)),
    };
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `layout-ab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
