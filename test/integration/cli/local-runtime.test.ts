/**
 * The local runtime as one unit (issue 11): what interrupted runs left in the archive is removed
 * at start; a second `mailstream run` on the same data folder is refused with the holder's pid;
 * and every process of a run (the CLI, a re-executed worker if any, DynamoDB Local's watchdog and
 * JVM) dies with the command, whether it is ended by SIGTERM or killed by SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import { cleanEnv, MAILSTREAM_BIN, runCli } from "../../support/cli-process.js";

let root: string;
const started: ChildProcess[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "local-runtime-"));
});
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

/** Pids of the processes whose command line names the folder (every member of a run does). */
function processesOf(folder: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(folder)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${timeoutMs} ms, found it not yet`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts `mailstream run` and resolves once its stack is up (the runtime file is written). */
async function startRun(data: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  // A killed run leaves its runtime file behind: only a new one says this run is up.
  rmSync(join(data, "runtime.json"), { force: true });
  const child = spawn(process.execPath, [MAILSTREAM_BIN, "run", "-d", data, "--streams", "2"], {
    env: cleanEnv(env),
    stdio: ["ignore", "ignore", "pipe"],
  });
  started.push(child);
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  await until(`the run in ${data} to start its stack (stderr so far: ${stderr})`, () => {
    if (child.exitCode !== null) throw new Error(`run exited ${child.exitCode} early: ${stderr}`);
    return existsSync(join(data, "runtime.json"));
  });
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

describe("mailstream run, as one unit", () => {
  it("removes leftovers at start, refuses a second run naming the first, and leaves nothing behind SIGTERM", async () => {
    const data = join(root, "data-a");
    const archive = join(data, "archive");
    mkdirSync(join(archive, "catalog", "mailbox=x"), { recursive: true });
    mkdirSync(join(archive, "staging"), { recursive: true });
    writeFileSync(join(archive, ".tmp-1111"), "half a write");
    writeFileSync(join(archive, "catalog", "mailbox=x", ".tmp-2222"), "half a write");
    writeFileSync(join(archive, "staging", "3333.eml"), "an upload that never got its address");

    const first = await startRun(data);
    // The run's members: this CLI process, DynamoDB Local's watchdog shell and its JVM.
    const members = processesOf(data);
    expect(members).toContain(first.pid);
    expect(members.length, `members ${members.join(",")} of ${first.pid}`).toBeGreaterThanOrEqual(3);
    expect(existsSync(join(archive, ".tmp-1111"))).toBe(false);
    expect(existsSync(join(archive, "catalog", "mailbox=x", ".tmp-2222"))).toBe(false);
    expect(existsSync(join(archive, "staging", "3333.eml"))).toBe(false);

    const second = await runCli(["run", "-d", data]);
    expect(second.code).toBe(EXIT.busy);
    const lines = second.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^mailstream: data folder .*data-a: expected no other run using it, found process ${first.pid} \\(.*run -d .*data-a`,
      ),
    );

    first.kill("SIGTERM");
    expect(await exited(first)).toEqual({ code: 143, signal: null });
    await until("every process of the run to be gone", () => processesOf(data).length === 0);
    // The lock went with it: nothing holds the folder.
    expect(existsSync(join(data, "run.lock"))).toBe(false);
  });

  it("leaves nothing behind SIGKILL, and the next run takes the stale lock over", async () => {
    const data = join(root, "data-b");
    const first = await startRun(data);
    expect(processesOf(data).length).toBeGreaterThanOrEqual(3);
    first.kill("SIGKILL");
    await exited(first);
    await until("every process of the killed run to be gone", () => processesOf(data).length === 0);
    expect(JSON.parse(readFileSync(join(data, "run.lock"), "utf8")).pid).toBe(first.pid);

    const next = await startRun(data);
    expect(JSON.parse(readFileSync(join(data, "run.lock"), "utf8")).pid).toBe(next.pid);
    next.kill("SIGKILL");
    await exited(next);
    await until("every process of the second run to be gone", () => processesOf(data).length === 0);
  });

  it("with the re-exec that trusts the CA (Node before 22.19): SIGKILL of the outer process ends the worker too", async () => {
    const data = join(root, "data-c");
    const outer = await startRun(data, { MAILSTREAM_CA_REEXEC: "1" });
    // The outer CLI, its re-executed worker, the watchdog and the JVM.
    const members = await until("the worker and DynamoDB Local", () => {
      const pids = processesOf(data);
      return pids.length >= 4 ? pids : undefined;
    });
    expect(members).toContain(outer.pid);
    outer.kill("SIGKILL");
    await exited(outer);
    await until(
      "the worker and DynamoDB Local to follow the killed outer process",
      () => processesOf(data).length === 0,
    );
  });
});
