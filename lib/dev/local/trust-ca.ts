import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Set in the re-executed child so that it never re-executes again. */
const READY_FLAG = "MAILSTREAM_EXTRA_CA_READY";

/**
 * The file to put in NODE_EXTRA_CA_CERTS so that Node trusts `caCertPath` *and* whatever the
 * machine already trusted through that variable (it takes one file, so both go into a bundle).
 */
export function extraCaBundle(
  caCertPath: string,
  bundleDir: string,
  current = process.env.NODE_EXTRA_CA_CERTS,
): string {
  if (!current || current === caCertPath) return caCertPath;
  const bundle = join(bundleDir, "extra-ca-bundle.pem");
  const existing = existsSync(current) ? readFileSync(current, "utf8") : "";
  writeFileSync(bundle, `${existing.trimEnd()}\n${readFileSync(caCertPath, "utf8")}`);
  return bundle;
}

/**
 * Node reads NODE_EXTRA_CA_CERTS once, at process start. When this process does not trust the
 * simulator's CA yet, run the same command again in a child process that does, and end with its
 * exit code. Returns only in a process that trusts the CA.
 */
export async function reexecTrustingCa(caCertPath: string, bundleDir: string): Promise<void> {
  if (process.env[READY_FLAG] === "1") return;
  const extra = extraCaBundle(caCertPath, bundleDir);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: extra, [READY_FLAG]: "1" },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  const code: number = await new Promise((resolve) => {
    child.on("exit", (c, signal) => resolve(c ?? (signal ? 128 + 2 : 1)));
  });
  process.exit(code);
}
