/**
 * How a folder is read (one letter, as units store it; lib/backup/ports.ts `FolderRead`):
 * `m` message delta and MIME; `b` the same plus export streams; `p` item delta and export
 * streams of the primary mailbox; `a` the same in the in-place archive.
 */
export type FolderRead = "m" | "b" | "p" | "a";

/**
 * What is kept of mail (the configuration's `mailContent`): `mime` (byte-exact `.eml`),
 * `fidelity` (export streams), `both`. Every other kind of item is always an export stream.
 */
export type MailContent = "mime" | "fidelity" | "both";

/** One folder as the planner sees it (from the folder listing and the committed sync states). */
export interface PlanFolder {
  /** How the folder is read. Default `m` (message delta and MIME). */
  read?: FolderRead;
  folderId: string;
  /** Display path from the mailbox root, for reports. */
  path: string;
  /** Items in the folder (`totalItemCount`). ≥ 0. */
  totalItemCount: number;
  /**
   * Total size of the folder's items in bytes, when the service gave it (≥ 0); otherwise the
   * items count `averageItemBytes` each.
   */
  sizeBytes?: number;
  /** The folder has a committed delta link: the next pass is incremental. */
  hasSyncState: boolean;
  /** Search folders hold no items of their own: they are never backed up. */
  isSearchFolder: boolean;
  /**
   * Items expected to have changed since the last backup, when the caller knows better than
   * `changeRatio` (e.g. from counts seen by the previous job, or exact counts in a benchmark).
   * Used only when `hasSyncState`. ≥ 0. 0 means unchanged: the pass costs one request.
   */
  estimatedChangedItems?: number;
}

export interface PlanMailbox {
  /** Graph user id. */
  mailboxId: string;
  address: string;
  folders: PlanFolder[];
}

/** What a piece of work needs: Graph requests, and the time they take one after another. */
export interface WorkEstimate {
  /** Graph requests (delta pages + MIME downloads + export requests + overhead). */
  requests: number;
  /** Seconds the requests take back to back: requests × L + bytes × perByteSeconds. */
  serialSeconds: number;
}

/** A piece of work handed to a stream: one mailbox, or a group of folders of one big mailbox. */
export interface Unit {
  /** Position in the plan; streams pull units in this order (largest first). */
  index: number;
  mailboxId: string;
  /** The non-search folders this unit backs up; empty for a mailbox without any. */
  folderIds: string[];
  /** How each folder is read: one {@link FolderRead} letter per folder, in `folderIds` order. */
  folderReads: string;
  /** Estimated Graph requests. */
  cost: number;
  /** Seconds the requests take back to back (before concurrency). */
  serialSeconds: number;
  /**
   * Seconds a stream is expected to spend on the unit: its requests at its concurrency and budget
   * share, plus `unitOverheadSeconds`.
   */
  estimatedSeconds: number;
  /** Concurrent requests the unit may run: its share of the mailbox's C. ≥ 1. */
  concurrency: number;
  /**
   * Stream bins (plan.ts, bins.ts): the slots the unit may use while its stream has them free,
   * beyond its share (`concurrency` ≤ it ≤ C_stream): only a unit that is its mailbox's only one
   * gets more than its share, so its mailbox never runs more than C. The stream serves every
   * unit's share first and lends what is left (lib/backup/stream-runner.ts, simulate.ts). Absent:
   * its share only (plans before session 17, and every plan that is not a stream bins one).
   */
  maxConcurrency?: number;
  /** `mailbox`: the whole mailbox; `folders`: one folder group of a split mailbox. */
  kind: "mailbox" | "folders";
}

/** How one mailbox was planned. */
export interface MailboxPlan {
  mailboxId: string;
  address: string;
  /** The whole mailbox's estimate, overhead included. */
  cost: number;
  serialSeconds: number;
  /** Shortest time the mailbox can take under its per-mailbox limits (its term in the lower bound). */
  minimumSeconds: number;
  /** Indexes of its units in the plan. */
  unitIndexes: number[];
  /** Search folders: listed by Graph, backed up by no unit. */
  excludedFolderIds: string[];
}

export interface Plan {
  /**
   * Largest (longest) first, then the tail fillers (`tailFillers`), or by their start in a
   * balanced assignment (`startOrdered`), or whole units then one-slot units by their start in a
   * slot layout (`slotPacked`), or in the order the start deal hands each stream its bin
   * (`streamBins`); `units[i].index === i`.
   */
  units: Unit[];
  /**
   * Tail fillers (plan.ts): the last `tailFillers` units of `units` are the short fillers of
   * mailboxes cut for the tail, longest first, each mailbox's main unit keeping its whole unit's
   * place before them. Absent when none.
   */
  tailFillers?: number;
  /**
   * The units are ordered by their start in a balanced assignment of whole-stream units to the
   * streams (plan.ts, waves.ts), not longest first. Absent when longest first.
   */
  startOrdered?: true;
  /**
   * Slot packing (plan.ts, slot-pack.ts): the mailboxes that may share a stream are laid out along
   * the streams' slots as units of one slot each, ordered by their start in that layout, after the
   * other mailboxes' whole units (longest first). Absent otherwise.
   */
  slotPacked?: true;
  /**
   * Stream bins (plan.ts, bins.ts): every unit is a start unit, dealt to the streams as the plan
   * packed them (each stream's units end together, whole mailboxes borrowing the slots the others
   * leave: `maxConcurrency`); `streams` is then the bins' count (at most `maxStreams`). Absent otherwise.
   */
  streamBins?: true;
  /** N: streams to start. 0 when there is nothing to do. */
  streams: number;
  /**
   * The request slots a stream claims units into (`perStreamConcurrency × unitsPerStream`): at
   * the job's start each stream is handed the units that fill them (lib/backup/start-units.ts).
   */
  streamSlots: number;
  /** Makespan of dynamic assignment of `units` to `streams` (see `simulateSchedule`). */
  predictedMakespanSeconds: number;
  /** The lower bound for `streams` streams (see `lowerBound`). */
  lowerBoundSeconds: number;
  /** Σ unit costs, in requests. */
  totalCost: number;
  perMailbox: MailboxPlan[];
  /**
   * The lower bound's two terms (lib/plan/lower-bound.ts), so that plans of parts of a tenant
   * (discovery pieces) add up to the whole's bound: Σ of the mailboxes' stream seconds, and the
   * longest mailbox's minimum seconds.
   */
  work: { streamSeconds: number; mailboxSeconds: number };
}
