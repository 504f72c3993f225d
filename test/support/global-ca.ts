/**
 * Vitest global setup: makes the simulator's CA trusted by every test worker.
 *
 * Node reads NODE_EXTRA_CA_CERTS once, at process start. This setup runs in the main vitest
 * process before the worker processes are forked, so the workers inherit the variable and trust
 * the CA with no code in the tests. Tests start simulators with the same CA through
 * {@link loadTestCa} (the folder is passed on in MAILSTREAM_TEST_CA_DIR).
 *
 * NODE_EXTRA_CA_CERTS names ONE file. When the machine already sets it (often to a corporate or
 * system bundle), we write a bundle of that file's certificates plus ours and point the
 * variable at the bundle, so nothing the machine trusted is lost.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { ensureSimulatorCa } from "../../lib/dev/sim/server/ca.js";

export default async function setup(): Promise<void> {
  const dir = join(tmpdir(), `mailstream-test-ca-${userInfo().uid}`);
  const ca = await ensureSimulatorCa(dir);
  process.env.MAILSTREAM_TEST_CA_DIR = dir;
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  if (!existing || existing === ca.caCertPath) {
    process.env.NODE_EXTRA_CA_CERTS = ca.caCertPath;
    return;
  }
  const bundlePath = join(dir, "extra-ca-bundle.pem");
  if (existing === bundlePath) return;
  const previous = existsSync(existing) ? readFileSync(existing, "utf8") : "";
  writeFileSync(bundlePath, `${previous.trimEnd()}\n${ca.caCertPem}`);
  process.env.NODE_EXTRA_CA_CERTS = bundlePath;
}
