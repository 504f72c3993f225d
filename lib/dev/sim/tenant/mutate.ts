/**
 * A round of realistic mailbox activity between two backup runs: new mail, deletions, moves
 * (many into Deleted Items), read/flag/category/importance changes, new and renamed folders; then
 * (items/mutate-items.ts) calendars, contacts, tasks, notes and archives.
 * Everything goes through the store's write methods, so delta rounds see exactly these changes.
 */
import {
  type EmailAddress,
  isMailFolder,
  type MessageProps,
  type SimFolder,
  type SimMessage,
  type TenantStore,
} from "../model.js";
import { EXTERNAL_DOMAINS, FOLDER_NAMES } from "./content.js";
import { type ItemMutationSummary, mutateItems } from "./items/mutate-items.js";
import { composeMessage, type MessageAuthoring } from "./message-factory.js";
import { Random, seedFrom } from "./random.js";

export interface MutationCounts {
  /** Messages delivered (mostly to inboxes). */
  newMessages: number;
  /** Messages deleted outright (gone from the mailbox). */
  deletes: number;
  /** Messages moved to another folder of the same mailbox (including to Deleted Items). */
  moves: number;
  /** Messages whose read state, flag, categories or importance changed. */
  propertyChanges: number;
  /** Folders created. */
  newFolders: number;
  /** User folders renamed. */
  renamedFolders: number;
}

export interface MutationOptions {
  /** Seed of every choice: the same store state and seed give the same changes. */
  seed: number;
  /**
   * Share (0–1) of existing messages touched in the round, split as 40% new mail, 15% deletes,
   * 15% moves, 30% property changes; folders: about one new and one renamed per 10 mailboxes
   * (at least one each). Default 0.05. Ignored for counts given explicitly in `counts`.
   */
  intensity?: number;
  /** Exact counts for some or all kinds of change (capped by what the tenant holds). */
  counts?: Partial<MutationCounts>;
}

export interface MutationSummary extends MutationCounts, ItemMutationSummary {
  /** Of `moves`, how many went to Deleted Items. */
  movesToDeletedItems: number;
}

interface MailboxView {
  userId: string;
  address: EmailAddress;
  folders: SimFolder[];
  messages: SimMessage[];
}

function mailboxView(store: TenantStore, userId: string, address: EmailAddress): MailboxView {
  const folders: SimFolder[] = [];
  const messages: SimMessage[] = [];
  const walk = (id: string) => {
    for (const child of store.listChildFolders(userId, id)) {
      // Mail activity stays among mail folders; other item kinds have their own (mutate-items.ts).
      if (child.isSearchFolder || !isMailFolder(child)) continue;
      folders.push(child);
      messages.push(...store.listMessages(userId, child.id));
      walk(child.id);
    }
  };
  walk(store.rootFolderId(userId));
  return { userId, address, folders, messages };
}

/** A name not used by any sibling under `parentId` (Exchange refuses duplicates, case-insensitively). */
function freeName(store: TenantStore, userId: string, parentId: string, wanted: string): string {
  const taken = new Set(store.listChildFolders(userId, parentId).map((f) => f.displayName.toLowerCase()));
  let name = wanted;
  for (let k = 2; taken.has(name.toLowerCase()); k++) name = `${wanted} ${k}`;
  return name;
}

/** A change of one property that really differs from the message's current value. */
function propertyChange(message: SimMessage, rng: Random): Partial<MessageProps> {
  switch (rng.int(0, 3)) {
    case 0:
      return { isRead: !message.isRead };
    case 1:
      return { flag: { flagStatus: message.flag.flagStatus === "flagged" ? "complete" : "flagged" } };
    case 2:
      return {
        categories:
          message.categories.length > 0
            ? message.categories.slice(1)
            : [rng.pick(["Red category", "Blue category", "Follow up"])],
      };
    default:
      return { importance: message.importance === "high" ? "normal" : "high" };
  }
}

/** Applies one round of activity to the tenant and says how much of each kind it applied. */
export function mutateTenant(store: TenantStore, options: MutationOptions): MutationSummary {
  const intensity = options.intensity ?? 0.05;
  if (!(intensity >= 0 && intensity <= 1))
    throw new RangeError(`MutationOptions.intensity: expected a number in [0, 1], found ${intensity}`);
  const rng = new Random(seedFrom("mutate", options.seed));
  const owners = store.listUsers().filter((u) => u.mailbox !== null);
  const views = owners.map((u) =>
    mailboxView(store, u.id, { name: u.displayName, address: u.mail ?? u.userPrincipalName }),
  );
  const summary: MutationSummary = {
    newMessages: 0,
    deletes: 0,
    moves: 0,
    propertyChanges: 0,
    newFolders: 0,
    renamedFolders: 0,
    movesToDeletedItems: 0,
    itemsAdded: 0,
    itemsUpdated: 0,
    itemsDeleted: 0,
    archiveChanges: 0,
  };
  if (views.length === 0) return summary;
  const total = views.reduce((n, v) => n + v.messages.length, 0);
  const wanted = (key: keyof MutationCounts, share: number): number =>
    options.counts?.[key] ?? Math.ceil(total * intensity * share);
  const folderChanges = Math.max(1, Math.round(views.length * intensity * 2));

  // Only folders that existed before the round are renamed, so "new" and "renamed" never overlap.
  const renamable = views.flatMap((v) =>
    v.folders.filter((f) => !f.wellKnownName && !f.isHidden).map((f) => ({ view: v, folder: f })),
  );

  // Folders first, so that moves and new mail can land in new folders too.
  for (let k = 0; k < (options.counts?.newFolders ?? folderChanges); k++) {
    const view = rng.pick(views);
    const parent = rng.chance(0.5)
      ? store.rootFolderId(view.userId)
      : (store.getFolder(view.userId, "inbox")?.id ?? store.rootFolderId(view.userId));
    const name = freeName(
      store,
      view.userId,
      parent,
      rng.chance(0.3) ? rng.pick(FOLDER_NAMES) : `New folder ${rng.int(1, 999)}`,
    );
    view.folders.push(
      store.addFolder(view.userId, parent, { displayName: name, isHidden: false, isSearchFolder: false }),
    );
    summary.newFolders++;
  }
  for (const { view, folder } of rng
    .shuffle(renamable)
    .slice(0, options.counts?.renamedFolders ?? folderChanges)) {
    const name = freeName(
      store,
      view.userId,
      folder.parentFolderId,
      `${folder.displayName.trim()} (renamed)`,
    );
    store.renameFolder(view.userId, folder.id, name);
    summary.renamedFolders++;
  }

  // Deletes, moves and property changes touch disjoint messages, so the summary counts are exact.
  const pool = rng.shuffle(views.flatMap((v) => v.messages.map((m) => ({ view: v, message: m }))));
  let next = 0;
  const take = (n: number) => {
    const start = next;
    next = Math.min(pool.length, next + n);
    return pool.slice(start, next);
  };
  for (const { view, message } of take(wanted("deletes", 0.15))) {
    store.deleteMessage(view.userId, message.id);
    summary.deletes++;
  }
  for (const { view, message } of take(wanted("moves", 0.15))) {
    const deleted = store.getFolder(view.userId, "deleteditems");
    const toDeleted = deleted !== undefined && deleted.id !== message.parentFolderId && rng.chance(0.4);
    const others = view.folders.filter((f) => f.id !== message.parentFolderId);
    if (!toDeleted && others.length === 0) continue;
    const destination = toDeleted ? (deleted as SimFolder) : rng.pick(others);
    store.moveMessage(view.userId, message.id, destination.id);
    summary.moves++;
    if (destination.wellKnownName === "deleteditems") summary.movesToDeletedItems++;
  }
  for (const { view, message } of take(wanted("propertyChanges", 0.3))) {
    store.updateMessage(view.userId, message.id, propertyChange(message, rng));
    summary.propertyChanges++;
  }

  // New mail: busier mailboxes get more, mostly into the inbox, dated after the mailbox's newest.
  const colleagues = views.map((v) => v.address);
  const latest = new Map(
    views.map((v) => [
      v.userId,
      v.messages.reduce(
        (t, m) => Math.max(t, Date.parse(m.receivedDateTime)),
        Date.parse("2026-01-01T00:00:00Z"),
      ),
    ]),
  );
  const weights = views.map((v) => v.messages.length + 1);
  for (let k = 0; k < wanted("newMessages", 0.4); k++) {
    const view = views[rng.weightedIndex(weights)] as MailboxView;
    const roll = rng.next();
    const userFolders = view.folders.filter((f) => !f.wellKnownName);
    const folder =
      roll < 0.85 || userFolders.length === 0
        ? store.getFolder(view.userId, "inbox")
        : roll < 0.9
          ? store.getFolder(view.userId, "junkemail")
          : rng.pick(userFolders);
    if (!folder) continue;
    const when = (latest.get(view.userId) ?? 0) + rng.int(1, 600) * 60_000;
    latest.set(view.userId, when);
    const authoring: MessageAuthoring = {
      owner: view.address,
      colleagues: colleagues.filter((c) => c.address !== view.address.address),
      externalDomains: EXTERNAL_DOMAINS,
      largeFraction: 0,
      threads: [],
    };
    const msgRng = rng.fork(k);
    const composed = composeMessage(authoring, folder.wellKnownName, new Date(when), msgRng);
    store.addMessage(view.userId, folder.id, {
      ...composed,
      isRead: false,
      flag: { flagStatus: "notFlagged" },
      categories: [],
      importance: msgRng.chance(0.05) ? "high" : "normal",
    });
    summary.newMessages++;
  }
  // Calendars, contacts, tasks, notes and archives change after the mail, from a stream of their own.
  return { ...summary, ...mutateItems(store, options.seed, intensity) };
}
