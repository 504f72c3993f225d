/**
 * How many items of each kind a job stored (its catalog's upserts), and how many of them are in
 * archive mailboxes: what `mailstream run` sums up after a backup.
 */
import { listMailboxCatalog, readCatalogPart, readFolders } from "./catalog.js";
import { compareJobIds } from "./keys.js";
import { listFinalizedJobs } from "./manifest.js";
import type { ObjectStore } from "./store.js";

/** Items a job stored by kind (`mail`, `event`, `contact`, `distributionList`, `task`, `note`, `other`). */
export interface JobKinds {
  byKind: Record<string, number>;
  /** Of those, items in folders of in-place archives. */
  inArchives: number;
}

/** Counts the upserts of a job's catalog in the given mailboxes by kind. */
export async function jobItemKinds(
  store: ObjectStore,
  jobId: string,
  mailboxIds: readonly string[],
): Promise<JobKinds> {
  const byKind: Record<string, number> = {};
  let inArchives = 0;
  let finalized: Set<string> | undefined;
  for (const mailboxId of mailboxIds) {
    const catalog = await listMailboxCatalog(store, mailboxId);
    const job = catalog.find((j) => j.jobId === jobId);
    if (!job) continue;
    // A job whose folder tree did not change wrote none: the tree is that of the newest
    // finalized job before it that wrote one (as replay reads it).
    let foldersKey = job.foldersKey;
    if (!foldersKey) {
      finalized ??= new Set(await listFinalizedJobs(store));
      const done = finalized;
      foldersKey = catalog.findLast(
        (j) => j.foldersKey && compareJobIds(j.jobId, jobId) < 0 && done.has(j.jobId),
      )?.foldersKey;
    }
    const archiveFolders = new Set<string>();
    if (foldersKey) {
      for (const f of (await readFolders(store, foldersKey)).entries) {
        if (f.mailbox === "archive") archiveFolders.add(f.folderId);
      }
    }
    for (const part of job.parts) {
      for (const e of (await readCatalogPart(store, part.key)).entries) {
        if (e.kind !== "upsert") continue;
        // MIME lines are mail; export lines carry their kind in the metadata.
        const kind = typeof e.meta.kind === "string" ? e.meta.kind : "mail";
        byKind[kind] = (byKind[kind] ?? 0) + 1;
        if (archiveFolders.has(e.folderId)) inArchives++;
      }
    }
  }
  return { byKind, inArchives };
}

const KIND_NAMES: ReadonlyArray<[string, string]> = [
  ["mail", "mail"],
  ["event", "events"],
  ["contact", "contacts"],
  ["distributionList", "distribution lists"],
  ["task", "tasks"],
  ["note", "notes"],
  ["other", "other items"],
];

/** `1501 mail, 120 events, …; 200 in archive mailboxes`: every kind, zero counts included. */
export function formatJobKinds(kinds: JobKinds): string {
  const parts = KIND_NAMES.filter(([k]) => k !== "other" || (kinds.byKind[k] ?? 0) > 0).map(
    ([k, name]) => `${kinds.byKind[k] ?? 0} ${name}`,
  );
  return `${parts.join(", ")}; ${kinds.inArchives} of them in archive mailboxes`;
}
