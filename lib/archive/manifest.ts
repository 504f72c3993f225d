/**
 * Job manifests (`jobs/<jobId>/manifest.json`): written when a job is finalized, they make the
 * job's catalog count in point-in-time views. A job without a manifest is still running, or died
 * before finalizing; its parts are ignored until the sweep finalizes it.
 *
 * A job of many mailboxes (their list's JSON over {@link MANIFEST_PAGE_BYTES}) gets a version 2
 * manifest: its mailboxes, sorted by id, in pages `jobs/<jobId>/mailboxes-<nnnn>.json` and
 * `mailboxes: []` in manifest.json, whose `mailboxPages` says how many. Readers that need one
 * mailbox's status or the whole list use {@link manifestMailboxes}, which reads a job's pages once
 * per process and keeps them by id (a search asks for every mailbox of the same few jobs).
 */
import { z } from "zod";
import { CATALOG_PART_VERSION } from "./catalog.js";
import { DamagedArchiveError } from "./errors.js";
import { readJsonObject } from "./json-object.js";
import { cutIntoPages, needsPages } from "./json-pages.js";
import { compareJobIds, fromKeySegment, JOBS_PREFIX, manifestKey, manifestPageKey } from "./keys.js";
import type { ObjectStore } from "./store.js";

const mailboxStatus = z.enum(["complete", "partial", "skipped", "failed"]);

export const jobManifestSchema = z.looseObject({
  format: z.literal("mailstream.manifest"),
  /** 1: every mailbox inline; 2: mailboxes in pages (`mailboxPages`). */
  version: z.union([z.literal(1), z.literal(2)]),
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
  /** Version 2: the mailbox list's pages (`parts` objects, `entries` mailboxes in all). */
  mailboxPages: z.object({ parts: z.number().int().min(1), entries: z.number().int().min(0) }).optional(),
});

/** Bytes of JSON of the mailbox list above which the manifest pages it (and per page at most). */
export const MANIFEST_PAGE_BYTES = 1024 * 1024;

const manifestPageSchema = z.looseObject({
  format: z.literal("mailstream.manifest-page"),
  version: z.literal(1),
  jobId: z.string(),
  part: z.number().int().min(0),
  mailboxes: jobManifestSchema.shape.mailboxes,
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

/**
 * Writes the job's manifest (idempotent: finalizing twice writes the same objects). A long
 * mailbox list goes to pages first (sorted by id), manifest.json last: a reader who finds the
 * manifest finds its pages.
 */
export async function writeManifest(
  store: ObjectStore,
  source: ManifestSource,
  options: { pageBytes?: number } = {},
): Promise<JobManifest> {
  const whole = manifestFrom(source);
  const pageBytes = options.pageBytes ?? MANIFEST_PAGE_BYTES;
  let manifest: JobManifest = whole;
  if (needsPages(whole.mailboxes, pageBytes)) {
    const sorted = [...whole.mailboxes].sort((a, b) => compareJobIds(a.mailboxId, b.mailboxId));
    const pages = cutIntoPages(sorted, pageBytes);
    for (const [part, mailboxes] of pages.entries()) {
      const page = { format: "mailstream.manifest-page", version: 1, jobId: whole.jobId, part, mailboxes };
      await store.put(manifestPageKey(whole.jobId, part), Buffer.from(`${JSON.stringify(page)}\n`), {
        contentType: "application/json",
      });
    }
    manifest = {
      ...whole,
      version: 2,
      mailboxes: [],
      mailboxPages: { parts: pages.length, entries: sorted.length },
    };
  }
  await store.put(manifestKey(manifest.jobId), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
    contentType: "application/json",
  });
  return manifest;
}

/**
 * Writes part `firstPart` on of the job's mailbox list: `mailboxes`, one piece of it as a
 * finalization in pieces produces it (in id order, each piece after the last), cut into pages of
 * at most `pageBytes` of JSON. Returns the parts written (≥ 1 when `mailboxes` is not empty).
 */
export async function writeManifestPages(
  store: ObjectStore,
  jobId: string,
  firstPart: number,
  mailboxes: ManifestSource["mailboxes"],
  pageBytes = MANIFEST_PAGE_BYTES,
): Promise<number> {
  const entries = manifestFrom({ jobId, status: "complete", endedAt: "", mailboxes }).mailboxes;
  const pages = cutIntoPages(entries, pageBytes);
  for (const [i, list] of pages.entries()) {
    const part = firstPart + i;
    const page = { format: "mailstream.manifest-page", version: 1, jobId, part, mailboxes: list };
    await store.put(manifestPageKey(jobId, part), Buffer.from(`${JSON.stringify(page)}\n`), {
      contentType: "application/json",
    });
  }
  return pages.length;
}

/**
 * Writes manifest.json of a job whose mailbox list went to pages piece by piece
 * ({@link writeManifestPages}): version 2 with `mailboxPages`, or version 1 with no mailboxes when
 * there were none. Written after every page.
 */
export async function writeManifestSummary(
  store: ObjectStore,
  source: Omit<ManifestSource, "mailboxes">,
  mailboxPages: { parts: number; entries: number },
): Promise<JobManifest> {
  const empty = manifestFrom({ ...source, mailboxes: [] });
  const manifest: JobManifest =
    mailboxPages.entries > 0 ? { ...empty, version: 2, mailboxPages: { ...mailboxPages } } : empty;
  await store.put(manifestKey(manifest.jobId), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
    contentType: "application/json",
  });
  return manifest;
}

async function readManifestPage(
  store: ObjectStore,
  jobId: string,
  part: number,
): Promise<JobManifest["mailboxes"]> {
  const key = manifestPageKey(jobId, part);
  const page = await readJsonObject(store, key, {
    schema: manifestPageSchema,
    expected: `part ${part} of the mailbox list of job ${jobId}`,
    damaged: (problem, cause) => new DamagedArchiveError(`manifest page ${key}: ${problem}`, { cause }),
  });
  if (!page || page.jobId !== jobId || page.part !== part) {
    throw new DamagedArchiveError(
      `manifest page ${key}: expected part ${part} of the mailbox list of job ${jobId}, found ${page ? "another object" : "none"}`,
    );
  }
  return page.mailboxes;
}

export type ManifestMailbox = JobManifest["mailboxes"][number];

/**
 * The job's mailboxes by id: inline (version 1) or read from its pages (version 2). Throws
 * {@link DamagedArchiveError} when a page is missing or damaged.
 */
export async function manifestMailboxes(
  store: ObjectStore,
  manifest: JobManifest,
): Promise<Map<string, ManifestMailbox>> {
  const pages = manifest.mailboxPages;
  if (!pages) return new Map(manifest.mailboxes.map((m) => [m.mailboxId, m]));
  const byId = new Map<string, ManifestMailbox>();
  for (let part = 0; part < pages.parts; part++) {
    for (const m of await readManifestPage(store, manifest.jobId, part)) byId.set(m.mailboxId, m);
  }
  if (byId.size !== pages.entries) {
    throw new DamagedArchiveError(
      `manifest pages of job ${manifest.jobId}: expected ${pages.entries} mailboxes, found ${byId.size}`,
    );
  }
  return byId;
}

export interface FinalizedJob {
  manifest: JobManifest;
  mailboxes: Map<string, ManifestMailbox>;
}

/**
 * Finalized jobs read once for a run of many reads (a search replays every mailbox against the
 * same few jobs): the last `kept` jobs' manifests and mailbox lists. Scope it to one run: a
 * manifest read here is not read again.
 */
export class FinalizedJobCache {
  private readonly jobs = new Map<string, Promise<FinalizedJob | undefined>>();
  constructor(private readonly kept = 16) {}

  get(store: ObjectStore, jobId: string): Promise<FinalizedJob | undefined> {
    const known = this.jobs.get(jobId);
    if (known) return known;
    const read = readFinalizedJob(store, jobId);
    // Not kept: a failed read (the next caller tries again) or a job not finalized yet.
    read.then(
      (job) => job ?? this.jobs.delete(jobId),
      () => this.jobs.delete(jobId),
    );
    this.jobs.set(jobId, read);
    if (this.jobs.size > this.kept) this.jobs.delete(this.jobs.keys().next().value!);
    return read;
  }
}

/** The job's manifest and its mailboxes by id, or undefined when it was not finalized. */
export async function readFinalizedJob(store: ObjectStore, jobId: string): Promise<FinalizedJob | undefined> {
  const manifest = await readManifest(store, jobId);
  return manifest ? { manifest, mailboxes: await manifestMailboxes(store, manifest) } : undefined;
}

/** The job's manifest, or undefined when the job was not finalized. Throws on a damaged manifest. */
export async function readManifest(store: ObjectStore, jobId: string): Promise<JobManifest | undefined> {
  const key = manifestKey(jobId);
  const manifest = await readJsonObject(store, key, {
    schema: jobManifestSchema,
    expected: "a job manifest",
    damaged: (problem, cause) => new DamagedArchiveError(`manifest ${key}: ${problem}`, { cause }),
  });
  if (manifest && manifest.jobId !== jobId) {
    throw new DamagedArchiveError(`manifest ${key}: expected jobId ${jobId}, found ${manifest.jobId}`);
  }
  return manifest;
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
