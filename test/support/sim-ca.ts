/**
 * The CA that test/support/global-ca.ts made trusted for this test process: start simulators
 * with it (`startSimulator({ ca: await loadTestCa(), … })`) so that the real clients accept them.
 */
import { ensureSimulatorCa } from "../../lib/dev/sim/server/ca.js";

export async function loadTestCa(): Promise<{ certPem: string; keyPem: string }> {
  const dir = process.env.MAILSTREAM_TEST_CA_DIR;
  if (!dir) {
    throw new Error(
      "MAILSTREAM_TEST_CA_DIR is not set: expected vitest's globalSetup test/support/global-ca.ts to run first (see vitest.config.ts)",
    );
  }
  const ca = await ensureSimulatorCa(dir);
  return { certPem: ca.caCertPem, keyPem: ca.caKeyPem };
}
