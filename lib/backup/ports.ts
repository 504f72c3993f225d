/**
 * The narrow interfaces the backup of one unit depends on. Adapters bind them to the Graph
 * access layer (`lib/graph`), the archive (`lib/archive`) and the state store (`lib/state`);
 * unit tests bind them to in-memory fakes.
 */
import type { Readable } from "node:stream";

/** Message metadata as delivered by a delta page (the properties kept beside the MIME). */
export interface MessageMeta {
  id: string;
  changeKey?: string;
  parentFolderId?: string;
  [property: string]: unknown;
}

export interface DeltaPageView {
  upserts: MessageMeta[];
  /** Ids reported `@removed` from this folder (deleted, or moved out). */
  removed: string[];
  nextLink?: string;
  deltaLink?: string;
}

export interface MailSource {
  /**
   * Pages of a folder's message delta, starting at `from` (a nextLink or deltaLink) or, without
   * it, an initial round. Throws `SyncStateLostError` (lib/graph) on 410.
   */
  folderDelta(userId: string, folderId: string, from: string | undefined): AsyncIterable<DeltaPageView>;
  /** The message's MIME, streamed; holds one of the mailbox's request slots until it ends. */
  openMime(userId: string, messageId: string): Promise<Readable>;
  /** Graph requests and 429 answers for the mailbox so far (cumulative), for the job report. */
  traffic?(userId: string): { requests: number; throttled: number };
}

export interface StoredBlob {
  sha256: string;
  size: number;
  /** True when identical content was already in the archive (nothing was written). */
  existed: boolean;
}

/** A catalog line for one folder of one mailbox in one job (see docs/archive-format.md). */
export type CatalogEntry =
  | { kind: "folder-reset"; folderId: string }
  | { kind: "upsert"; messageId: string; folderId: string; sha256: string; size: number; meta: MessageMeta }
  | { kind: "removed"; messageId: string; folderId: string };

export interface CatalogPartKey {
  jobId: string;
  mailboxId: string;
  folderId: string;
  unit: number;
  page: number;
}

export interface ArchiveSink {
  storeMime(stream: Readable): Promise<StoredBlob>;
  /** Writes (or rewrites, identically keyed) one catalog part. */
  writeCatalogPart(key: CatalogPartKey, entries: CatalogEntry[]): Promise<void>;
}

/**
 * Where a unit stands. Folders of a unit run concurrently and finish out of order, so the
 * checkpoint holds a low-water mark (every folder before `folderIndex` is finished), the finished
 * folders after it, and the resume point of each folder in progress.
 */
export interface UnitCheckpoint {
  /** Every folder of the unit before this index is finished. */
  folderIndex: number;
  /**
   * nextLink of the folder at `folderIndex`, written by versions that ran one folder at a time;
   * read on resume, never written now (`openFolders` replaced it).
   */
  link?: string;
  /**
   * Pages stored in this unit so far (every folder): grows with every stored page, which is what
   * makes a repeated checkpoint write count its items once.
   */
  page: number;
  /** Folders of this unit that could not be completed in this job (their sync state is kept). */
  incompleteFolders?: string[];
  /** Finished folders at or after `folderIndex`. */
  doneFolders?: string[];
  /** Folders in progress: the link after their last fully stored page. */
  openFolders?: OpenFolder[];
}

/** A folder in progress inside a unit checkpoint. */
export interface OpenFolder {
  folderId: string;
  /** nextLink of the next page to fetch. */
  link: string;
  /** Number of the folder's next catalog part (keeps part keys unique across restarts and resyncs). */
  part: number;
}

export interface UnitProgress {
  items: number;
  bytes: number;
  removed: number;
  /** Blobs that were already archived (deduplicated). */
  deduplicated: number;
  /** Graph requests sent for the mailbox meanwhile (all streams of this process). */
  requests: number;
  /** 429 answers met meanwhile. */
  throttled: number;
}

export interface RecordedError {
  /** What the error is about: `message <id>`, `folder <id>`, `mailbox <id>`. */
  subject: string;
  name: string;
  message: string;
}

/** A folder's new delta link, staged when every item and the catalog of the folder are stored. */
export interface StagedLink {
  mailboxId: string;
  folderId: string;
  deltaLink: string;
}

/** A unit's last checkpoint, handed to its completion instead of being written on its own. */
export interface LastCheckpoint {
  checkpoint: UnitCheckpoint;
  /** Counts recorded since the last checkpoint written. */
  delta: UnitProgress;
  /** Delta links of the folders finished since the last checkpoint written. */
  staged: StagedLink[];
}

export interface UnitStatePort {
  /** The committed delta link of a folder (the base of an incremental pass), if any. */
  syncState(mailboxId: string, folderId: string): Promise<string | undefined>;
  /**
   * Records progress after fully stored pages; throws if this stream lost the unit. `staged`:
   * the new delta links of the folders this checkpoint finishes, promoted to their sync states
   * when the job finalizes, written atomically with the checkpoint.
   */
  checkpoint(checkpoint: UnitCheckpoint, delta: UnitProgress, staged?: StagedLink[]): Promise<void>;
}

/** The work handed to a stream: one mailbox, or a group of folders of one big mailbox. */
export interface UnitWork {
  jobId: string;
  index: number;
  mailboxId: string;
  folderIds: string[];
  /** Concurrent MIME downloads for this unit: its share of the mailbox's 4 request slots. Range 1–4. */
  concurrency: number;
  /** The plan's estimate of the unit's time, seconds (absent in units planned by older versions). */
  estimatedSeconds?: number;
  /** False when no folder of the unit had a sync state at planning: none is read. Default true. */
  hasSyncStates?: boolean;
}
