import { createHash } from "node:crypto";
import { requireJob } from "./jobs.js";
import {
  FOLDER_PREFIX,
  folderSk,
  ITEMS_PREFIX,
  itemsSk,
  jobPk,
  META,
  mailboxPk,
  STAGED_SET_PREFIX,
  STAGED_SYNC_PREFIX,
  stagedSetSk,
} from "./keys.js";
import type { CommittedSyncState, StagedSyncState } from "./records.js";
import { type StateTable, strip, type TransactItem } from "./table.js";

/** Sync states one staged set holds at most (so that a set stays far under DynamoDB's 400 KB item). */
export const MAX_STATES_PER_STAGED_SET = 100;
/** A staged set's states' strings in bytes at most (folder ids, links, paths): a quarter of the item limit. */
const MAX_STAGED_SET_BYTES = 100_000;

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
  for (const put of await stagedSyncStatePuts(t, jobId, [state])) await t.transact([put]);
}

/**
 * The staging of the states a unit's write finishes, as transaction items, so that it goes with
 * the checkpoint (or the end) that records those folders finished: one item per mailbox and
 * {@link MAX_STATES_PER_STAGED_SET} states (a staged set, `SYNCSET#<mailbox>#<hash>`) where
 * older versions wrote one item per folder. DynamoDB Local spent ≈ 4 CPU ms on a many-small
 * unit's 17 per-folder items; on AWS the write units follow the bytes (1 KB each, twice in a
 * transaction), about the same either way, and the transaction holds fewer items (at most 100).
 * The key hashes the folders the set holds (not their links), so a repeated write replaces its
 * set, with the newer link of the same job.
 */
export async function stagedSyncStatePuts(
  t: StateTable,
  jobId: string,
  states: readonly StagedSyncState[],
): Promise<TransactItem[]> {
  if (states.length === 0) return [];
  const expiresAt = await jobExpiresAt(t, jobId);
  const stagedAt = t.nowIso();
  return stagedSets(states).map((set) => ({
    Put: {
      TableName: t.name,
      Item: {
        pk: jobPk(jobId),
        sk: stagedSetSk(set.mailboxId, foldersHash(set.states)),
        expiresAt,
        mailboxId: set.mailboxId,
        states: set.states,
        stagedAt,
      },
    },
  }));
}

/** What a staged set holds of each state: its mailbox is the set's. */
type SetState = Omit<StagedSyncState, "mailboxId">;

/** States grouped by mailbox (in the order met), each group cut to fit a set. */
function stagedSets(states: readonly StagedSyncState[]): Array<{ mailboxId: string; states: SetState[] }> {
  const byMailbox = new Map<string, SetState[]>();
  for (const { mailboxId, ...rest } of states) {
    const list = byMailbox.get(mailboxId) ?? [];
    list.push(rest);
    byMailbox.set(mailboxId, list);
  }
  const sets: Array<{ mailboxId: string; states: SetState[] }> = [];
  for (const [mailboxId, list] of byMailbox) {
    let current: SetState[] = [];
    let bytes = 0;
    for (const state of list) {
      const size = stateBytes(state);
      if (
        current.length > 0 &&
        (current.length >= MAX_STATES_PER_STAGED_SET || bytes + size > MAX_STAGED_SET_BYTES)
      ) {
        sets.push({ mailboxId, states: current });
        current = [];
        bytes = 0;
      }
      current.push(state);
      bytes += size;
    }
    sets.push({ mailboxId, states: current });
  }
  return sets;
}

function stateBytes(state: SetState): number {
  return (
    Buffer.byteLength(state.folderId) +
    Buffer.byteLength(state.deltaLink) +
    (state.path === undefined ? 0 : Buffer.byteLength(state.path)) +
    40 // attribute names and the list's overhead
  );
}

/** The folders a set holds (id and kind of link), hashed: a set's key, the same for a repeat of its write. */
function foldersHash(states: readonly SetState[]): string {
  const hash = createHash("sha256");
  for (const key of states.map((s) => `${s.via ?? ""}:${s.folderId}`).sort()) hash.update(`${key}\n`);
  return hash.digest("hex").slice(0, 16);
}

/**
 * A job's creation time never changes: remember it (by table and job) so that staging costs no
 * read of the job. Not per StateTable: every stream task works through a view of its own
 * (`StateStore.withRetryDeadline`), and each read the job again (64 reads in a many-small
 * N = 64 run). The read in flight is shared too: streams end their first units together.
 */
const createdAtByJob = new Map<string, Promise<string>>();

async function jobExpiresAt(t: StateTable, jobId: string): Promise<number> {
  const key = `${t.name}\n${jobId}`;
  let createdAt = createdAtByJob.get(key);
  if (createdAt === undefined) {
    createdAt = requireJob(t, jobId).then(
      (job) => job.createdAt,
      (error: unknown) => {
        createdAtByJob.delete(key); // a failed read is not remembered: the next staging reads again
        throw error;
      },
    );
    if (createdAtByJob.size >= 64) createdAtByJob.clear(); // a controller serves few jobs
    createdAtByJob.set(key, createdAt);
  }
  return t.expiresAt(await createdAt);
}

/** Every sync state the job staged, in either layout (per-folder items first, then sets). */
export async function stagedSyncStates(t: StateTable, jobId: string): Promise<StagedSyncState[]> {
  const perFolder = (await t.query(jobPk(jobId), STAGED_SYNC_PREFIX)).map(stagedFrom);
  const inSets = (await t.query(jobPk(jobId), STAGED_SET_PREFIX)).flatMap(statesOfSet);
  return [...perFolder, ...inSets];
}

/** A per-folder staged record's sync state (its keys and staging time left out). */
function stagedFrom(item: Record<string, unknown>): StagedSyncState {
  const { stagedAt: _at, ...state } = strip(item);
  return state as unknown as StagedSyncState;
}

/** A staged set's sync states. */
function statesOfSet(item: Record<string, unknown>): StagedSyncState[] {
  const mailboxId = item.mailboxId as string;
  return (item.states as SetState[]).map((s) => ({ mailboxId, ...s }));
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
 * and go on in another invocation. The per-folder items older versions staged come first (`SYNC#`:
 * a job in flight across the upgrade has some), then the staged sets (`SYNCSET#`), whole sets
 * until about `limit` states. `last`: where the next page starts (a sort key of either layout),
 * undefined when none is left; `records`: the states the page promoted or found superseded.
 */
export async function promoteSyncStatesPage(
  t: StateTable,
  jobId: string,
  after: string | undefined,
  limit: number,
): Promise<{ promoted: number; superseded: number; records: number; last?: string }> {
  const staged: Staged[] = [];
  let last: string | undefined;
  let setsAfter = after?.startsWith(STAGED_SET_PREFIX) ? after : undefined;
  if (setsAfter === undefined) {
    const page = await t.queryPage(jobPk(jobId), STAGED_SYNC_PREFIX, {
      ...(after !== undefined ? { after } : {}),
      limit,
    });
    staged.push(...page.items.map((item) => ({ state: stagedFrom(item), at: item.stagedAt as string })));
    last = page.last;
    // The per-folder items are all read: the sets follow from their first, in this page while
    // it has room, else in the next (its `after`: the sets' prefix, before every set's key).
    if (last === undefined && staged.length >= limit) last = STAGED_SET_PREFIX;
    else if (last === undefined) setsAfter = STAGED_SET_PREFIX;
  }
  if (setsAfter !== undefined) {
    const sets = await wholeSetsUpTo(t, jobId, setsAfter, limit, staged);
    last = sets.last;
  }
  const written = await t.transactEach(newestOfEachFolder(staged).map((s) => promotion(t, jobId, s)));
  const promoted = written.filter(Boolean).length;
  return {
    promoted,
    superseded: written.length - promoted,
    records: written.length,
    ...(last !== undefined ? { last } : {}),
  };
}

/** States a staged set holds, assumed for the first read of a page's sets (a many-small unit's end stages ≈ 20). */
const STATES_PER_SET_GUESS = 16;

/**
 * Adds the staged sets after the key `after` (the sets' prefix: from the first) to `staged`,
 * whole sets, up to `limit` states in all (one set at least while `staged` is empty). A set holds
 * 1–100 states, so each Query asks for as many sets as the room left takes at the states per set
 * read so far, instead of `limit` sets (≈ 1 MB a page of which a few percent would be used).
 * `last`: the last set taken while more may follow (the sets' prefix when none was taken).
 */
async function wholeSetsUpTo(
  t: StateTable,
  jobId: string,
  after: string,
  limit: number,
  staged: Staged[],
): Promise<{ last?: string }> {
  let from = after === STAGED_SET_PREFIX ? undefined : after;
  let setsRead = 0;
  let statesRead = 0;
  for (;;) {
    const perSet = setsRead > 0 ? Math.max(1, statesRead / setsRead) : STATES_PER_SET_GUESS;
    const page = await t.queryPage(jobPk(jobId), STAGED_SET_PREFIX, {
      ...(from !== undefined ? { after: from } : {}),
      limit: Math.max(1, Math.ceil((limit - staged.length) / perSet)),
    });
    for (const item of page.items) {
      const states = statesOfSet(item);
      setsRead++;
      statesRead += states.length;
      if (staged.length > 0 && staged.length + states.length > limit)
        return { last: from ?? STAGED_SET_PREFIX };
      for (const state of states) staged.push({ state, at: item.stagedAt as string });
      from = item.sk as string;
    }
    if (page.last === undefined) return {};
    if (staged.length >= limit) return { last: from ?? page.last };
    from = page.last;
  }
}

/** A staged state read for promotion, with the time its item was written. */
interface Staged {
  state: StagedSyncState;
  at: string;
}

/**
 * One state per folder and kind of link, the one staged last (a transaction may not write one
 * item twice). A job stages a folder once: a unit's checkpoint records a folder finished in the
 * transaction that stages it, and a finished folder is not run again; a repeated write of the
 * same folders replaces its set. So this only guards the transaction.
 */
function newestOfEachFolder(staged: readonly Staged[]): StagedSyncState[] {
  const byKey = new Map<string, Staged>();
  for (const s of staged) {
    const key = `${s.state.mailboxId}\n${s.state.via ?? ""}\n${s.state.folderId}`;
    const known = byKey.get(key);
    if (known === undefined || known.at <= s.at) byKey.set(key, s);
  }
  return [...byKey.values()].map((s) => s.state);
}

/** A staged state's promotion: its committed record, unless a newer job's is there. */
function promotion(t: StateTable, jobId: string, s: StagedSyncState): TransactItem {
  return t.update(
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
      ":now": t.nowIso(),
      ...(s.via === "items" ? { ":via": s.via } : {}),
      ...(s.path === undefined ? {} : { ":path": s.path }),
    },
    "attribute_not_exists(lastJob) OR lastJob <= :job",
    s.path === undefined ? undefined : { "#path": "path" },
  );
}
