/**
 * The archive the CLI tests read: a small simulated tenant backed up twice by the local stack
 * (a full backup, then an incremental after a round of changes) into a temporary archive folder,
 * with the tenant's ground truth after each job.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { type GroundTruth, generateTenant, mutateTenant } from "../../lib/dev/sim/index.js";
import type { TenantSpec } from "../../lib/dev/sim/tenant/generate.js";
import { loadTestCa } from "./sim-ca.js";

export interface TwoJobArchive {
  /** Temporary folder holding the archive; removed by {@link stop}. */
  dir: string;
  /** The local archive folder (`<dir>/archive`). */
  archive: string;
  tenant: ReturnType<typeof generateTenant>;
  stack: LocalStack;
  job1: string;
  job2: string;
  /** The tenant as the first job saw it. */
  truth1: GroundTruth;
  /** The tenant after the changes, as the second job saw it. */
  truth2: GroundTruth;
  stop(): Promise<void>;
}

export async function backUpTwice(options: {
  /** Prefix of the temporary folder's name. */
  prefix: string;
  tenant: TenantSpec;
  /** The round of changes between the two jobs. */
  changes: { seed: number; intensity: number };
  /** Small messages in packs (archive.packThresholdBytes 128 KiB) instead of `.eml` files. Default false. */
  packs?: boolean;
}): Promise<TwoJobArchive> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix));
  const archive = join(dir, "archive");
  const tenant = generateTenant(options.tenant);
  let stack: LocalStack | undefined;
  const stop = async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    stack = await startLocalStack({
      store: tenant,
      ca: await loadTestCa(),
      archive: { kind: "local", path: archive },
      streams: 2,
      ...(options.packs ? { env: { MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: String(128 * 1024) } } : {}),
    });
    const job1 = (await stack.runJob()).jobId;
    const truth1 = await tenant.groundTruth();
    mutateTenant(tenant, options.changes);
    const job2 = (await stack.runJob()).jobId;
    const truth2 = await tenant.groundTruth();
    if (options.packs && !existsSync(join(archive, "blobs", "packs")))
      throw new Error(`${archive}: expected small messages in blobs/packs/, found none`);
    return { dir, archive, tenant, stack, job1, job2, truth1, truth2, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
