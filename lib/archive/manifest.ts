/**
 * Job manifests (`jobs/<jobId>/manifest.json`): written when a job is finalized, they make the
 * job's catalog count in point-in-time views. A job without a manifest is still running, or died
 * before finalizing; its parts are ignored until the sweep finalizes it.
 */
import { z } from "zod";
import { CATALOG_PART_VERSION } from "./catalog.js";
import { DamagedArchiveError } from "./errors.js";
import { compareJobIds, fromKeySegment, JOBS_PREFIX, manifestKey } from "./keys.js";
import { getBytesIfExists, type ObjectStore } from "./store.js";

const mailboxStatus = z.enum(["complete", "partial", "skipped", "failed"]);

export const jobManifestSchema = z.looseObject({
  format: z.literal("mailstream.manifest"),
  version: z.literal(1),
  jobId: z.string().min(1),
  status: z.enum(["complete", "partial", "failed"]),
  /** ISO time the job ended. */
  endedAt: z.string(),
  /** `address`: the mailbox's address then (absent in manifests written before it was kept here). */
  mailboxes: z.array(
    z.looseObject({ mailboxId: z.string().min(1), status: mailboxStatus, address: z.string().optional() }),
  ),
  /**
   * The format of the job's catalog parts (catalog.ts): 2 = each begins with a header recording
   * its lines and hash. Absent in manifests written before (format 1, no header).
   */
  catalogPartVersion: z.number().int().min(1).optional(),
});

export type JobManifest = z.infer<typeof jobManifestSchema>;
export type ManifestMailboxStatus = z.infer<typeof mailboxStatus>;

/** The parts of a job report a manifest is made from (structurally `JobReport` of lib/backup/report.ts). */
export interface ManifestSource {
  jobId: string;
  status: JobManifest["status"];
  endedAt: string;
  mailboxes: ReadonlyArray<{ mailboxId: string; status: ManifestMailboxStatus; address?: string }>;
}

export function manifestFrom(source: ManifestSource): JobManifest {
  return {
    format: "mailstream.manifest",
    version: 1,
    jobId: source.jobId,
    status: source.status,
    endedAt: source.endedAt,
    mailboxes: source.mailboxes.map((m) => ({
      mailboxId: m.mailboxId,
      status: m.status,
      ...(m.address !== undefined ? { address: m.address } : {}),
    })),
    catalogPartVersion: CATALOG_PART_VERSION,
  };
}

/** Writes the job's manifest (idempotent: finalizing twice writes the same object). */
export async function writeManifest(store: ObjectStore, source: ManifestSource): Promise<JobManifest> {
  const manifest = manifestFrom(source);
  await store.put(manifestKey(manifest.jobId), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
    contentType: "application/json",
  });
  return manifest;
}

/** The job's manifest, or undefined when the job was not finalized. Throws on a damaged manifest. */
export async function readManifest(store: ObjectStore, jobId: string): Promise<JobManifest | undefined> {
  const key = manifestKey(jobId);
  const bytes = await getBytesIfExists(store, key);
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new DamagedArchiveError(`manifest ${key}: expected JSON, found ${(error as Error).message}`, {
      cause: error,
    });
  }
  const parsed = jobManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DamagedArchiveError(
      `manifest ${key}: expected a job manifest, found ${issue?.path.join(".") || "it"} invalid: ${issue?.message}`,
    );
  }
  if (parsed.data.jobId !== jobId) {
    throw new DamagedArchiveError(`manifest ${key}: expected jobId ${jobId}, found ${parsed.data.jobId}`);
  }
  return parsed.data;
}

/** Ids of every finalized job (one with a manifest), in time order. */
export async function listFinalizedJobs(store: ObjectStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const { key } of store.list(JOBS_PREFIX)) {
    const m = /^jobs\/([^/]+)\/manifest\.json$/.exec(key);
    if (m) ids.push(fromKeySegment(m[1]!));
  }
  return ids.sort(compareJobIds);
}
