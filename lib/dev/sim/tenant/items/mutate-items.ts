/**
 * Activity on everything besides the primary mailbox's mail, between two backup runs: meetings
 * arrive, are moved and cancelled; contacts are added, get a new phone number or are deleted;
 * tasks are completed; notes are edited; items are recategorised; old mail in archives is deleted
 * or flagged. Runs after a round's mail activity, from a random stream of its own, so the mail
 * of a round is what it was before these kinds existed.
 */
import type { ItemContent } from "../../item-model.js";
import type { SimItem, SimMailbox, TenantStore } from "../../model.js";
import { EXTERNAL_DOMAINS } from "../content.js";
import { Random, seedFrom } from "../random.js";
import { canonicalTime } from "../time.js";
import type { ItemAuthoring } from "./author.js";
import { stringOf, withValue } from "./content.js";
import { addWrittenItem } from "./generate-items.js";
import { ITEM_CLASSES } from "./kinds.js";
import { P } from "./properties.js";

export interface ItemMutationSummary {
  /** Items added (meetings, contacts, tasks). */
  itemsAdded: number;
  /** Items changed (rescheduled, new phone number, completed, edited, recategorised). */
  itemsUpdated: number;
  /** Items deleted. */
  itemsDeleted: number;
  /** Archive messages deleted or flagged. */
  archiveChanges: number;
}

interface Placed {
  mailbox: SimMailbox;
  item: SimItem;
}

/** Every non-mail item of the primary mailboxes, and every message of the archives (with their mailbox). */
function inventory(store: TenantStore): {
  items: Placed[];
  archived: Array<{ mailbox: SimMailbox; id: string }>;
} {
  const items: Placed[] = [];
  const archived: Array<{ mailbox: SimMailbox; id: string }> = [];
  const walk = (mailbox: SimMailbox, folderId: string, visit: (home: SimMailbox, folder: string) => void) => {
    for (const child of store.listChildFolders(mailbox.id, folderId)) {
      visit(store.folderHome(mailbox.id, child.id) ?? mailbox, child.id);
      walk(mailbox, child.id, visit);
    }
  };
  for (const user of store.listUsers()) {
    const primary = store.primaryMailbox(user.id);
    if (primary) {
      walk(primary, store.rootFolderId(primary.id), (home, folder) => {
        for (const item of store.listItems(home.id, folder)) items.push({ mailbox: home, item });
      });
    }
    const archive = store.archiveMailbox(user.id);
    if (archive) {
      walk(archive, store.rootFolderId(archive.id), (home, folder) => {
        for (const m of store.listMessages(home.id, folder)) archived.push({ mailbox: home, id: m.id });
      });
    }
  }
  return { items, archived };
}

const HOUR = 3_600_000;

/** The item's content changed the way activity changes its kind. */
function changed(item: SimItem, rng: Random): (() => ItemContent) | undefined {
  const before = item.content;
  switch (item.itemClass) {
    case ITEM_CLASSES.event: {
      const shift = rng.pick([-2, -1, 1, 24]) * HOUR;
      return () => {
        const c = before();
        const start = Date.parse(stringOf(c.props, P.startWhole) ?? "");
        const end = Date.parse(stringOf(c.props, P.endWhole) ?? "");
        if (Number.isNaN(start) || Number.isNaN(end)) return c;
        const moved = withValue(c.props, P.startWhole, canonicalTime(start + shift));
        return { ...c, props: withValue(moved, P.endWhole, canonicalTime(end + shift)) };
      };
    }
    case ITEM_CLASSES.contact: {
      const number = `+1 425 555 ${String(rng.int(0, 9999)).padStart(4, "0")}`;
      return () => {
        const c = before();
        return { ...c, props: withValue(c.props, P.mobileTelephoneNumber, number) };
      };
    }
    case ITEM_CLASSES.task:
      return () => {
        const c = before();
        const done = withValue(withValue(c.props, P.taskStatus, 2), P.percentComplete, 1);
        return { ...c, props: withValue(done, P.taskComplete, true) };
      };
    case ITEM_CLASSES.note: {
      const line = rng.pick(["(done)", "✔ called back", "see Teams chat"]);
      return () => {
        const c = before();
        return { ...c, props: withValue(c.props, P.body, `${stringOf(c.props, P.body) ?? ""}\n${line}`) };
      };
    }
    default:
      return undefined;
  }
}

/**
 * One round of activity on items and archives; `intensity` is the share of items touched (split
 * 30% new, 50% changed, 20% deleted), at least one of each when the tenant has items.
 */
export function mutateItems(store: TenantStore, seed: number, intensity: number): ItemMutationSummary {
  const rng = new Random(seedFrom("mutate-items", seed));
  const summary: ItemMutationSummary = { itemsAdded: 0, itemsUpdated: 0, itemsDeleted: 0, archiveChanges: 0 };
  const { items, archived } = inventory(store);
  if (items.length === 0 && archived.length === 0) return summary;
  const touched = (share: number, of: number) =>
    of === 0 ? 0 : Math.max(1, Math.ceil(of * intensity * share));
  const pool = rng.shuffle(items);
  let next = 0;
  const take = (n: number) => {
    const start = next;
    next = Math.min(pool.length, next + n);
    return pool.slice(start, next);
  };

  for (const { mailbox, item } of take(touched(0.2, items.length))) {
    store.deleteItem(mailbox.id, item.id);
    summary.itemsDeleted++;
  }
  for (const { mailbox, item } of take(touched(0.5, items.length))) {
    const content = changed(item, rng);
    const recategorise = content === undefined || rng.chance(0.2);
    store.updateItem(mailbox.id, item.id, {
      ...(content ? { content } : {}),
      ...(recategorise ? { categories: item.categories.length > 0 ? [] : ["Follow up"] } : {}),
    });
    summary.itemsUpdated++;
  }
  // New items land where items of their kind already are: a meeting invitation in a calendar, …
  const people = store
    .listUsers()
    .filter((u) => u.mailbox !== null)
    .map((u) => ({ name: u.displayName, address: u.mail ?? u.userPrincipalName }));
  for (let k = 0; k < touched(0.3, items.length) && items.length > 0; k++) {
    const { mailbox, item } = rng.pick(items);
    const kind =
      item.itemClass === ITEM_CLASSES.event
        ? "event"
        : item.itemClass === ITEM_CLASSES.task
          ? "task"
          : "contact";
    if (kind === "contact" && item.itemClass !== ITEM_CLASSES.contact) continue;
    const user = store.getUser(mailbox.userId);
    if (!user || !store.getFolder(mailbox.id, item.parentFolderId)) continue;
    const owner = { name: user.displayName, address: user.mail ?? user.userPrincipalName };
    const authoring: ItemAuthoring = {
      owner,
      colleagues: people.filter((p) => p.address !== owner.address),
      externalDomains: EXTERNAL_DOMAINS,
      timeZone: user.mailbox?.timeZone ?? "UTC",
      earliest: Date.parse("2026-01-01T00:00:00Z"),
      latest: Date.parse("2026-12-31T00:00:00Z"),
    };
    addWrittenItem(store, mailbox.id, item.parentFolderId, kind, seedFrom("new item", seed, k), authoring);
    summary.itemsAdded++;
  }
  for (const { mailbox, id } of rng.shuffle(archived).slice(0, touched(0.05, archived.length))) {
    if (rng.chance(0.5)) store.deleteMessage(mailbox.id, id);
    else store.updateMessage(mailbox.id, id, { flag: { flagStatus: "flagged" } });
    summary.archiveChanges++;
  }
  return summary;
}
