/**
 * Every port of the backup flow in one place: the narrow interfaces the coordinator, the stream
 * runner, the unit backup, the sweep and the finalization depend on, and the data they pass.
 * Adapters bind them to the Graph access layer (lib/app/graph-ports.ts over lib/graph), the
 * archive (lib/archive) and the state store (lib/state/backup-ports.ts); unit tests bind them to
 * in-memory fakes.
 */
import type { Readable } from "node:stream";
import type { StreamTask } from "../queue/stream-task.js";
import type { RetryDeadline } from "../retry.js";

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
  /**
   * Pages of a folder's item delta in a mailbox of the import/export API (every kind of item,
   * with its metadata), from `from` or an initial round. Throws `SyncStateLostError` on 410.
   * Required for folders read `p` or `a`.
   */
  itemDelta?(mailbox: ItemMailbox, folderId: string, from: string | undefined): AsyncIterable<ItemPageView>;
  /**
   * The first item delta page of each of 1–20 folders of one import/export mailbox, in ONE
   * `$batch` (it holds min(k, 4) of the mailbox's slots and counts as k requests), answers in
   * the order of `starts`: the page (a `nextLink` on it is followed with `itemDelta`), the
   * folder's lost sync state (thrown as `itemDelta` would throw it), or `alone`: fetch it with
   * `itemDelta` (any other failure in the batch, a throttled one with the mailbox's gate already
   * closed for its `Retry-After`; or a link the batch cannot carry), from `from` when the batch
   * answered a redirect there (an expanded archive's folder). A batch that fails as a whole
   * rejects. Optional: without it every page goes alone.
   */
  itemDeltaFirstPages?(
    mailbox: ItemMailbox,
    starts: ReadonlyArray<{ folderId: string; from: string | undefined }>,
  ): Promise<FirstPageAnswer[]>;
  /** Export streams of 1–20 items of one mailbox, one answer per id in their order. Required for reads `b`, `p`, `a`. */
  exportItems?(mailbox: ItemMailbox, itemIds: readonly string[]): Promise<ExportedItem[]>;
  /**
   * One item's export stream, streamed into `store` as it arrives (a large item is never held in
   * memory); `store` is called only when the service answers data. For items above a few MB.
   */
  exportItemTo?<T>(
    mailbox: ItemMailbox,
    itemId: string,
    store: (body: Readable) => Promise<T>,
  ): Promise<{ itemId: string; result: T } | { itemId: string; error: { code: string; message: string } }>;
  /** Graph requests and 429 answers for the mailbox so far (cumulative), for the job report. */
  traffic?(userId: string): { requests: number; throttled: number };
  /**
   * The same source with every Graph request it sends (each attempt) and every 429 answer added
   * to `context.tally`, whatever else the process sends meanwhile and from whatever callback a
   * shared queue starts the request: a unit's own count for the job report, where `traffic`
   * counts the mailbox's (every unit of it in the process); and no retry or wait in place of its
   * requests lasting past `context.deadline`. A unit takes its view when it starts. Preferred
   * over `traffic`.
   */
  withContext?(context: SourceContext): MailSource;
}

/** What a unit's requests are sent for ({@link MailSource.withContext}). */
export interface SourceContext {
  /** Where its requests and 429 answers are counted. */
  tally: RequestCount;
  /** No retry of its requests waits past it (the invocation's; see lib/retry.ts). Default none. */
  deadline?: RetryDeadline;
}

/** Graph requests and 429 answers counted for a piece of work (mutable: the source adds to it). */
export interface RequestCount {
  requests: number;
  throttled: number;
}

/** A mailbox of the import/export API a unit reads: the user's primary mailbox or in-place archive. */
export interface ItemMailbox {
  /** The user (the unit's mailbox id). */
  userId: string;
  role: MailboxRole;
  /** The mailbox's id in the import/export API (`MBX:…`). */
  apiId: string;
}

/** An item as item delta delivers it. */
export interface ItemMetaView {
  id: string;
  changeKey?: string;
  /** The message class (`IPM.Note`, `IPM.Appointment`, …). */
  itemClass: string;
  /** Bytes of its export stream, when the service said. */
  size?: number;
  /** Browse and search metadata by kind (lib/graph/item-meta.ts). */
  meta: MessageMeta;
}

export interface ItemPageView {
  upserts: ItemMetaView[];
  removed: string[];
  nextLink?: string;
  deltaLink?: string;
  /**
   * The import/export mailbox id that served the page, when not the one asked (an auto-expanding
   * archive's auxiliary mailbox): its items are exported from there, one request each batch
   * instead of one answering `ErrorArchiveFolderMovedPermanently` and one more.
   */
  servedBy?: string;
}

/** A folder's first item delta page of a `$batch` ({@link MailSource.itemDeltaFirstPages}). */
export type FirstPageAnswer = { page: ItemPageView } | { error: unknown } | { alone: true; from?: string };

/** One item's answer of an export: its export stream, or its own error. */
export type ExportedItem =
  | { itemId: string; changeKey?: string; data: Buffer }
  | { itemId: string; error: { code: string; message: string } };

/**
 * What an archived item body is: a message's MIME (`.eml`, readable by any mail client) or an
 * item's export stream (the mailbox import/export API's opaque full-fidelity data, which an
 * import session turns back into the same item).
 */
export type BlobKind = "mime" | "export";

/** Whose backup stores a body: a small body goes into a pack of this mailbox. */
export interface BlobOwner {
  mailboxId: string;
}

export interface StoredBlob {
  sha256: string;
  size: number;
  /** True when identical content was already in the archive (nothing was written). */
  existed: boolean;
}

/**
 * What an item's stored bodies are (docs/archive-format.md). All absent: a message whose
 * `sha256` is its MIME.
 */
export interface ItemContent {
  /** `export`: `sha256`/`size` are the item's export stream; absent: its MIME. */
  content?: "export";
  /** The message class (`IPM.Appointment`, …); absent: a message. */
  itemClass?: string;
  /** Content mode `both`: the message's export stream besides its MIME. */
  export?: { sha256: string; size: number };
}

/** A catalog line for one folder of one mailbox in one job (see docs/archive-format.md). */
export type CatalogEntry =
  | { kind: "folder-reset"; folderId: string }
  | ({
      kind: "upsert";
      messageId: string;
      folderId: string;
      sha256: string;
      size: number;
      meta: MessageMeta;
    } & ItemContent)
  | { kind: "removed"; messageId: string; folderId: string };

export interface CatalogPartKey {
  jobId: string;
  mailboxId: string;
  folderId: string;
  unit: number;
  page: number;
}

export interface ArchiveSink {
  /**
   * Stores an item body of a kind under the SHA-256 of its bytes (identical bodies of a kind are
   * stored once). A stream is consumed as it arrives (memory stays bounded whatever its size);
   * the promise settles once the body is durable, or, for a small body of an `owner` that went
   * into a pack, once it is in the open pack that the next catalog part write makes durable.
   */
  storeBlob(kind: BlobKind, body: Readable | Buffer, owner?: BlobOwner): Promise<StoredBlob>;
  /**
   * Writes (or rewrites, identically keyed) one catalog part. Every body its lines name is
   * durable first (a packed body waits in its open pack until then).
   */
  writeCatalogPart(key: CatalogPartKey, entries: CatalogEntry[]): Promise<void>;
  /**
   * Bytes of the mailbox's packed bodies that wait for a catalog part to make them durable (its
   * open pack and packs being written). Optional: an archive without packs has none.
   */
  pendingPackBytes?(mailboxId: string): number;
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
  /** What the error is about: `message <id>`, `item <id> …`, `folder <id>`, `mailbox <id>`. */
  subject: string;
  name: string;
  message: string;
  /**
   * Reported, but nothing was lost (a folder read again in full after its sync state was
   * lost): it does not make the mailbox partial.
   */
  notice?: boolean;
}

/** A folder's new delta link, staged when every item and the catalog of the folder are stored. */
export interface StagedLink {
  mailboxId: string;
  folderId: string;
  deltaLink: string;
  /** `items`: an item delta link (a sync state of its own). Absent: a message delta link. */
  via?: "items";
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
  /**
   * The committed delta link of a folder (the base of an incremental pass), if any: its message
   * delta link, or with `via: "items"` its item delta link.
   */
  syncState(mailboxId: string, folderId: string, via?: "items"): Promise<string | undefined>;
  /**
   * The same committed sync state with the time it was written (ISO), so that a round that
   * found no change may keep it instead of writing its new link (`syncStateRefreshMs` of the
   * unit backup). Optional: without it, every finished round stages its new link.
   */
  committedSyncState?(
    mailboxId: string,
    folderId: string,
    via?: "items",
  ): Promise<{ deltaLink: string; updatedAt?: string } | undefined>;
  /**
   * Records progress after fully stored pages; throws if this stream lost the unit. `staged`:
   * the new delta links of the folders this checkpoint finishes, promoted to their sync states
   * when the job finalizes, written atomically with the checkpoint.
   */
  checkpoint(checkpoint: UnitCheckpoint, delta: UnitProgress, staged?: StagedLink[]): Promise<void>;
}

/**
 * How a unit reads one of its folders (one letter each in `UnitWork.folderReads`):
 * - `m`: message delta of the primary mailbox and each message's MIME (`$value`): mail in
 *   content mode `mime`, and every folder of units planned before item kinds;
 * - `b`: the same plus each message's export stream (`exportItems`): mail in content mode `both`;
 * - `p`: item delta of the primary mailbox and each item's export stream: its other kinds of
 *   item, and mail in content mode `fidelity`;
 * - `a`: item delta and export streams of the in-place archive.
 */
export type FolderRead = "m" | "b" | "p" | "a";

/** The work handed to a stream: one mailbox, or a group of folders of one big mailbox. */
export interface UnitWork {
  jobId: string;
  index: number;
  mailboxId: string;
  folderIds: string[];
  /**
   * How each folder is read: one {@link FolderRead} letter per folder, in `folderIds` order.
   * Absent (units planned before item kinds): every folder `m`.
   */
  folderReads?: string;
  /** The user's mailboxes in the import/export API; needed by folders read `b`, `p` or `a`. */
  mailboxIds?: MailboxApiIds;
  /** Concurrent MIME downloads for this unit: its share of the mailbox's 4 request slots. Range 1–4. */
  concurrency: number;
  /**
   * Slots the unit may borrow up to while its stream has them free beyond the other units'
   * shares (lib/backup/stream-runner.ts; stream bins, lib/plan/bins.ts): `concurrency`–4, only
   * for a unit that is its mailbox's only one. Absent: `concurrency`.
   */
  maxConcurrency?: number;
  /** The plan's estimate of the unit's time, seconds (absent in units planned by older versions). */
  estimatedSeconds?: number;
  /** False when no folder of the unit had a sync state at planning: none is read. Default true. */
  hasSyncStates?: boolean;
}

// --- Planning a job (coordinator.ts) ---

/** What starts a job: a schedule tick (idempotent per tick) or an on-demand request. */
export type JobTrigger =
  | { kind: "schedule"; time: string; eventId?: string }
  | { kind: "on-demand"; time: string; requestId?: string };

export interface DiscoveredMailbox {
  userId: string;
  address: string;
  displayName: string;
  purpose: string;
}

export interface SkippedMailbox {
  userId: string;
  address?: string;
  reason: string;
}

export interface FolderInfo {
  id: string;
  parentFolderId: string;
  /** Display names from the mailbox's top folders down, joined by "/" (within its mailbox). */
  path: string;
  displayName: string;
  isHidden: boolean;
  isSearchFolder: boolean;
  totalItemCount: number;
  unreadItemCount: number;
  sizeBytes?: number;
  /** Which of the user's mailboxes holds the folder. Absent: the primary mailbox. */
  mailbox?: MailboxRole;
  /** The folder class (`IPF.Note`, `IPF.Appointment`, `IPF.Contact`, …). Absent: `IPF.Note`. */
  folderClass?: string;
}

/** Which of a user's mailboxes: the primary mailbox or the in-place archive. */
export type MailboxRole = "primary" | "archive";

/** A user's mailboxes as the mailbox import/export API names them (`MBX:{guid}@{tenant}`). */
export interface MailboxApiIds {
  primary: string;
  /** The in-place archive; absent for a user without one. */
  archive?: string;
}

/** Every folder of a user's mailboxes (primary and in-place archive), parents before children. */
export interface FolderListing {
  /** Absent when the folders were listed without the import/export API (mail folders only). */
  mailboxIds?: MailboxApiIds;
  folders: FolderInfo[];
}

/** One page of the directory, its users probed: the mailboxes, the skipped users, the next page. */
export interface DirectoryPage {
  mailboxes: DiscoveredMailbox[];
  skipped: SkippedMailbox[];
  /** Where the next page starts (opaque); absent on the last page. */
  next?: string;
}

export interface MailboxDirectory {
  /** The page at `cursor` (undefined: the first page) of at most `pageSize` users, probed. */
  discoverPage(cursor: string | undefined, pageSize: number): Promise<DirectoryPage>;
  listFolders(userId: string): Promise<FolderListing>;
}

/** A planned unit, as the planner hands it out (largest first; index = order). */
export interface PlannedUnit {
  index: number;
  mailboxId: string;
  folderIds: string[];
  /** How each folder is read: one {@link FolderRead} letter per folder. Absent: every folder `m`. */
  folderReads?: string;
  cost: number;
  estimatedSeconds: number;
  concurrency: number;
  /** Slots the unit may borrow up to while its stream has them free (see {@link UnitWork}). */
  maxConcurrency?: number;
}

export interface JobPlan {
  units: PlannedUnit[];
  streams: number;
  /**
   * The request slots a stream claims units into (their `concurrency` shares): the job's first
   * streams' tasks carry the units that fill them at the start (lib/backup/start-units.ts).
   * Absent: one unit each (a plan of an older planner).
   */
  streamSlots?: number;
  predictedMakespanSeconds: number;
  lowerBoundSeconds: number;
  /**
   * The lower bound's terms (Σ mailbox stream seconds, longest mailbox's minimum seconds), so
   * that the plans of a job's discovery pieces add up. Absent: taken from the units.
   */
  work?: { streamSeconds: number; mailboxSeconds: number };
}

export interface MailboxForPlanning {
  mailbox: DiscoveredMailbox;
  folders: FolderInfo[];
  /** The user's mailboxes in the import/export API (units carry them to their item folders). */
  mailboxIds?: MailboxApiIds;
  /** Folders with a committed message delta link: they cost an incremental pass. */
  syncedFolderIds: Set<string>;
  /** Folders with a committed item delta link (a sync state of its own): the same for item reads. */
  syncedItemFolderIds?: Set<string>;
  /** The hash of the folder tree this job wrote for the mailbox; absent when it wrote none. */
  folderTreeHash?: string;
}

/** The job as a discovery piece starts it (the totals of the pieces committed before it). */
export interface DiscoveryJobView {
  createdAt: string;
  unitCount: number;
  streamCount: number;
  /** Lower bound terms and the longest unit so far (0 before the first piece). */
  workStreamSeconds: number;
  workMailboxSeconds: number;
  longestUnitSeconds: number;
}

/** What a discovery piece writes besides its units: the mailboxes it planned and skipped. */
export interface PieceDiscovery {
  mailboxes: DiscoveredMailbox[];
  skipped: SkippedMailbox[];
  /** Per mailbox, the folders with a committed sync state when the piece was planned. */
  syncedFolderIds: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per mailbox, the folders with a committed item delta link. Absent: none. */
  syncedItemFolderIds?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per mailbox, its mailboxes in the import/export API (units carry them). */
  mailboxIds?: ReadonlyMap<string, MailboxApiIds>;
  /** Per mailbox, the hash of the folder tree the job wrote (absent: none written). */
  folderTreeHashes?: ReadonlyMap<string, string>;
}

/** What a piece's commit adds to the job (lib/state/discovery.ts `commitPiece`). */
export interface PieceCommitView {
  /** The job's units after this piece (its base plus the piece's units). */
  unitCount: number;
  /** The job's streams after this piece (never fewer than before). */
  streamCount: number;
  /** Σ cost of the piece's units. */
  cost: number;
  /** Mailboxes the piece planned. */
  mailboxes: number;
  /** The next directory page; undefined: this was the last piece. */
  next?: string;
  /** The lower bound's terms and the longest unit over every piece so far. */
  workStreamSeconds: number;
  workMailboxSeconds: number;
  longestUnitSeconds: number;
  lowerBoundSeconds: number;
  predictedMakespanSeconds: number;
  /**
   * Units 0 … k − 1 set aside for the job's first streams, whose first tasks carry them
   * (`StreamTask.units`, each stream's start units): the commit moves the job's claim cursor past
   * them. Only in the piece that creates the job's first streams (no claim can have been made
   * before it).
   */
  firstUnits?: number;
}

export interface CoordinatorStatePort {
  jobIdFor(trigger: JobTrigger): string;
  /** Conditional create: a tick delivered twice finds the job it created the first time. */
  createJob(jobId: string, trigger: JobTrigger): Promise<{ created: boolean; status: string }>;
  /** Folders of the mailbox with a committed message delta link. */
  syncedFolderIds(mailboxId: string): Promise<Set<string>>;
  /** Folders of the mailbox (primary or archive) with a committed item delta link. */
  syncedItemFolderIds?(mailboxId: string): Promise<Set<string>>;
  /**
   * The hash of the folder tree the archive holds for the mailbox (promoted at finalization),
   * and the job that wrote it. Undefined: none known (every tree is written).
   */
  committedFolderTree?(mailboxId: string): Promise<{ treeHash: string; jobId: string } | undefined>;
  /**
   * {@link syncedFolderIds}, {@link syncedItemFolderIds} and {@link committedFolderTree} of a
   * mailbox at once (one state request where the three took three). Used instead of them when
   * present.
   */
  committedMailbox?(mailboxId: string): Promise<{
    syncedFolderIds: Set<string>;
    syncedItemFolderIds: Set<string>;
    folderTree?: { treeHash: string; jobId: string };
  }>;
  /** True while a job older than `jobId` is not closed (it could still write or finalize a tree). */
  olderJobOpen?(jobId: string): Promise<boolean>;
  /** The number of the job's next discovery piece (0 for a job without a discovery record). */
  nextPiece(jobId: string): Promise<number>;
  /**
   * Takes the lease of discovery piece `piece` of the job: the job's totals so far and the
   * directory page to read (undefined: the first). Undefined when `piece` is not the job's next
   * piece (done already: a stale copy) or the job is no longer discovering. `redo`: an earlier
   * delivery began the piece too.
   */
  beginPiece(
    jobId: string,
    piece: number,
    lease: string,
  ): Promise<{ job: DiscoveryJobView; cursor?: string; redo?: boolean } | undefined>;
  /**
   * The piece's units (`plan.units` in index order, written from `base` on) and its mailbox
   * records, guarded by the lease. False when the lease was lost.
   */
  writePiece(
    jobId: string,
    piece: number,
    lease: string,
    base: number,
    plan: JobPlan,
    discovery: PieceDiscovery,
    job: DiscoveryJobView,
  ): Promise<boolean>;
  /** Records of streams `from` … `to - 1` (before the commit that counts them). */
  addStreams(jobId: string, job: DiscoveryJobView, from: number, to: number): Promise<void>;
  /** Moves discovery past the piece and adds its units and streams to the job; false when the lease was lost. */
  commitPiece(jobId: string, piece: number, lease: string, commit: PieceCommitView): Promise<boolean>;
  /** True for exactly one caller, once every stream finished and discovery is done. */
  tryFinalizeJob(jobId: string): Promise<boolean>;
  /**
   * Closes a job whose planning failed: `planning` → `finalizing` with `reason` (one line) as the
   * job's failure, for the finalization to report. False when the job had left `planning`.
   */
  failPlanning(jobId: string, reason: string): Promise<boolean>;
  /**
   * Ends the discovery of a running job that cannot go on (refused credentials): `reason`
   * becomes its failure; the streams finish the units it has. False when it was not discovering.
   */
  abandonDiscovery(jobId: string, reason: string): Promise<boolean>;
}

// --- Running a stream task (stream-runner.ts) ---

export interface ClaimedUnit {
  work: UnitWork;
  checkpoint: UnitCheckpoint;
}

/** What a stream needs from the state store (adapted from `lib/state`). */
export interface StreamStatePort {
  /** "stale" when a newer task of the stream exists (a duplicate delivery) or the stream is done. */
  beginTask(task: StreamTask): Promise<"current" | "stale">;
  /**
   * For a task that carries the units set aside for it (`task.units`, its stream's start units):
   * begins the task and claims them all at once, in index order; undefined when it cannot (the
   * task is stale, a unit no longer pending), and the task then begins as any other. Absent:
   * every task begins with {@link beginTask}.
   *
   * `onRead`: called at most once, before the outcome is known, with the units as the claim
   * would leave them (read before it, all found pending), so that their first requests may go
   * out while the claim is in flight; the caller then writes nothing of them, nor processes an
   * answer, until the outcome says they are its own (lib/backup/claim-gate.ts).
   */
  beginTaskWithUnits?(
    task: StreamTask & { units: number[] },
    onRead?: (units: ClaimedUnit[]) => void,
  ): Promise<ClaimedUnit[] | undefined>;
  /** The units this stream already holds (a continuation resumes them), in index order. */
  heldUnits(task: StreamTask): Promise<ClaimedUnit[]>;
  /**
   * The next unit for this stream (orphaned ones first, then the largest pending); null when
   * none is left, "later" when none is pending now but the job's discovery may add more.
   */
  claimUnit(task: StreamTask): Promise<ClaimedUnit | null | "later">;
  unitState(task: StreamTask, unitIndex: number): UnitStatePort;
  /** Ends the unit; also a sign of life of the stream, as a claim is (its `heartbeatAt`). */
  completeUnit(task: StreamTask, unitIndex: number, result: UnitResult): Promise<void>;
  /** A sign of life; the runner sends one only when no claim or unit end wrote one within the period. */
  heartbeat(task: StreamTask, unitIndex: number | undefined): Promise<void>;
  /** Moves the stream to `seq + 1` (conditional on `seq`) and returns the continuation task. */
  handOn(task: StreamTask): Promise<StreamTask>;
  /**
   * Marks the stream finished. `othersLeft`: another stream of the job was still to finish when
   * this one did, so this one need not try the job's finalization (that stream will).
   */
  finishStream(task: StreamTask): Promise<{ othersLeft: boolean }>;
  /** True for exactly one caller, once every stream of the job has finished. */
  tryFinalizeJob(jobId: string): Promise<boolean>;
}

export interface UnitResult {
  status: "done" | "mailbox-skipped" | "failed";
  /** The unit's last checkpoint, to be written with its end (see `deferLastCheckpoint`). */
  last?: LastCheckpoint;
  progress: UnitProgress;
  errors: RecordedError[];
  incompleteFolders: string[];
  startedAt: string;
  endedAt: string;
}

// --- The sweep (sweep.ts) ---

export interface OpenJobView {
  jobId: string;
  /** planning | running | finalizing */
  status: string;
  /** When the status last changed (ISO time). */
  updatedAt: string;
}

export interface StreamView {
  streamId: number;
  seq: number;
  status: "pending" | "running" | "finished";
  /** Last sign of life (ISO time): task start, heartbeat or checkpoint. */
  heartbeatAt: string;
}

/** Where a job's discovery stands, for the sweep. */
export interface DiscoveryView {
  /** Planning, or running with discovery open. */
  discovering: boolean;
  /** The next piece. */
  piece: number;
  /** Last progress (ISO): a piece begun or committed, a continuation re-sent. */
  updatedAt: string;
  /** Continuations re-sent since the last progress. */
  resends: number;
  status: string;
}

export interface SweepStatePort {
  openJobs(): Promise<OpenJobView[]>;
  /** The job's discovery; undefined when the job is gone. */
  discovery(jobId: string): Promise<DiscoveryView | undefined>;
  /** Counts a re-sent continuation, conditional on the discovery as read; false when it moved. */
  markContinuationResent(jobId: string, piece: number, resends: number): Promise<boolean>;
  /** See {@link CoordinatorStatePort.abandonDiscovery}. */
  abandonDiscovery(jobId: string, reason: string): Promise<boolean>;
  streams(jobId: string): Promise<StreamView[]>;
  handOn(task: StreamTask): Promise<StreamTask>;
  tryFinalizeJob(jobId: string): Promise<boolean>;
  /** planning → finalizing with the reason (see CoordinatorStatePort.failPlanning). */
  failPlanning(jobId: string, reason: string): Promise<boolean>;
}

// --- Finalizing a job (finalize.ts) ---

export interface FinalizeStatePort {
  /** Everything the report needs from the job's records (all of them: a small or an older job's). */
  reportInput(jobId: string): Promise<Omit<ReportInput, "endedAt">>;
  /**
   * What the report takes from the job record, and whether its mailbox records list their units
   * (`inPieces`: jobs created since 2026-12-07; the report can then be read page by page).
   */
  reportHead(jobId: string): Promise<ReportHeadView>;
  /** The job's units after the sort key `after`, at most `limit`, in index order. */
  unitPage(
    jobId: string,
    after: string | undefined,
    limit: number,
  ): Promise<ReportRecordPage<UnitRecordView>>;
  /** The job's mailboxes after the sort key `after`, at most `limit`, in id order, each with its units. */
  mailboxPage(
    jobId: string,
    after: string | undefined,
    limit: number,
  ): Promise<ReportRecordPage<{ mailboxId: string; address: string; units: UnitRecordView[] }>>;
  /** The job's skipped mailboxes after the sort key `after`, at most `limit`. */
  skippedPage(
    jobId: string,
    after: string | undefined,
    limit: number,
  ): Promise<ReportRecordPage<ReportInput["skippedMailboxes"][number]>>;
  /** Where the job's finalization stands; undefined until its report and manifest are written. */
  finalizeProgress(jobId: string): Promise<FinalizeProgress | undefined>;
  /**
   * Records where it stands (and that a finalizer is at work: the sweep leaves the job alone
   * meanwhile). False when the job is no longer `finalizing` (another finalizer closed it).
   */
  saveFinalizeProgress(jobId: string, progress: FinalizeProgress): Promise<boolean>;
  /**
   * Makes one page of the job's staged sync states (folders it completed), at most `limit` of
   * those after the key `after`, the base of the next run. `last`: where the next page starts; undefined when none is left. `records`: the page's staged states.
   */
  promoteSyncStatesPage(
    jobId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ last?: string; records?: number }>;
  /** The job's mailboxes as finalization ends them, in id order (code units): all of them (an older job's). */
  mailboxEnds(jobId: string): Promise<MailboxEnd[]>;
  /**
   * A page of them (jobs whose mailbox records list their units, `ReportHeadView.inPieces`): at
   * most `limit` after the mailbox id `after`; `last`: where the next page starts.
   */
  mailboxEndsPage(
    jobId: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ ends: MailboxEnd[]; last?: string }>;
  /** Their folder trees and last successful job (see {@link MailboxEnd}). */
  endMailboxes(jobId: string, ends: readonly MailboxEnd[]): Promise<void>;
  /** Closes the job with the report's status and end time. */
  markJobFinished(jobId: string, status: JobReport["status"], endedAt: string): Promise<void>;
}

/** A page of a job's records and where the next starts (`last`: a sort key; undefined when none is left). */
export interface ReportRecordPage<T> {
  records: T[];
  last?: string;
}

export type ReportHeadView = Omit<ReportInput, "endedAt" | "units" | "mailboxes" | "skippedMailboxes"> & {
  inPieces: boolean;
};

/**
 * A finalization's checkpoint (finalize.ts). Stage `report`: the report and the manifest are
 * being written a page of records at a time (`report` says which records, `after` which sort
 * key, the pages written and the figures so far; the status is known once every page is read). Stages `sync` and `mailboxes`: the report and manifest are written
 * (`endedAt`, `status`); what is left is the staged sync states after `after` (stage `sync`: sort
 * keys), then the mailboxes after `after` (stage `mailboxes`: ids, code-unit order).
 */
export type FinalizeProgress =
  | { stage: "report"; after?: string; endedAt: string; report: ReportProgress }
  | { stage: "sync" | "mailboxes"; after?: string; endedAt: string; status: JobReport["status"] };

/** Where the report written in pieces stands (finalize.ts). */
export interface ReportProgress {
  /** The records being read: units (plan and unit lists), then mailboxes (with the manifest's pages), then skipped. */
  records: "units" | "mailboxes" | "skipped";
  /** Pages written so far per list (the report's paged lists and `manifest`), and their entries. */
  parts: Record<string, number>;
  entries: Record<string, number>;
  tally: ReportTally;
  /** Pieces done so far (one page of records each). */
  pieces: number;
}

/** What finalization does for one mailbox of the job. */
export interface MailboxEnd {
  mailboxId: string;
  /** The folder tree the job wrote for it (its hash): it becomes the mailbox's tree. */
  treeHash?: string;
  /** Every unit of it completed every folder: the job becomes its last successful one. */
  complete: boolean;
}

export interface FinalizeArchivePort {
  /**
   * Writes the report; `pagedLists` (dot paths into the report) are the lists that grow with the
   * tenant, which the archive may store in pages (docs/archive-format.md).
   */
  writeReport(report: JobReport, paging: { pagedLists: readonly string[] }): Promise<void>;
  /** The manifest makes the job's catalog count in point-in-time views. */
  writeManifest(report: JobReport): Promise<void>;
  /**
   * The job's report as report.json holds it (its paged lists empty): what a finalization that
   * went on in another invocation returns.
   */
  readReportSummary(jobId: string): Promise<JobReport | undefined>;
  /** One piece of a paged list of the report, from part `firstPart` on; returns the parts written. */
  writeReportPages(
    jobId: string,
    list: string,
    firstPart: number,
    entries: readonly unknown[],
  ): Promise<number>;
  /** report.json of a report written in pieces, after all its pages. */
  writeReportSummary(
    summary: JobReport,
    pages: Record<string, { parts: number; entries: number }>,
  ): Promise<void>;
  /** One piece of the manifest's mailbox list (id order), from part `firstPart` on; returns the parts written. */
  writeManifestPages(
    jobId: string,
    firstPart: number,
    mailboxes: ReadonlyArray<Pick<JobReport["mailboxes"][number], "mailboxId" | "status" | "address">>,
  ): Promise<number>;
  /** manifest.json of a manifest written in pieces, after all its pages. */
  writeManifestSummary(
    source: Pick<JobReport, "jobId" | "status" | "endedAt">,
    mailboxPages: { parts: number; entries: number },
  ): Promise<void>;
}

// --- Job reports (report.ts builds them; the archive stores them: docs/archive-format.md) ---

/**
 * A stream's running summary, compact because a finalization's checkpoint carries one per
 * stream (1,000 streams ≈ 50 KB of the job's META): [streamId, units started, first start (epoch
 * ms, -1 none), last end (epoch ms, -1 none), busy ms, items, bytes].
 */
export type StreamTally = [number, number, number, number, number, number, number];

/**
 * The report's figures over the unit and mailbox records read so far: what a finalization in
 * pieces carries from one page of records to the next (lib/backup/finalize.ts), and what the
 * report's totals, streams and status are made of once every page is read.
 */
export interface ReportTally {
  units: number;
  items: number;
  bytes: number;
  removed: number;
  deduplicated: number;
  /** Recorded errors that are not notices. */
  errors: number;
  requests: number;
  throttled: number;
  /** Units that ended neither done nor mailbox-skipped (the job failed). */
  unitsNotDone: number;
  /** The latest unit end (ISO). */
  lastUnitEnd?: string;
  /** Streams that held a unit, by id. */
  streams: StreamTally[];
  mailboxes: number;
  /** Mailboxes not complete (the job is partial). */
  mailboxesIncomplete: number;
}

/** One unit as the state store ends it: its plan and what happened. */
export interface UnitRecordView {
  index: number;
  mailboxId: string;
  folderIds: string[];
  cost: number;
  estimatedSeconds: number;
  concurrency: number;
  status: string;
  streamId?: number;
  startedAt?: string;
  endedAt?: string;
  progress: UnitProgress;
  requests?: number;
  throttled?: number;
  errors: RecordedError[];
  incompleteFolders: string[];
}

export interface ReportInput {
  jobId: string;
  trigger: string;
  createdAt: string;
  /** When the first stream tasks were sent (the first discovery piece committed). */
  plannedAt?: string;
  /** When discovery was done (its last piece committed); absent for jobs planned whole by older versions. */
  discoveredAt?: string;
  /** Why the job failed before any unit ran (its planning failed or was abandoned): one line. */
  failure?: string;
  endedAt: string;
  streams: number;
  predictedMakespanSeconds: number;
  lowerBoundSeconds: number;
  mailboxes: Array<{ mailboxId: string; address: string }>;
  skippedMailboxes: Array<{ userId: string; address?: string; reason: string }>;
  units: UnitRecordView[];
}

export interface JobReport {
  jobId: string;
  trigger: string;
  /**
   * complete: everything stored; partial: some items, folders or mailboxes recorded as errors;
   * failed: units failed, or the job failed before any ran ({@link failure}).
   */
  status: "complete" | "partial" | "failed";
  /** Why the job failed before any unit ran (refused credentials, planning abandoned): one line. */
  failure?: string;
  createdAt: string;
  endedAt: string;
  makespanSeconds: number;
  /**
   * Where the makespan went: discovery and planning up to the first streams (job created →
   * the first stream tasks sent), the streams' backup (→ last unit ended), finalization (→ job
   * ended); and discovery's whole span (job created → last piece committed), which overlaps the
   * backup (absent in reports of older versions). Seconds.
   */
  phases: {
    planningSeconds: number;
    backupSeconds: number;
    finalizingSeconds: number;
    discoverySeconds?: number;
  };
  totals: UnitProgress & {
    mailboxes: number;
    units: number;
    errors: number;
    requests: number;
    throttled: number;
  };
  plan: {
    streams: number;
    predictedMakespanSeconds: number;
    lowerBoundSeconds: number;
    units: Array<
      Pick<UnitRecordView, "index" | "mailboxId" | "folderIds" | "cost" | "estimatedSeconds" | "concurrency">
    >;
  };
  units: Array<{
    index: number;
    mailboxId: string;
    status: string;
    streamId?: number;
    startedAt?: string;
    endedAt?: string;
    seconds?: number;
    items: number;
    bytes: number;
    requests?: number;
    throttled?: number;
    errors: number;
  }>;
  streams: Array<{
    streamId: number;
    units: number;
    firstStart?: string;
    lastEnd?: string;
    busySeconds: number;
    /** Seconds between the job's start and its end that the stream spent without a unit. */
    idleSeconds: number;
    items: number;
    bytes: number;
  }>;
  mailboxes: Array<{
    mailboxId: string;
    address: string;
    status: "complete" | "partial" | "skipped" | "failed";
    items: number;
    bytes: number;
    errors: RecordedError[];
  }>;
  skippedMailboxes: ReportInput["skippedMailboxes"];
}
