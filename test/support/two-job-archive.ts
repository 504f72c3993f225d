/**
 * The archive the CLI tests read: a small simulated tenant backed up twice by the local stack
 * (a full backup, then an incremental after a round of changes) into a temporary archive folder,
 * with the tenant's ground truth after each job.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore } from "../../lib/archive/local-store.js";
import { listAll } from "../../lib/archive/store.js";
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

/** True when some catalog line of the archive names a body stored compressed. */
async function holdsCompressedLines(archive: string): Promise<boolean> {
  const store = new LocalObjectStore(archive);
  for (const { key } of await listAll(store, "catalog/"))
    if ((await store.getBytes(key)).includes('"encoding":"gzip"')) return true;
  return false;
}

export async function backUpTwice(options: {
  /** Prefix of the temporary folder's name. */
  prefix: string;
  tenant: TenantSpec;
  /** The round of changes between the two jobs. */
  changes: { seed: number; intensity: number };
  /**
   * What mail is kept as (MAILSTREAM_MAIL_CONTENT). Default `mime`: the CLI's mail commands
   * (show, export, restore of MIME) read `.eml` blobs.
   */
  mailContent?: "mime" | "fidelity" | "both";
  /** Small bodies in packs (archive.packThresholdBytes 128 KiB) instead of files of their own. Default false. */
  packs?: boolean;
  /**
   * Bodies gzip-compressed where it pays (archive.compression gzip, as on S3), packed or not.
   * Default false: plain files, as a local archive keeps them.
   */
  compression?: boolean;
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
      env: {
        MAILSTREAM_MAIL_CONTENT: options.mailContent ?? "mime",
        ...(options.packs ? { MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: String(128 * 1024) } : {}),
        ...(options.compression ? { MAILSTREAM_ARCHIVE_COMPRESSION: "gzip" } : {}),
      },
    });
    const job1 = (await stack.runJob()).jobId;
    const truth1 = await tenant.groundTruth();
    mutateTenant(tenant, options.changes);
    const job2 = (await stack.runJob()).jobId;
    const truth2 = await tenant.groundTruth();
    if (options.packs && !existsSync(join(archive, "blobs", "packs")))
      throw new Error(`${archive}: expected small messages in blobs/packs/, found none`);
    if (options.compression && !(await holdsCompressedLines(archive)))
      throw new Error(
        `${archive}: expected catalog lines naming compressed bodies ("encoding":"gzip"), found none`,
      );
    return { dir, archive, tenant, stack, job1, job2, truth1, truth2, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
