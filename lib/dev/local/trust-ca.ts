import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import tls from "node:tls";

/** Set in the re-executed child so that it never re-executes again. */
const READY_FLAG = "MAILSTREAM_EXTRA_CA_READY";
/** Set in the re-executed child: the file descriptor of its lifeline to the parent. */
const LIFELINE_FD = "MAILSTREAM_LIFELINE_FD";

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
  const pem = readFileSync(caCertPath, "utf8");
  const kept = withoutNamesakes(
    existing.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [],
    pem,
  );
  writeFileSync(bundle, `${[...kept, pem.trim()].join("\n")}\n`);
  return bundle;
}

/**
 * Adds a CA to the ones this process trusts, when Node can do that after start
 * (`tls.setDefaultCACertificates`, Node 22.19 and later). Returns false on an older Node.
 */
export function trustCaInProcess(caCertPath: string): boolean {
  const setDefault = (tls as { setDefaultCACertificates?: (certs: string[]) => void })
    .setDefaultCACertificates;
  if (typeof setDefault !== "function") return false;
  const pem = readFileSync(caCertPath, "utf8");
  setDefault([...withoutNamesakes(tls.getCACertificates("default"), pem), pem]);
  return true;
}

/**
 * The certificates without any other CA of the same name as `pem` (another data folder's or the
 * tests' simulator CA, trusted through NODE_EXTRA_CA_CERTS): OpenSSL looks a certificate's issuer
 * up by name, and a namesake with another key would be picked and fail the signature check.
 */
export function withoutNamesakes(certs: readonly string[], pem: string): string[] {
  const ours = new X509Certificate(pem);
  return certs.filter((c) => {
    try {
      const other = new X509Certificate(c);
      return other.subject !== ours.subject || other.fingerprint256 === ours.fingerprint256;
    } catch {
      return true;
    }
  });
}

/**
 * In a re-executed child: ends this process when the parent goes away, however it went (even
 * SIGKILL): the parent holds the write end of a pipe the child reads; its end is the signal. The
 * child's own children (DynamoDB Local's watchdog) follow it the same way, so nothing is orphaned.
 */
function watchLifeline(): void {
  const fd = Number(process.env[LIFELINE_FD]);
  // The pipe is this process's alone: a child that inherited the variable would take whatever
  // its own descriptor 3 is (the benchmark's controller-rss child crashed on it).
  delete process.env[LIFELINE_FD];
  if (!Number.isInteger(fd) || fd < 3) return;
  // A socket over the pipe (not a file stream, whose blocking read would hold a thread-pool thread).
  const line = new Socket({ fd, readable: true, writable: false });
  line.on("data", () => {});
  const end = () => process.kill(process.pid, "SIGTERM");
  line.on("end", end);
  line.on("error", end);
  // The lifeline must not keep a finished child alive.
  line.unref();
}

/**
 * Node reads NODE_EXTRA_CA_CERTS once, at process start. When this process does not trust the
 * simulator's CA yet, run the same command again in a child process that does, and end with its
 * exit code. Returns only in a process that trusts the CA. The child dies with this process: a
 * signal is forwarded, and a lifeline pipe ends the child if this process is killed outright.
 */
export async function reexecTrustingCa(
  caCertPath: string,
  bundleDir: string,
  /** Node flags the child runs with besides this process's own (a flag this process has already is not repeated). */
  nodeFlags: readonly string[] = [],
): Promise<void> {
  if (process.env[READY_FLAG] === "1") {
    watchLifeline();
    return;
  }
  const extra = extraCaBundle(caCertPath, bundleDir);
  const flagName = (flag: string) => flag.split("=")[0];
  const own = new Set(process.execArgv.map(flagName));
  const added = nodeFlags.filter((flag) => !own.has(flagName(flag)));
  const child = spawn(process.execPath, [...process.execArgv, ...added, ...process.argv.slice(1)], {
    stdio: ["inherit", "inherit", "inherit", "pipe"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: extra, [READY_FLAG]: "1", [LIFELINE_FD]: "3" },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, forward);
  const code: number = await new Promise((resolve) => {
    child.on("exit", (c, signal) =>
      resolve(c ?? (signal ? 128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1) : 1)),
    );
  });
  process.exit(code);
}

/** Set to 1, the run takes the re-exec path even where Node could trust the CA in place (tests of that path). */
export const FORCE_REEXEC = "MAILSTREAM_CA_REEXEC";

/**
 * Makes this process trust the CA: in place where Node allows it (one process, nothing to
 * orphan), else by {@link reexecTrustingCa}.
 */
export async function trustCa(caCertPath: string, bundleDir: string): Promise<void> {
  const inPlace = process.env[FORCE_REEXEC] !== "1" && process.env[READY_FLAG] !== "1";
  if (!inPlace || !trustCaInProcess(caCertPath)) {
    await reexecTrustingCa(caCertPath, bundleDir);
  }
}
