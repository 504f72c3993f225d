import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { requireJob } from "./jobs.js";
import {
  FOLDER_PREFIX,
  folderSk,
  ITEMS_PREFIX,
  itemsSk,
  jobPk,
  META,
  mailboxPk,
  STAGED_SYNC_PREFIX,
  stagedSyncSk,
} from "./keys.js";
import type { CommittedSyncState, StagedSyncState } from "./records.js";
import { type StateTable, strip, type TransactItem } from "./table.js";

/**
 * Stages a folder's new delta link in the job (only once every item and the catalog of the
 * folder are stored). It becomes the folder's sync state when the job finalizes
 * ({@link promoteSyncStates}). Repeating it overwrites with the newer link of the same job.
 */
export async function stagePendingSyncState(
  t: StateTable,
  jobId: string,
  state: StagedSyncState,
): Promise<void> {
  const item = await stagedSyncItem(t, jobId, state);
  await t.send((ddb) => ddb.send(new PutCommand({ TableName: t.name, Item: item })));
}

/** The same staging as a transaction item, so it can go with the checkpoint that ends the folder. */
export async function stagedSyncStatePut(
  t: StateTable,
  jobId: string,
  state: StagedSyncState,
): Promise<TransactItem> {
  return { Put: { TableName: t.name, Item: await stagedSyncItem(t, jobId, state) } };
}

async function stagedSyncItem(
  t: StateTable,
  jobId: string,
  state: StagedSyncState,
): Promise<Record<string, unknown>> {
  return {
    pk: jobPk(jobId),
    sk: stagedSyncSk(state.mailboxId, state.folderId, state.via),
    expiresAt: await jobExpiresAt(t, jobId),
    ...state,
    stagedAt: t.nowIso(),
  };
}

/** A job's creation time never changes: remember its TTL so staging a folder costs one write. */
const expiryByJob = new WeakMap<StateTable, Map<string, number>>();

async function jobExpiresAt(t: StateTable, jobId: string): Promise<number> {
  let known = expiryByJob.get(t);
  if (!known) {
    known = new Map();
    expiryByJob.set(t, known);
  }
  let expiresAt = known.get(jobId);
  if (expiresAt === undefined) {
    expiresAt = t.expiresAt((await requireJob(t, jobId)).createdAt);
    if (known.size >= 64) known.clear(); // a controller serves few jobs; keep the map small
    known.set(jobId, expiresAt);
  }
  return expiresAt;
}

export async function stagedSyncStates(t: StateTable, jobId: string): Promise<StagedSyncState[]> {
  return (await t.query(jobPk(jobId), STAGED_SYNC_PREFIX)).map(stagedFrom);
}

/** A staged record's sync state (its keys and staging time left out). */
function stagedFrom(item: Record<string, unknown>): StagedSyncState {
  const { stagedAt: _at, ...state } = strip(item);
  return state as unknown as StagedSyncState;
}

/**
 * A mailbox's committed sync states (the bases of its next incremental pass), by folder id: its
 * message delta links, or with `via: "items"` its item delta links (primary and archive folders).
 */
export async function committedSyncStates(
  t: StateTable,
  mailboxId: string,
  via?: "items",
): Promise<Map<string, CommittedSyncState>> {
  const items = await t.query(mailboxPk(mailboxId), via === "items" ? ITEMS_PREFIX : FOLDER_PREFIX);
  return new Map(items.map((i) => [i.folderId as string, strip(i) as unknown as CommittedSyncState]));
}

/** What a mailbox's own partition (`MBX#<m>`) holds for planning and backing it up. */
export interface CommittedMailboxState {
  /** Committed message delta links by folder id (`FOLDER#`). */
  messages: Map<string, CommittedSyncState>;
  /** Committed item delta links by folder id (`ITEMS#`). */
  items: Map<string, CommittedSyncState>;
  /** The folder tree the archive holds for it (`META`: `folderTreeHash`, `folderTreeJob`). */
  tree?: { treeHash: string; jobId: string };
}

/**
 * A mailbox's committed sync states of both kinds and its folder tree, in one query of its
 * partition (one request for a mailbox of up to a few thousand folders) where reading them
 * apart took three.
 */
export async function committedMailboxState(
  t: StateTable,
  mailboxId: string,
): Promise<CommittedMailboxState> {
  const state: CommittedMailboxState = { messages: new Map(), items: new Map() };
  for (const item of await t.query(mailboxPk(mailboxId), "")) {
    const sk = item.sk as string;
    if (sk.startsWith(FOLDER_PREFIX)) {
      state.messages.set(item.folderId as string, strip(item) as unknown as CommittedSyncState);
    } else if (sk.startsWith(ITEMS_PREFIX)) {
      state.items.set(item.folderId as string, strip(item) as unknown as CommittedSyncState);
    } else if (
      sk === META &&
      typeof item.folderTreeHash === "string" &&
      typeof item.folderTreeJob === "string"
    ) {
      state.tree = { treeHash: item.folderTreeHash, jobId: item.folderTreeJob };
    }
  }
  return state;
}

export async function committedSyncState(
  t: StateTable,
  mailboxId: string,
  folderId: string,
  via?: "items",
): Promise<CommittedSyncState | undefined> {
  const item = await t.get(mailboxPk(mailboxId), via === "items" ? itemsSk(folderId) : folderSk(folderId));
  return item ? (strip(item) as unknown as CommittedSyncState) : undefined;
}

/**
 * Makes the job's staged sync states the committed ones. Each folder's write is conditional on
 * its last job being this one or older, so a late finalization of an older job never overwrites
 * a newer job's state. The writes go in transactions of up to 100 folders (of any mailboxes), a
 * folder refused by its condition left out of its transaction's repeat: a request per 100
 * folders instead of one per folder. Safe to repeat.
 *
 * @returns folders promoted, and folders left alone because a newer job committed them.
 */
export async function promoteSyncStates(
  t: StateTable,
  jobId: string,
): Promise<{ promoted: number; superseded: number }> {
  const total = { promoted: 0, superseded: 0 };
  let after: string | undefined;
  do {
    const page = await promoteSyncStatesPage(t, jobId, after, PROMOTE_PAGE);
    total.promoted += page.promoted;
    total.superseded += page.superseded;
    after = page.last;
  } while (after !== undefined);
  return total;
}

/** Staged sync states promoted per page (one Query, then this many conditional updates, 16 at once). */
export const PROMOTE_PAGE = 256;

/**
 * Promotes one page of the job's staged sync states, those after the sort key `after` (absent:
 * from the first), as {@link promoteSyncStates} does: a finalization that may stop between pages
 * and go on in another invocation. `last`: where the next page starts, undefined when none is left.
 */
export async function promoteSyncStatesPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
): Promise<{ promoted: number; superseded: number; last?: string }> {
  const page = await t.queryPage(jobPk(jobId), STAGED_SYNC_PREFIX, {
    ...(after !== undefined ? { after } : {}),
    limit,
  });
  const staged = page.items.map(stagedFrom);
  const now = t.nowIso();
  const written = await t.transactEach(
    staged.map((s) =>
      t.update(
        mailboxPk(s.mailboxId),
        s.via === "items" ? itemsSk(s.folderId) : folderSk(s.folderId),
        (s.via === "items"
          ? "SET mailboxId = :m, folderId = :f, deltaLink = :link, lastJob = :job, updatedAt = :now, via = :via"
          : "SET mailboxId = :m, folderId = :f, deltaLink = :link, lastJob = :job, updatedAt = :now") +
          (s.path === undefined ? "" : ", #path = :path"),
        {
          ":m": s.mailboxId,
          ":f": s.folderId,
          ":link": s.deltaLink,
          ":job": jobId,
          ":now": now,
          ...(s.via === "items" ? { ":via": s.via } : {}),
          ...(s.path === undefined ? {} : { ":path": s.path }),
        },
        "attribute_not_exists(lastJob) OR lastJob <= :job",
        s.path === undefined ? undefined : { "#path": "path" },
      ),
    ),
  );
  const promoted = written.filter(Boolean).length;
  return {
    promoted,
    superseded: written.length - promoted,
    ...(page.last !== undefined ? { last: page.last } : {}),
  };
}
