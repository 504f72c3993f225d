import { addWork, noWork, workSeconds } from "./cost.js";
import type { PlanLimits } from "./limits.js";
import type { WorkEstimate } from "./types.js";

export interface FolderWork {
  folderId: string;
  work: WorkEstimate;
}

export interface FolderGroup {
  folderIds: string[];
  work: WorkEstimate;
  /** The group's unit's slots when they differ from the split's `concurrency` (slot shares). */
  concurrency?: number;
}

/** How a mailbox is cut into units that run at once and share its C and B. */
export interface MailboxSplit {
  groups: FolderGroup[];
  /** Concurrency of each group's unit: min(C_stream, ⌊C / k⌋) for k groups. */
  concurrency: number;
  /** Each group's share of the mailbox budget: 1 / k. */
  budgetShare: number;
  /** Seconds until the slowest group ends, when all k run at once. */
  seconds: number;
}

/**
 * Cuts folders into `k` groups balanced by back-to-back time (longest folder first into the
 * lightest group), never cutting a folder. Groups keep their folders in the order given.
 */
export function groupFolders(folders: readonly FolderWork[], k: number): FolderGroup[] {
  const groups = Array.from({ length: Math.max(1, k) }, () => ({
    members: [] as number[],
    work: { ...noWork },
  }));
  const order = folders
    .map((_, i) => i)
    .sort((a, b) => folders[b]!.work.serialSeconds - folders[a]!.work.serialSeconds || a - b);
  const lightest = () => groups.reduce((min, g) => (g.work.serialSeconds < min.work.serialSeconds ? g : min));
  for (const i of order) {
    const group = lightest();
    group.members.push(i);
    group.work = addWork(group.work, folders[i]!.work);
  }
  return groups.map((g) => ({
    folderIds: g.members.sort((a, b) => a - b).map((i) => folders[i]!.folderId),
    work: g.work,
  }));
}

function splitInto(folders: readonly FolderWork[], k: number, limits: PlanLimits): MailboxSplit {
  const groups = groupFolders(folders, k);
  const concurrency = Math.min(limits.perStreamConcurrency, Math.floor(limits.perMailboxConcurrency / k));
  const budgetShare = 1 / k;
  const seconds = groups.reduce(
    (max, g) => Math.max(max, workSeconds(g.work, concurrency, budgetShare, limits)),
    0,
  );
  return { groups, concurrency, budgetShare, seconds };
}

/**
 * Folders one unit holds at most. A unit's state record keeps its folder ids (Graph's are about
 * 120–160 bytes) and, while it runs, those it could not finish: 1,000 keeps the record near
 * 200 KB, half DynamoDB's 400 KB item limit, for the rare mailbox with thousands of folders.
 */
export const MAX_FOLDERS_PER_UNIT = 1000;

/**
 * Cuts the folders, in their order, into k runs of nearly equal count, k the fewest that keeps
 * each within `maxFolders` but never more than C (each unit needs a request slot of the mailbox's
 * C; a mailbox of more than C × `maxFolders` folders gets C larger units).
 */
function splitByCount(folders: readonly FolderWork[], maxFolders: number, limits: PlanLimits): MailboxSplit {
  const k = Math.min(limits.perMailboxConcurrency, Math.ceil(folders.length / maxFolders));
  const groups: FolderGroup[] = [];
  for (let g = 0; g < k; g++) {
    const run = folders.slice(
      Math.round((g * folders.length) / k),
      Math.round(((g + 1) * folders.length) / k),
    );
    groups.push({
      folderIds: run.map((f) => f.folderId),
      work: run.reduce((w, f) => addWork(w, f.work), noWork),
    });
  }
  const concurrency = Math.max(
    1,
    Math.min(limits.perStreamConcurrency, Math.floor(limits.perMailboxConcurrency / groups.length)),
  );
  const budgetShare = 1 / groups.length;
  const seconds = groups.reduce(
    (max, g) => Math.max(max, workSeconds(g.work, concurrency, budgetShare, limits)),
    0,
  );
  return { groups, concurrency, budgetShare, seconds };
}

/**
 * Decides how many units a mailbox becomes. One unit, unless that unit would end after
 * `targetSeconds` (it would be the job's tail) and k > 1 units running at once end sooner: that
 * happens only when one stream cannot fill the mailbox's rate (C_stream < C). The k units share
 * C (each ⌊C / k⌋ ≥ 1, so k ≤ C) and B, so the mailbox never gets more than its limits. Takes
 * the smallest k that meets the target, else the fastest k. A split whose unit would hold more
 * than `maxFolders` folders is replaced by one that cuts the folders by count.
 */
export function splitMailbox(
  folders: readonly FolderWork[],
  targetSeconds: number,
  limits: PlanLimits,
  maxFolders = MAX_FOLDERS_PER_UNIT,
): MailboxSplit {
  const split = splitByTime(folders, targetSeconds, limits);
  const tooLarge = split.groups.some((g) => g.folderIds.length > maxFolders);
  return tooLarge ? splitByCount(folders, maxFolders, limits) : split;
}

function splitByTime(
  folders: readonly FolderWork[],
  targetSeconds: number,
  limits: PlanLimits,
): MailboxSplit {
  const whole = splitInto(folders, 1, limits);
  const meets = (split: MailboxSplit) => split.seconds <= targetSeconds * (1 + 1e-9);
  if (meets(whole)) return whole;
  let best = whole;
  const maxGroups = Math.min(limits.perMailboxConcurrency, folders.length);
  for (let k = 2; k <= maxGroups; k++) {
    const split = splitInto(folders, k, limits);
    if (split.seconds < best.seconds * (1 - 1e-9)) best = split;
    if (meets(split)) return split;
  }
  return best;
}

/**
 * The slots (1 ≤ w ≤ C_stream) a mailbox needs to end within `targetSeconds` (its unit overhead
 * included), or undefined when even C_stream slots would not (it keeps its whole-unit plan).
 */
export function slotsWithin(
  work: WorkEstimate,
  targetSeconds: number,
  limits: PlanLimits,
): number | undefined {
  const room = targetSeconds - limits.unitOverheadSeconds;
  for (let slots = 1; slots <= limits.perStreamConcurrency; slots++) {
    if (workSeconds(work, slots, 1, limits) <= room * (1 + 1e-9)) return slots;
  }
  return undefined;
}

/** Whether a mailbox may take a share of a stream: it has work, and no more than one window's budget. */
export function mayShare(work: WorkEstimate, limits: PlanLimits): boolean {
  return work.requests > 0 && work.requests <= limits.budgetPerWindow;
}

/**
 * Cuts folders into groups of the given slot shares, balanced so that they end together: each
 * folder (longest first) goes to the group whose load per slot it raises least. Groups keep
 * their folders in the order given.
 */
export function groupFoldersByShare(
  folders: readonly FolderWork[],
  shares: readonly number[],
): FolderGroup[] {
  const groups = shares.map((share) => ({ share, members: [] as number[], work: { ...noWork } }));
  const order = folders
    .map((_, i) => i)
    .sort((a, b) => folders[b]!.work.serialSeconds - folders[a]!.work.serialSeconds || a - b);
  for (const i of order) {
    const seconds = folders[i]!.work.serialSeconds;
    const group = groups.reduce((min, g) =>
      (g.work.serialSeconds + seconds) / g.share < (min.work.serialSeconds + seconds) / min.share ? g : min,
    );
    group.members.push(i);
    group.work = addWork(group.work, folders[i]!.work);
  }
  return groups.map((g) => ({
    folderIds: g.members.sort((a, b) => a - b).map((i) => folders[i]!.folderId),
    work: g.work,
    concurrency: g.share,
  }));
}

/**
 * Planned slot shares: a mailbox that needs w < C_stream slots of a stream (`slotsWithin`) runs
 * on w slots, so that its stream runs other units beside it. A w that is not a power of two is
 * cut into folder groups whose shares are its binary digits (3 = 2 + 1, balanced to end
 * together), so that units of 4, 2 and 1 slots fill streams of 4 without gaps whatever the order
 * they are claimed in (sizes that divide each other pack fully). The groups' shares sum to w ≤ C:
 * they may run at once, on one stream or several. Undefined when the mailbox needs a whole
 * stream or may not share one (`mayShare`).
 */
export function shareMailbox(
  folders: readonly FolderWork[],
  slots: number,
  limits: PlanLimits,
): MailboxSplit | undefined {
  if (folders.length === 0 || slots >= limits.perStreamConcurrency) return undefined;
  const whole = folders.reduce((w, f) => addWork(w, f.work), noWork);
  if (!mayShare(whole, limits)) return undefined;
  const shares: number[] = [];
  for (let bit = 1; bit <= slots; bit *= 2) if (slots & bit) shares.unshift(bit);
  const groups =
    shares.length > 1 && folders.length >= shares.length
      ? groupFoldersByShare(folders, shares).filter((g) => g.folderIds.length > 0)
      : [{ folderIds: folders.map((f) => f.folderId), work: whole, concurrency: slots }];
  if (groups.some((g) => g.folderIds.length > MAX_FOLDERS_PER_UNIT)) return undefined;
  const seconds = groups.reduce(
    (max, g) => Math.max(max, workSeconds(g.work, g.concurrency ?? slots, 1 / groups.length, limits)),
    0,
  );
  return { groups, concurrency: slots, budgetShare: 1 / groups.length, seconds };
}

/**
 * Tail fillers (plan.ts): a mailbox of one whole unit cut into a main unit of ⌈C_stream / 2⌉ slots
 * with most of its folders and a filler unit of the other ⌊C_stream / 2⌋ slots with its smallest
 * folders, up to `fraction` of its back-to-back time (at least one folder). The plan runs the main
 * unit where the whole one was and the fillers after every other unit: short and narrow, they end
 * the streams together, where whole units of ≈ LB / 2 each leave some streams a unit longer than
 * others. The shares sum to C_stream ≤ C, so the two may run at once. Undefined for a mailbox of
 * one folder, one that may not share a stream (`mayShare`), or streams of one slot.
 */
export function cutFiller(
  folders: readonly FolderWork[],
  fraction: number,
  limits: PlanLimits,
): { main: FolderGroup; filler: FolderGroup } | undefined {
  const C = limits.perStreamConcurrency;
  if (folders.length < 2 || C < 2) return undefined;
  const whole = folders.reduce((w, f) => addWork(w, f.work), noWork);
  if (!mayShare(whole, limits)) return undefined;
  const smallestFirst = folders
    .map((_, i) => i)
    .sort((a, b) => folders[a]!.work.serialSeconds - folders[b]!.work.serialSeconds || a - b);
  const inFiller = new Set<number>();
  let seconds = 0;
  for (const i of smallestFirst) {
    const next = seconds + folders[i]!.work.serialSeconds;
    if (inFiller.size > 0 && next > fraction * whole.serialSeconds) break;
    inFiller.add(i);
    seconds = next;
  }
  if (inFiller.size === folders.length) return undefined;
  const group = (members: number[], concurrency: number): FolderGroup => ({
    folderIds: members.map((i) => folders[i]!.folderId),
    work: members.reduce((w, i) => addWork(w, folders[i]!.work), noWork),
    concurrency,
  });
  const all = folders.map((_, i) => i);
  return {
    main: group(
      all.filter((i) => !inFiller.has(i)),
      Math.ceil(C / 2),
    ),
    filler: group(
      all.filter((i) => inFiller.has(i)),
      Math.floor(C / 2),
    ),
  };
}
