/**
 * Point-in-time views of a mailbox: the replay of its catalog up to a job, starting from the
 * latest usable snapshot. Only finalized jobs (with a manifest) count.
 */

import type { PackLocation } from "./blobs.js";
import {
  type CatalogEntry,
  type FolderRecord,
  type ItemContentFields,
  itemContentOf,
  type JobCatalog,
  listMailboxCatalog,
  readCatalogPart,
  readFolders,
} from "./catalog.js";
import type { BodyEncoding } from "./encoding.js";
import { type CatalogDamageError, CatalogLineError } from "./errors.js";
import { compareJobIds, parseSnapshotKey, snapshotPrefix } from "./keys.js";
import {
  type FinalizedJobCache,
  listFinalizedJobs,
  type ManifestMailboxStatus,
  readFinalizedJob,
} from "./manifest.js";
import { readSnapshot, type Snapshot, writeSnapshot } from "./snapshot.js";
import type { ObjectStore } from "./store.js";

export interface ViewMessage extends ItemContentFields {
  messageId: string;
  folderId: string;
  sha256: string;
  /** MIME size in bytes. */
  size: number;
  changeKey?: string;
  /** Message properties from the last change (isRead, flag, categories, dates, subject, …). */
  meta: Record<string, unknown>;
  /** The job whose catalog last changed the message. */
  jobId: string;
  /** Where its body lies in a pack; absent: its own object. */
  pack?: PackLocation;
  /** `gzip`: its body is stored compressed; absent: as it is. */
  encoding?: BodyEncoding;
}

export interface ViewFolder {
  folderId: string;
  /** From the newest counted folders record; absent for a folder no record names (e.g. deleted). */
  parentId?: string;
  path?: string;
  displayName?: string;
  /** A search folder (a saved search): no messages of its own, not an ordinary empty folder. */
  searchFolder?: boolean;
  /** `archive`: a folder of the user's in-place archive. Absent: the primary mailbox. */
  mailbox?: "primary" | "archive";
  /** The folder class (`IPF.Appointment`, …). Absent: mail (`IPF.Note`). */
  class?: string;
  /** Sorted by message id. */
  messages: ViewMessage[];
}

export interface MailboxView {
  mailboxId: string;
  /** The last counted job (≤ the requested one); undefined when none counts yet. */
  jobId: string | undefined;
  /** Every counted job, in time order. */
  jobs: string[];
  /** The snapshot the replay started from, if any. */
  snapshotJobId?: string;
  /** Folders sorted by path, then id; every folder of the tree, plus any other that holds messages. */
  folders: ViewFolder[];
  /**
   * Damage met in the catalog: lines that were skipped, parts that differ from their header
   * (truncated, altered). Empty in strict mode, which throws instead.
   */
  errors: CatalogDamageError[];
  /** Things the replay decided that an operator may want to know (snapshots it could not use). */
  notes: string[];
}

export interface ViewOptions {
  /** Throw the first damaged catalog line instead of skipping it. Default false. */
  strict?: boolean;
  /** Start from the latest usable snapshot. Default true. */
  useSnapshots?: boolean;
  /** Jobs' manifests read once for many views (a search's); default: read for this view. */
  finalizedJobs?: FinalizedJobCache;
}

/** Catalog parts fetched at once during a replay (S3 GETs in flight). */
const READ_WINDOW = 16;

/** A job whose catalog counts (it has a manifest). */
interface CountedJob {
  catalog: JobCatalog;
}

/** The state of a mailbox during a replay. */
export class MailboxState {
  readonly messages = new Map<string, ViewMessage>();
  folders: FolderRecord[] = [];

  apply(entry: CatalogEntry, jobId: string, applyResets: boolean): void {
    switch (entry.kind) {
      case "upsert":
        this.messages.set(entry.messageId, {
          messageId: entry.messageId,
          folderId: entry.folderId,
          sha256: entry.sha256,
          size: entry.size,
          ...(entry.changeKey !== undefined ? { changeKey: entry.changeKey } : {}),
          meta: entry.meta,
          jobId,
          ...itemContentOf(entry),
          ...(entry.pack ? { pack: entry.pack } : {}),
          ...(entry.encoding ? { encoding: entry.encoding } : {}),
        });
        return;
      case "removed": {
        // A move shows as an upsert in the new folder and a removal from the old one, in parts
        // replayed in any order: remove only while the message is still in the folder named.
        const current = this.messages.get(entry.messageId);
        if (current && current.folderId === entry.folderId) this.messages.delete(entry.messageId);
        return;
      }
      case "folder-reset":
        if (!applyResets) return;
        for (const [id, m] of this.messages) if (m.folderId === entry.folderId) this.messages.delete(id);
        return;
    }
  }

  static fromSnapshot(snapshot: Snapshot): MailboxState {
    const state = new MailboxState();
    state.folders = snapshot.folders;
    for (const m of snapshot.messages) {
      state.messages.set(m.messageId, {
        messageId: m.messageId,
        folderId: m.folderId,
        sha256: m.sha256,
        size: m.size,
        ...(m.changeKey !== undefined ? { changeKey: m.changeKey } : {}),
        meta: m.meta,
        jobId: m.jobId,
        ...itemContentOf(m),
        ...(m.pack ? { pack: m.pack } : {}),
        ...(m.encoding ? { encoding: m.encoding } : {}),
      });
    }
    return state;
  }

  toFolders(): ViewFolder[] {
    const byId = new Map<string, ViewFolder>();
    for (const f of this.folders) {
      byId.set(f.folderId, {
        folderId: f.folderId,
        parentId: f.parentId,
        path: f.path,
        displayName: f.displayName,
        ...(f.searchFolder ? { searchFolder: true } : {}),
        ...(f.mailbox === "archive" ? { mailbox: "archive" as const } : {}),
        ...(f.class !== undefined ? { class: f.class } : {}),
        messages: [],
      });
    }
    for (const m of this.messages.values()) {
      let folder = byId.get(m.folderId);
      if (!folder) {
        folder = { folderId: m.folderId, messages: [] };
        byId.set(m.folderId, folder);
      }
      folder.messages.push(m);
    }
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    for (const f of byId.values()) f.messages.sort((a, b) => cmp(a.messageId, b.messageId));
    // The primary mailbox's folders first, then the archive's; each by path.
    const role = (f: ViewFolder) => (f.mailbox === "archive" ? 1 : 0);
    return [...byId.values()].sort(
      (a, b) =>
        role(a) - role(b) || cmp(a.path ?? "\uffff", b.path ?? "\uffff") || cmp(a.folderId, b.folderId),
    );
  }
}

/** How a job's catalog of one mailbox is read, from its manifest. */
export interface JobReading {
  /**
   * Whether the job's `folder-reset` lines apply to the mailbox. Not when the mailbox failed in
   * that job (or the manifest does not name it): a folder's full enumeration may have stopped
   * halfway, and the view keeps messages it cannot prove gone rather than drop ones the round
   * never reached.
   */
  applyResets: boolean;
  /** The job's parts were written with headers (catalog part format ≥ 2): one without is damaged. */
  requireHeader: boolean;
}

export async function jobReading(
  store: ObjectStore,
  mailboxId: string,
  jobId: string,
  cache?: FinalizedJobCache,
): Promise<JobReading> {
  const job = await (cache ? cache.get(store, jobId) : readFinalizedJob(store, jobId));
  const status: ManifestMailboxStatus | undefined = job?.mailboxes.get(mailboxId)?.status;
  return {
    applyResets: status === "complete" || status === "partial",
    requireHeader: (job?.manifest.catalogPartVersion ?? 1) >= 2,
  };
}

/**
 * The finalized jobs of the mailbox up to `at`, in time order. One listing of `jobs/` says which
 * jobs are finalized; manifests are read only for the jobs that are actually replayed.
 */
async function countedJobs(store: ObjectStore, mailboxId: string, at: string): Promise<CountedJob[]> {
  const [catalog, finalized] = await Promise.all([
    listMailboxCatalog(store, mailboxId),
    listFinalizedJobs(store),
  ]);
  const done = new Set(finalized);
  return catalog
    .filter((j) => done.has(j.jobId) && (at === "latest" || compareJobIds(j.jobId, at) <= 0))
    .map((catalog) => ({ catalog }));
}

/** The newest snapshot ≤ the last counted job that includes every counted job up to its own. */
async function usableSnapshot(
  store: ObjectStore,
  mailboxId: string,
  counted: CountedJob[],
  notes: string[],
): Promise<Snapshot | undefined> {
  const last = counted[counted.length - 1]?.catalog.jobId;
  if (!last) return undefined;
  const candidates: Array<{ key: string; jobId: string }> = [];
  for await (const { key } of store.list(snapshotPrefix(mailboxId))) {
    const jobId = parseSnapshotKey(key);
    if (jobId && compareJobIds(jobId, last) <= 0) candidates.push({ key, jobId });
  }
  candidates.sort((a, b) => compareJobIds(b.jobId, a.jobId));
  for (const c of candidates) {
    let snapshot: Snapshot;
    try {
      snapshot = await readSnapshot(store, c.key);
    } catch (error) {
      if (!(error instanceof CatalogLineError)) throw error;
      notes.push(`snapshot ${c.key} not used: ${error.message}`);
      continue;
    }
    const included = new Set(snapshot.header.jobs);
    // A job finalized after the snapshot was written (late sweep) is missing from it: unusable.
    const missing = counted
      .map((j) => j.catalog.jobId)
      .filter((id) => compareJobIds(id, c.jobId) <= 0 && !included.has(id));
    if (snapshot.header.mailboxId !== mailboxId || snapshot.header.jobId !== c.jobId) {
      notes.push(
        `snapshot ${c.key} not used: its header names mailbox ${snapshot.header.mailboxId}, job ${snapshot.header.jobId}`,
      );
    } else if (missing.length > 0) {
      notes.push(`snapshot ${c.key} not used: it lacks finalized job(s) ${missing.join(", ")}`);
    } else {
      return snapshot;
    }
  }
  return undefined;
}

/**
 * The mailbox as it was at the end of a job (`"latest"`: the newest finalized job). Replays the
 * catalog of every finalized job up to it, in job order; inside a job, parts in (unit, folder,
 * page) order. Damaged lines are skipped and reported in `errors` (or thrown when strict).
 */
export async function mailboxViewAt(
  store: ObjectStore,
  mailboxId: string,
  at: string,
  opts: ViewOptions = {},
): Promise<MailboxView> {
  const counted = await countedJobs(store, mailboxId, at);
  const notes: string[] = [];
  const errors: CatalogDamageError[] = [];
  const snapshot =
    opts.useSnapshots === false ? undefined : await usableSnapshot(store, mailboxId, counted, notes);
  const state = snapshot ? MailboxState.fromSnapshot(snapshot) : new MailboxState();
  const collect = (found: CatalogDamageError[]) => {
    if (opts.strict && found[0]) throw found[0];
    errors.push(...found);
  };

  for (const job of counted) {
    const { jobId } = job.catalog;
    if (snapshot && compareJobIds(jobId, snapshot.header.jobId) <= 0) continue;
    const { applyResets, requireHeader } = await jobReading(store, mailboxId, jobId, opts.finalizedJobs);
    if (job.catalog.foldersKey) {
      const folders = await readFolders(store, job.catalog.foldersKey, { requireHeader });
      collect(folders.errors);
      state.folders = folders.entries;
    }
    // Parts are small and many: fetch a window of them at once, apply them strictly in order.
    const parts = job.catalog.parts;
    for (let i = 0; i < parts.length; i += READ_WINDOW) {
      const window = parts.slice(i, i + READ_WINDOW);
      const reads = await Promise.all(
        window.map((part) => readCatalogPart(store, part.key, { requireHeader })),
      );
      for (const read of reads) {
        collect(read.errors);
        for (const entry of read.entries) state.apply(entry, jobId, applyResets);
      }
    }
  }

  const jobs = [...new Set([...(snapshot?.header.jobs ?? []), ...counted.map((j) => j.catalog.jobId)])].sort(
    compareJobIds,
  );
  return {
    mailboxId,
    jobId: jobs[jobs.length - 1],
    jobs,
    ...(snapshot ? { snapshotJobId: snapshot.header.jobId } : {}),
    folders: state.toFolders(),
    errors,
    notes,
  };
}

/**
 * Compacts a mailbox's catalog up to a job into `snapshots/mailbox=<id>/job=<jobId>.jsonl`,
 * where later replays start. Refuses (throws the `CatalogDamageError`) when a catalog line or part
 * is damaged, so a snapshot never bakes a hole in. Returns undefined when no job counts yet.
 */
export async function compactMailbox(
  store: ObjectStore,
  mailboxId: string,
  jobId: string,
): Promise<{ key: string; jobId: string; messages: number } | undefined> {
  const view = await mailboxViewAt(store, mailboxId, jobId, { strict: true });
  if (!view.jobId) return undefined;
  const folders: FolderRecord[] = view.folders
    .filter((f) => f.path !== undefined)
    .map((f) => ({
      kind: "folders",
      folderId: f.folderId,
      parentId: f.parentId ?? "",
      path: f.path ?? "",
      displayName: f.displayName ?? "",
      ...(f.searchFolder ? { searchFolder: true } : {}),
      ...(f.mailbox === "archive" ? { mailbox: "archive" as const } : {}),
      ...(f.class !== undefined ? { class: f.class } : {}),
    }));
  const messages = view.folders.flatMap((f) => f.messages);
  const key = await writeSnapshot(
    store,
    { mailboxId, jobId: view.jobId, jobs: view.jobs },
    folders,
    messages,
  );
  return { key, jobId: view.jobId, messages: messages.length };
}
