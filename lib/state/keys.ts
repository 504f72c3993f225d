/**
 * Key layout of the single state table (string keys `pk`, `sk`). Indexes are zero-padded so
 * that the sort key order is the numeric order (units: largest first).
 */

/** Units per job: the zero padding of `UNIT#` sort keys holds up to this many. */
export const MAX_UNITS = 1_000_000;
/** Streams per job: the zero padding of `STREAM#` sort keys holds up to this many. */
export const MAX_STREAMS = 10_000;

/**
 * The single-table design of mailstream's state (docs/design.md "State", docs/state.md): string keys
 * `pk` and `sk`, on-demand capacity, TTL on `expiresAt` (epoch seconds) for old job records.
 * The CDK stack (infra/constructs/state-table.ts) and the local table (lib/dev/local) both read
 * these names, so they cannot drift apart from what lib/state writes.
 */
export const STATE_TABLE_SCHEMA = {
  partitionKey: "pk",
  sortKey: "sk",
  /** Epoch seconds after which DynamoDB may delete the item (never enforced by DynamoDB Local). */
  ttlAttribute: "expiresAt",
} as const;

export const META = "META";
/** A job's discovery checkpoint (lib/state/discovery.ts). */
export const DISCOVERY = "DISCOVERY";
/** Partition listing every job (sk = job id, so queries come back in time order). */
export const JOBS_PK = "JOBS";

export const UNIT_PREFIX = "UNIT#";
export const STREAM_PREFIX = "STREAM#";
/**
 * Sync states a job staged for folders it completed, promoted at finalization: one item per
 * folder, as versions before 2026-12-07 (session 13) wrote them. Still read (a job in flight
 * across an upgrade), no longer written.
 */
export const STAGED_SYNC_PREFIX = "SYNC#";
/**
 * Sync states a job staged, since 2026-12-07 (session 13): one item per write of a unit (its
 * checkpoint or its end) holding the states of the folders that write finished, at most
 * {@link MAX_STATES_PER_STAGED_SET} (lib/state/sync-states.ts), promoted at finalization after
 * the older per-folder items. Sorts after `SYNC#` ("SYNCSET#" > "SYNC#", '#' < 'S').
 */
export const STAGED_SET_PREFIX = "SYNCSET#";
/** Mailboxes a job planned (for its report). */
export const JOB_MAILBOX_PREFIX = "MAILBOX#";
/** Mailboxes discovery skipped in a job, with the reason. */
export const SKIPPED_PREFIX = "SKIPPED#";
export const FOLDER_PREFIX = "FOLDER#";
/**
 * A folder's committed item delta link (mailbox import/export API), apart from its message delta
 * link under {@link FOLDER_PREFIX}: the two kinds of link of one folder never stand for each other.
 */
export const ITEMS_PREFIX = "ITEMS#";

export const jobPk = (jobId: string) => `JOB#${jobId}`;
export const unitSk = (index: number) => `${UNIT_PREFIX}${String(index).padStart(6, "0")}`;
export const streamSk = (streamId: number) => `${STREAM_PREFIX}${String(streamId).padStart(4, "0")}`;
/**
 * A per-folder staged item's key, as versions before 2026-12-07 (session 13) wrote it: no longer
 * written by mailstream; the tests and bench/state-request-cost.ts write such items to stand for
 * a job staged by older code.
 */
export const stagedSyncSk = (mailboxId: string, folderId: string, via?: "items") =>
  via === "items"
    ? `${STAGED_SYNC_PREFIX}${mailboxId}#${ITEMS_PREFIX}${folderId}`
    : `${STAGED_SYNC_PREFIX}${mailboxId}#${folderId}`;
/** A staged set's key: its mailbox, then a hash of the folders it holds (the same write, the same key). */
export const stagedSetSk = (mailboxId: string, foldersHash: string) =>
  `${STAGED_SET_PREFIX}${mailboxId}#${foldersHash}`;
export const jobMailboxSk = (mailboxId: string) => `${JOB_MAILBOX_PREFIX}${mailboxId}`;
export const skippedSk = (userId: string) => `${SKIPPED_PREFIX}${userId}`;
export const mailboxPk = (mailboxId: string) => `MBX#${mailboxId}`;
export const folderSk = (folderId: string) => `${FOLDER_PREFIX}${folderId}`;
export const itemsSk = (folderId: string) => `${ITEMS_PREFIX}${folderId}`;
