/**
 * `npm run bench:cli`: how fast the `mailstream` command starts, against a bare `node` start on
 * the same machine at the same time. Runs, interleaved so that load changes hit all alike:
 * `node -e 0`, `mailstream --help`, and `mailstream jobs` / `ls` on a small archive (the stored
 * test/fixtures/archive-v1: 3 mailboxes, 2 jobs), and for comparison `--help` run from the
 * TypeScript through tsx; each `--runs=N` times (default 15). Prints the
 * medians and their ratio to bare node, writes bench/results/cli-start.json (or `--out=FILE`).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, "..", "bin", "mailstream.js");
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const runs = Number(arg("runs") ?? 15);
const out = arg("out") ?? join(here, "results", "cli-start.json");

const work = mkdtempSync(join(tmpdir(), "cli-start-"));
const archive = join(work, "archive");
cpSync(join(here, "..", "test", "fixtures", "archive-v1", "archive"), archive, { recursive: true });

const cases: Record<string, string[]> = {
  "node -e 0": ["-e", "0"],
  "mailstream --help": [bin, "--help"],
  "mailstream jobs": [bin, "jobs", "-a", archive],
  "mailstream ls": [bin, "ls", "-a", archive],
  // For comparison: the same (now lazily loading) main.ts run from TypeScript through tsx. Before
  // the compiled CLI every start went this way and loaded every command: about 3 s idle, 23×.
  "--help through tsx": ["--import", "tsx", join(here, "..", "lib", "cli", "main.ts"), "--help"],
};

function once(args: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(" ")}: expected exit 0, found ${r.status}: ${r.stderr}`);
  return ms;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

try {
  // The first start builds the compiled CLI when it is missing or stale: not part of a start.
  once([bin, "--help"]);
  const times = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(cases)) times.get(name)!.push(once(args));
  }
  const bare = median(times.get("node -e 0")!);
  const rows = [...times].map(([name, ms]) => ({
    command: name,
    medianMs: Math.round(median(ms)),
    minMs: Math.round(Math.min(...ms)),
    maxMs: Math.round(Math.max(...ms)),
    overBareNode: Number((median(ms) / bare).toFixed(2)),
  }));
  const result = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    runs,
    rows,
  };
  console.log(
    `CLI start (${runs} runs each, interleaved; load ${result.loadAverage1m} on ${result.cpus} cores)`,
  );
  for (const r of rows) {
    console.log(
      `${r.command.padEnd(20)} median ${String(r.medianMs).padStart(5)} ms  (${r.minMs}–${r.maxMs})  ${r.overBareNode.toFixed(2)}× bare node`,
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
