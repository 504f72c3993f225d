import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningEmulators, startEmulators } from "../lib/dev/local/emulators.js";
import { runBeside } from "./beside.js";
import { BUDGET_TENANT, type BudgetFigures, benchBudgetInItsOwnProcess } from "./budget.js";
import { benchChaos, type ChaosBenchResult } from "./chaos.js";
import type { ControllerRssResult } from "./controller-rss.js";
import { costSummary } from "./cost/summary.js";
import { benchDense, DENSE_OTHER_MODES, type DenseFigures } from "./dense.js";
import {
  benchGiantByMode,
  GIANT_MODES,
  GIANT_MODES_STREAMS,
  type GiantByMode,
  giantModesLine,
} from "./giant-modes.js";
import { type MachineProbe, probeMachine } from "./machine-probe.js";
import { inItsOwnProcess } from "./own-process.js";
import { benchScale, SCALE_SIZES, type ScaleRow } from "./scale.js";
import {
  CONTROLLER_PROCESSES,
  controllerProcessesFor,
  DENSE,
  HARNESS_NODE_FLAGS,
  LATENCY,
  LIMITS,
  SHAPES,
  STREAM_COUNTS,
} from "./settings.js";
import { type BenchRow, benchOne, closeControllerPools, startRig, stopRig } from "./shape-runs.js";
import { trustBenchCa } from "./sim-process.js";
import { rightAlignedTable } from "./table.js";

const here = dirname(fileURLToPath(import.meta.url));

/** `--reports=DIR`: where each full backup's job report is written (none by default). */
const reportsDir = process.argv.find((a) => a.startsWith("--reports="))?.slice("--reports=".length);
if (reportsDir) mkdirSync(reportsDir, { recursive: true });

/**
 * `--rss-units-per-stream=K`: the rss step also measures a controller running K units at once
 * (`streams.unitsPerStream`; about a minute more, so not in the default run). Default none.
 */
const rssUnitsPerStream = process.argv
  .find((a) => a.startsWith("--rss-units-per-stream="))
  ?.slice("--rss-units-per-stream=".length);

/**
 * The controller RSS measurement (bench/controller-rss.ts) run as a process of its own, so that
 * nothing this long benchmark left behind (emulators, sockets, heap) touches it.
 */
function controllerRssInItsOwnProcess(): Promise<ControllerRssResult> {
  return inItsOwnProcess<ControllerRssResult>(
    join(here, "controller-rss.ts"),
    rssUnitsPerStream ? [`--also-units-per-stream=${rssUnitsPerStream}`] : [],
    // Its figure is the controller child's peak RSS, which counts this parent's resident set at
    // the fork: the parent keeps V8's default young generation, as before the harness's flags.
    HARNESS_NODE_FLAGS,
  );
}

const f = (n: number, d = 2) => n.toFixed(d);

function parseMailContent(given: string | undefined): "mime" | "fidelity" | "both" {
  if (given === undefined) return "fidelity";
  if (given === "mime" || given === "fidelity" || given === "both") return given;
  throw new Error(`--mail-content: expected mime, fidelity or both, found '${given}'`);
}

/** The steps of a whole run, in their order (the scale runs are apart: `--scale`). */
const ALL_STEPS = ["shapes", "giant-modes", "dense", "budget", "rss", "chaos"];

/** The file a run updates, or nothing when there is none yet. */
function readPrevious(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function withoutCost(dense: DenseFigures): Omit<DenseFigures, "cost"> {
  const { cost: _cost, ...rest } = dense;
  return rest;
}

/**
 * Writes one section of the results file and keeps the others (a run of one section must not
 * wipe the figures of the last full run); `sectionsRanAt` records when each section ran.
 */
function writeSection(out: string, section: string, figures: unknown): void {
  const previous = readPrevious(out);
  const ranAt = { ...(previous.sectionsRanAt as Record<string, string> | undefined) };
  ranAt[section] = new Date().toISOString();
  writeFileSync(
    out,
    `${JSON.stringify({ ...previous, [section]: figures, sectionsRanAt: ranAt }, null, 2)}\n`,
  );
}

/** The full backup's CPU seconds by process, and where the controllers ran. */
function cpuLine(row: BenchRow): string {
  const c = row.fullCpuSeconds;
  if (!c) return "";
  const where = row.controllerProcesses
    ? `${row.controllerProcesses} controller processes`
    : "controllers in process";
  const w = row.fullRunQueueWaitSeconds;
  const waits = w
    ? `; main threads waiting for a core s: harness ${w.harness.toFixed(2)}, controllers ${w.controllers.toFixed(2)}, simulator ${w.simulator.toFixed(2)}`
    : "";
  return `  full backup CPU s (${where}): harness ${c.harness.toFixed(2)}, controllers ${(c.controllers ?? 0).toFixed(2)}, simulator ${c.simulator.toFixed(2)}, DynamoDB Local ${c.dynamodb.toFixed(2)}${waits}`;
}

function printTable(rows: BenchRow[]): void {
  const head = [
    "shape",
    "N",
    "makespan s",
    "plan s",
    "backup s",
    "final s",
    "LB s",
    "mk/LB",
    "bk/LB",
    "items/s",
    "MB/s",
    "req/item",
    "429s",
    "early",
    "idle%",
    "inc bk s",
    "inc req/chg",
    "unchg req",
    "folders+mbx",
  ];
  const lines = rows.map((r) => [
    r.shape,
    String(r.streams),
    f(r.full.makespanSeconds),
    f(r.full.planningSeconds),
    f(r.full.backupSeconds),
    f(r.full.finalizingSeconds),
    f(r.lowerBoundSeconds),
    f(r.full.makespanOverLowerBound),
    f(r.full.backupOverLowerBound),
    f(r.full.itemsPerSecond, 1),
    f(r.full.megabytesPerSecond),
    f(r.full.requestsPerItem, 3),
    String(r.full.throttled + (r.incremental?.throttled ?? 0)),
    String(r.full.earlyRetries + (r.incremental?.earlyRetries ?? 0)),
    f(100 * r.full.streamIdleShare, 0),
    r.incremental ? f(r.incremental.backupSeconds) : "-",
    r.incremental ? f(r.incremental.requestsPerChangedItem) : "-",
    r.unchanged ? String(r.unchanged.requests) : "-",
    r.unchanged ? `${r.unchanged.folders}+${r.unchanged.mailboxes}` : "-",
  ]);
  process.stdout.write(`${rightAlignedTable(head, lines)}\n`);
}

function printDense(byMode: Record<string, DenseFigures>): void {
  const fidelity = byMode.fidelity;
  const modes = Object.entries(byMode)
    .map(
      ([mode, d]) =>
        `${mode} ${d.requestsPerItem.toFixed(3)} requests/item, makespan ${d.makespanSeconds.toFixed(1)} s` +
        (d.ranBeside ? ` (beside ${d.ranBeside.join(", ")})` : ""),
    )
    .join("; ");
  process.stdout.write(
    `dense tenant by content mode (${fidelity?.items ?? "?"} items of every kind): ${modes} (target: fidelity ≤ 0.10)\n`,
  );
  for (const [mode, d] of Object.entries(byMode))
    process.stdout.write(
      `  ${mode} requests/item by kind: ${Object.entries(d.byKind)
        .map(
          ([kind, k]) =>
            `${kind} ${k.requestsPerItem?.toFixed(3) ?? "n/a"} (${k.requests.toFixed(1)}/${k.items})`,
        )
        .join(", ")}\n`,
    );
}

function budgetLine(b: BudgetFigures): string {
  return (
    `budget-bound (${b.mailboxes} mailboxes of ${b.requestsPerMailbox.join(", ")} requests, ${b.latencyMs} ms per request, ` +
    `${b.limits.budgetPerWindow} per ${b.limits.windowMs / 1000} s, content mode ${b.mailContent}): makespan ${f(b.full.makespanSeconds)} s, ` +
    `LB ${f(b.lowerBoundSeconds)} s, mk/LB ${f(b.makespanOverLowerBound)} (target ≤ 1.15), ` +
    `${b.full.throttled} 429s in ${b.full.requests} requests (${f(100 * b.throttledShare)} %, target ≤ 1 %), ${b.full.earlyRetries} early`
  );
}

function printScaleRow(r: ScaleRow): void {
  const head = [
    "mailboxes",
    "plan s",
    "1st streams s",
    "invocations",
    "longest s",
    "pieces",
    "largest piece",
    "heap MiB",
    "RSS MiB",
    "live MiB/piece",
    "disc req",
    "disc trips",
    "state/mbx",
    "makespan s",
    "LB s",
    "mk/LB",
    "max piece/inv",
  ];
  const line = [
    String(r.mailboxes),
    f(r.planningSeconds),
    f(r.firstStreamsSeconds),
    String(r.coordinatorInvocations),
    f(r.longestInvocationSeconds),
    String(r.pieces),
    String(r.largestPiece),
    f(r.coordinatorPeakHeapBytes / 1024 / 1024, 1),
    f(r.coordinatorPeakRssBytes / 1024 / 1024, 1),
    r.liveHeapGrowthPerPieceBytes === null ? "-" : f(r.liveHeapGrowthPerPieceBytes / 1024 / 1024, 1),
    String(r.discoveryRequests),
    r.discoveryRoundTrips === null ? "-" : String(r.discoveryRoundTrips),
    f(r.stateRequestsPerMailbox),
    r.full ? f(r.full.makespanSeconds) : "-",
    f(r.lowerBoundSeconds),
    r.makespanOverLowerBound === null ? "-" : f(r.makespanOverLowerBound),
    String(r.largestPiecePerInvocation),
  ];
  process.stdout.write(`${rightAlignedTable(head, [line])}\n`);
  // After the job: finalizing it, then the search index brought up to it.
  const phases = [
    ["finalizing", r.finalizing],
    ["index after job", r.indexAfterJob],
  ] as const;
  const rows = phases.flatMap(([name, p]) =>
    p
      ? [
          [
            p.invocations > 1 ? `${name} (${p.invocations} invocations)` : name,
            f(p.seconds),
            f((p.seconds / r.mailboxes) * 1000),
            f(p.stateRequestsPerMailbox),
            f(p.s3RequestsPerMailbox),
            `${p.store.put} put, ${p.store.get} get, ${p.store.getRange} range, ${p.store.head} head, ${p.store.list} list (${p.store.listedKeys} keys)`,
          ],
        ]
      : [],
  );
  if (rows.length > 0) {
    const after = ["after the job", "s", "ms/mbx", "state req/mbx", "S3 req/mbx", "archive operations"];
    process.stdout.write(`${rightAlignedTable(after, rows)}\n`);
  }
  const ip = r.indexPieces;
  if (ip) {
    process.stdout.write(
      `index pieces: ${ip.pieces} in ${ip.invocations} invocation(s), largest ${f(ip.largestPieceSeconds)} s (at most ${ip.mailboxesPerPiece} mailboxes, ${ip.rowsPerPiece} rows a piece), ${f(ip.rowsPerSecond)} rows/s, ${f(ip.mailboxesPerSecond)} mailboxes/s, ${f(ip.cpuMillisecondsPerMailbox)} CPU ms/mailbox, ${ip.mailboxesPerInvocation} mailboxes per invocation\n`,
    );
  }
}

async function main(): Promise<void> {
  const { ca, caDir } = await trustBenchCa();
  const only = process.argv
    .find((a) => a.startsWith("--shapes="))
    ?.slice("--shapes=".length)
    .split(",")
    .filter(Boolean);
  const counts = process.argv
    .find((a) => a.startsWith("--streams="))
    ?.slice("--streams=".length)
    .split(",")
    .map(Number);
  /**
   * `--steps=shapes,giant-modes,dense,budget,rss,chaos`: the steps to run (default all: shapes,
   * giant-modes and dense's fidelity run alone, then dense's other modes, budget, chaos and rss
   * beside each other); `--budget` is `--steps=budget`. `--sequential`: the steps that run
   * beside each other one after another instead (a comparison run; about 3 minutes more).
   */
  const sequential = process.argv.includes("--sequential");
  /** `--mail-content=mime|fidelity|both`: the content mode of the shapes step (default fidelity, the configuration's). */
  const shapesMailContent = parseMailContent(
    process.argv.find((a) => a.startsWith("--mail-content="))?.slice("--mail-content=".length),
  );
  const steps = new Set(
    process.argv
      .find((a) => a.startsWith("--steps="))
      ?.slice("--steps=".length)
      .split(",")
      .filter(Boolean) ?? (process.argv.includes("--budget") ? ["budget"] : ALL_STEPS),
  );
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  // The machine's speed before the steps and after them (see machine-probe.ts).
  const machineProbe: { start: MachineProbe; end?: MachineProbe } = { start: probeMachine() };
  const rows: BenchRow[] = [];
  const out =
    process.argv.find((a) => a.startsWith("--out="))?.slice("--out=".length) ??
    join(here, "results", "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  // A run of some steps keeps the figures of the others from the file it updates.
  const previous = readPrevious(out);
  const ranAt = { ...(previous.sectionsRanAt as Record<string, string> | undefined) };
  // Each step's wall time (s), as `sectionsRanAt`: the steps not run keep their earlier figure.
  const stepSeconds = { ...(previous.stepSeconds as Record<string, number> | undefined) };
  let stepStarted = Date.now();
  const stepDone = (step: string) => {
    stepSeconds[step] = (Date.now() - stepStarted) / 1000;
    stepStarted = Date.now();
  };
  // Written after every run, so that an interrupted benchmark still leaves its figures.
  let dense: DenseFigures | undefined;
  let denseByMode: Record<string, DenseFigures> | undefined;
  let chaos: ChaosBenchResult | undefined;
  // `ranBeside`: the steps that ran at the same time (bench/beside.ts); absent: it ran alone.
  let rss: (ControllerRssResult & { ranBeside?: string[] }) | undefined;
  let budget: BudgetFigures | undefined;
  let giantByMode: GiantByMode | undefined;
  const save = () => {
    const uniform1 = rows.find((r) => r.shape === "uniform" && r.streams === 1);
    const uniform16 = rows.find((r) => r.shape === "uniform" && r.streams === 16);
    const now = new Date().toISOString();
    const fresh: Record<string, unknown> = {};
    if (rows.length > 0) {
      fresh.rows = rows;
      fresh.speedupUniform16Over1 =
        uniform1 && uniform16 ? uniform16.full.itemsPerSecond / uniform1.full.itemsPerSecond : null;
      ranAt.shapes = now;
    }
    if (dense) {
      fresh.dense = { spec: DENSE, ...withoutCost(dense) };
      fresh.cost = dense.cost;
      if (denseByMode)
        fresh.denseByMode = Object.fromEntries(
          Object.entries(denseByMode).map(([mode, d]) => [mode, withoutCost(d)]),
        );
      ranAt.dense = now;
    }
    if (giantByMode) {
      fresh.giantByMode = giantByMode;
      ranAt["giant-modes"] = now;
    }
    if (budget) {
      fresh.budget = { spec: BUDGET_TENANT, ...budget };
      ranAt.budget = now;
    }
    if (rss) {
      fresh.controllerRss = rss;
      ranAt.rss = now;
    }
    if (chaos) {
      fresh.chaos = chaos;
      ranAt.chaos = now;
    }
    const result = {
      ...previous,
      ranAt: now,
      // Every step of the benchmark ran in this run.
      complete: ALL_STEPS.every((s) => (ranAt[s] ?? "") >= startedAt),
      wallSeconds: (Date.now() - started) / 1000,
      node: process.version,
      cpus: cpus().length,
      latency: LATENCY,
      limits: LIMITS,
      shapes: SHAPES,
      // The shapes rows each say where their controllers ran (`controllerProcesses`).
      controllerProcesses: CONTROLLER_PROCESSES,
      machineProbe,
      ...fresh,
      sectionsRanAt: ranAt,
      stepSeconds,
    } as Record<string, unknown> & { speedupUniform16Over1?: number | null; wallSeconds: number };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  // `--scale`: the tenant-scale runs alone (not in the default run: they take many minutes), their
  // figures in the output file's `scale`. `--scale-sizes=1000,10000` chooses the sizes.
  if (process.argv.includes("--scale")) {
    const sizes =
      process.argv
        .find((a) => a.startsWith("--scale-sizes="))
        ?.slice("--scale-sizes=".length)
        .split(",")
        .map(Number) ?? SCALE_SIZES;
    // `--scale-planning-only`: the coordinator's invocation of each size, not the backup.
    const planningOnly = process.argv.includes("--scale-planning-only");
    const section = planningOnly ? "scalePlanning" : "scale";
    const scale = await benchScale(
      ca,
      caDir,
      sizes,
      (row, sofar) => {
        printScaleRow(row);
        writeSection(out, section, sofar);
      },
      planningOnly,
    );
    writeSection(out, section, scale);
    process.stdout.write(`growth per mailbox, largest over smallest: ${JSON.stringify(scale.growth)}\n`);
    process.stdout.write(`wrote the ${section} section of ${out}\n`);
    return;
  }
  // One pair of AWS emulators for the shapes, giant-modes and dense steps: every run has a state
  // table, queue and archive of its own, so the runs stay apart without a pair each.
  // (A promise: steps run beside each other may ask for the pair at the same time.)
  let emulators: Promise<RunningEmulators> | undefined;
  const sharedEmulators = () => {
    emulators ??= startEmulators({});
    return emulators;
  };
  const stopSharedEmulators = async () => {
    await closeControllerPools();
    const running = emulators;
    emulators = undefined;
    await (await running?.catch(() => undefined))?.stop();
  };
  try {
    await sharedSteps();
  } finally {
    await stopSharedEmulators();
  }
  async function sharedSteps(): Promise<void> {
    for (const shape of steps.has("shapes") ? (only ?? Object.keys(SHAPES)) : []) {
      const shapeStarted = Date.now();
      const rig = await startRig(shape, ca, caDir, undefined, await sharedEmulators());
      try {
        for (const streams of counts ?? STREAM_COUNTS) {
          process.stderr.write(`bench: ${shape} N=${streams} …\n`);
          rows.push(
            await benchOne(rig, streams, {
              reportsDir,
              mailContent: shapesMailContent,
              controllerProcesses: controllerProcessesFor(streams),
            }),
          );
          printTable(rows.slice(-1));
          process.stdout.write(`${cpuLine(rows.at(-1) as BenchRow)}\n`);
          save();
        }
      } finally {
        await stopRig(rig);
      }
      stepSeconds[`shapes.${shape}`] = (Date.now() - shapeStarted) / 1000;
    }
    if (steps.has("shapes")) stepDone("shapes");
    if (steps.has("giant-modes")) {
      process.stderr.write(
        `bench: the giant shape at N=${GIANT_MODES_STREAMS} in content modes ${GIANT_MODES.join(" and ")} …\n`,
      );
      giantByMode = await benchGiantByMode(ca, caDir, reportsDir, await sharedEmulators());
      process.stdout.write(`${giantModesLine(giantByMode)}\n`);
      save();
    }
    if (steps.has("giant-modes")) stepDone("giant-modes");
    stepStarted = Date.now();
    if (steps.has("dense")) {
      process.stderr.write(
        "bench: the dense tenant in content mode fidelity: requests per item and measured cost …\n",
      );
      // The default mode alone: its cost counts the controllers' Lambda time.
      dense = await benchDense(ca, caDir, "fidelity", { emulators: await sharedEmulators() });
      denseByMode = { fidelity: dense };
      save();
      stepSeconds["dense.fidelity"] = (Date.now() - stepStarted) / 1000;
    }
    await besideSteps();
  }
  /**
   * The steps whose figures are counts, correctness or a process's memory, or whose time is mostly
   * waiting, at the same time (bench/beside.ts; `--sequential`: one after another): the dense
   * tenant's other content modes (requests per item; a simulator each), the budget-bound run (its
   * windows; a process of its own), chaos (nothing lost) and the controller's peak RSS (a process
   * of its own; 150.9–154.3 MiB at load 8–11, 152.3 quiet). Each records the steps beside it
   * (`ranBeside`).
   */
  async function besideSteps(): Promise<void> {
    const denseStarted = stepStarted;
    let denseEnded = Date.now();
    const besideStarted = Date.now();
    const work: Record<string, () => Promise<unknown>> = {};
    if (steps.has("dense"))
      for (const mode of DENSE_OTHER_MODES)
        work[`dense.${mode}`] = async () => {
          const figures = await benchDense(ca, caDir, mode, {
            emulators: await sharedEmulators(),
            fullOnly: true,
          });
          denseByMode = { ...denseByMode, [mode]: figures };
          denseEnded = Date.now();
          return figures;
        };
    if (steps.has("budget"))
      work.budget = async () => {
        // A process of its own, whose timers no other step's controllers delay.
        budget = await benchBudgetInItsOwnProcess(await sharedEmulators());
        process.stdout.write(`${budgetLine(budget)}\n`);
        save();
        return budget;
      };
    if (steps.has("chaos"))
      work.chaos = async () => {
        chaos = await benchChaos(ca);
        return chaos;
      };
    if (steps.has("rss"))
      work.rss = async () => {
        rss = await controllerRssInItsOwnProcess();
        save();
        return rss;
      };
    if (Object.keys(work).length === 0) return;
    process.stderr.write(
      `bench: ${sequential ? "one after another" : "beside each other"}: ${Object.keys(work).join(", ")} …\n`,
    );
    const outcomes = await runBeside(work, { sequential });
    for (const [step, outcome] of Object.entries(outcomes)) {
      stepSeconds[step] = outcome.seconds;
      if (outcome.ranBeside.length === 0) continue;
      if (step.startsWith("dense.")) {
        const mode = step.slice("dense.".length);
        const figures = denseByMode?.[mode];
        if (figures) figures.ranBeside = outcome.ranBeside;
      }
      if (step === "budget" && budget) budget.ranBeside = outcome.ranBeside;
      if (step === "chaos" && chaos) chaos.ranBeside = outcome.ranBeside;
      if (step === "rss" && rss) rss = { ...rss, ranBeside: outcome.ranBeside };
    }
    if (sequential || Object.keys(work).length < 2) delete stepSeconds.beside;
    else stepSeconds.beside = (Date.now() - besideStarted) / 1000;
    if (steps.has("dense")) {
      // From the fidelity run's start to the last mode's end.
      stepSeconds.dense = (denseEnded - denseStarted) / 1000;
      printDense(denseByMode ?? {});
    }
    save();
  }
  const endProbe = probeMachine();
  machineProbe.end = endProbe;
  const result = save();
  process.stdout.write("\n");
  if (rows.length > 0) printTable(rows);
  process.stdout.write(
    (rows.length > 0
      ? `\nuniform items/s N=16 / N=1: ${result.speedupUniform16Over1?.toFixed(2) ?? "n/a"} (target ≥ 12)\n`
      : "\n") +
      (dense
        ? `dense tenant (${dense.mailboxes} mailboxes, ${dense.folders} folders, ${dense.items} items): ` +
          `${dense.requestsPerItem.toFixed(3)} requests per item in content mode fidelity (target ≤ 0.10), ${dense.unchangedRequests} requests with nothing changed\n` +
          (dense.cost ? `${costSummary(dense.cost)}\n` : "")
        : "") +
      (rss
        ? `controller peak RSS with a ${(rss.messageBytes / 1024 / 1024).toFixed(0)} MiB message: ${(rss.maxRssBytes / 1024 / 1024).toFixed(0)} MiB ` +
          `(target ≤ 200 MB), ${rss.status}\n`
        : "") +
      (chaos
        ? `chaos: ${chaos.kills} kills, archive ${chaos.archiveEqualsTruth ? "equal to" : "DIFFERENT from"} the ground truth, ` +
          `${chaos.duplicates} duplicates, ${chaos.openJobs} open jobs, ${chaos.processesLeft} processes left\n`
        : "") +
      `wall time ${result.wallSeconds.toFixed(0)} s (${[...steps].map((step) => `${step} ${stepSeconds[step]?.toFixed(0) ?? "?"} s`).join(", ")}` +
      `${stepSeconds.beside !== undefined && !sequential ? `; dense's other modes, budget, chaos and rss beside each other: ${stepSeconds.beside.toFixed(0)} s` : ""})\n`,
  );
  process.stdout.write(
    `machine probe (fixed CPU work, machine-probe.ts): ${machineProbe.start.cpuMs.toFixed(0)} CPU ms at the start, ${endProbe.cpuMs.toFixed(0)} at the end\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
