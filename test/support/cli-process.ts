/**
 * Runs the `mailstream` command as a user does (bin/mailstream.js, a process of its own) and
 * collects its exit code and output: for tests of what a failure looks like from outside.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const MAILSTREAM_BIN = fileURLToPath(new URL("../../bin/mailstream.js", import.meta.url));

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  /** Variables over a clean environment (the test process's, without MAILSTREAM_* and AWS_*). */
  env?: Record<string, string>;
  cwd?: string;
  /** Close our end of stdout at once, as `| head` does once it has enough. */
  closeStdout?: boolean;
}

/** The test process's environment without any mailstream or AWS setting that could leak in. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("MAILSTREAM_") && !k.startsWith("AWS_")) env[k] = v;
  }
  return { ...env, ...extra };
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAILSTREAM_BIN, ...args], {
      env: cleanEnv(options.env),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (options.closeStdout) child.stdout.destroy();
    else child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") }),
    );
  });
}
