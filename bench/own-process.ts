/**
 * A benchmark script run as a process of its own, its figures read back from the JSON file it
 * writes (`--out=FILE`): for measurements that nothing else in the benchmark's process may
 * disturb (its heap, its event loop), e.g. the controller's RSS, or the budget-bound run's
 * pacing while other steps run beside it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function inItsOwnProcess<T>(
  script: string,
  args: readonly string[] = [],
  /** Node flags of this process the child does not take (matched by name, e.g. `--max-semi-space-size`). */
  withoutNodeFlags: readonly string[] = [],
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-child-"));
  const out = join(dir, "figures.json");
  try {
    // The same Node and loader (tsx) as this process, and its environment (the simulator CA).
    const nameOf = (flag: string) => flag.split("=")[0];
    const dropped = new Set(withoutNodeFlags.map(nameOf));
    const execArgv = process.execArgv.filter((flag) => !dropped.has(nameOf(flag)));
    const child = spawn(process.execPath, [...execArgv, script, `--out=${out}`, ...args], {
      stdio: ["ignore", "ignore", "inherit"],
      env: process.env,
    });
    const code: number = await new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new Error(`${script}: expected exit 0, found exit ${code}`);
    return JSON.parse(readFileSync(out, "utf8")) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
