/**
 * Gives a generated tenant everything besides mail: per mailbox a calendar (and for some users a
 * second one), contacts with distribution lists (and for some a second contact folder), tasks and
 * notes; and for some users an in-place archive with folders of its own, one of whose archives
 * is auto-expanded (a folder's content in an auxiliary archive mailbox).
 *
 * Runs after every message of the tenant exists, from random streams of its own ("items",
 * "archive", one per item), so the mail of a seed is byte for byte what it was before these
 * kinds existed. Item content is written when read, from the item's own seed: a large tenant
 * keeps only each item's record.
 */
import type { ItemContent } from "../../item-model.js";
import type { EmailAddress, MessageProps, SimUser, TenantStore } from "../../model.js";
import { composeMessage, type MessageAuthoring } from "../message-factory.js";
import { Random, seedFrom } from "../random.js";
import {
  anchorOf,
  authorContact,
  authorDistList,
  authorEvent,
  authorNote,
  authorTask,
  categoriesOf,
  type ItemAuthoring,
  recordDates,
} from "./author.js";
import {
  contactContent,
  distListContent,
  eventContent,
  FOLDER_CLASSES,
  ITEM_CLASSES,
  noteContent,
  taskContent,
} from "./kinds.js";

export interface OtherKindsOptions {
  /** Multiplies the number of non-mail items per mailbox; 0 = mail only (no archives either). Bounds ≥ 0. */
  scale: number;
  /** Share (0–1) of user mailboxes that have an in-place archive. */
  archiveFraction: number;
}

/** A mailbox owner as the mail generator made it, with how many messages it got. */
export interface MailboxOwner {
  index: number;
  user: SimUser;
  address: EmailAddress;
  messages: number;
}

/** Current items: from 2024 to mid-2026; the archive's: 2016 to 2020. */
const CURRENT = { earliest: Date.parse("2024-01-01T00:00:00Z"), latest: Date.parse("2026-07-01T00:00:00Z") };
const ARCHIVED = { earliest: Date.parse("2016-01-01T00:00:00Z"), latest: Date.parse("2020-12-31T00:00:00Z") };

type Kind = "event" | "contact" | "distList" | "task" | "note";
const WRITERS: Record<Kind, (rng: Random, a: ItemAuthoring) => ItemContent> = {
  event: (rng, a) => eventContent(authorEvent(rng, a)),
  contact: (rng, a) => contactContent(authorContact(rng, a)),
  distList: (rng, a) => distListContent(authorDistList(rng, a)),
  task: (rng, a) => taskContent(authorTask(rng, a)),
  note: (rng) => noteContent(authorNote(rng)),
};
const CLASSES: Record<Kind, string> = {
  event: ITEM_CLASSES.event,
  contact: ITEM_CLASSES.contact,
  distList: ITEM_CLASSES.distList,
  task: ITEM_CLASSES.task,
  note: ITEM_CLASSES.note,
};

/**
 * Adds one item whose content is written from `seed` each time it is read. Its record (dates,
 * categories) comes from a stream derived from the same seed.
 */
export function addWrittenItem(
  store: TenantStore,
  mailboxId: string,
  folderId: string,
  kind: Kind,
  seed: number,
  authoring: ItemAuthoring,
): void {
  const write = WRITERS[kind];
  const record = new Random(seedFrom(seed, "record"));
  store.addItem(mailboxId, folderId, {
    itemClass: CLASSES[kind],
    ...recordDates(record, anchorOf(record, authoring)),
    categories: categoriesOf(record),
    content: () => write(new Random(seed), authoring),
  });
}

function folder(
  store: TenantStore,
  mailboxId: string,
  parent: string,
  displayName: string,
  folderClass: string,
  wellKnownName?: string,
) {
  return store.addFolder(mailboxId, parent, {
    displayName,
    isHidden: false,
    isSearchFolder: false,
    folderClass,
    ...(wellKnownName ? { wellKnownName } : {}),
  });
}

/** How many items of each kind a mailbox of `messages` messages gets. */
function itemCounts(owner: MailboxOwner, scale: number): Record<Kind, number> {
  const purpose = owner.user.mailbox?.purpose;
  const n = (base: number, perMessage: number) => Math.round(scale * (base + perMessage * owner.messages));
  if (purpose === "room") return { event: n(2, 0.06), contact: 0, distList: 0, task: 0, note: 0 };
  const person = purpose === "user";
  return {
    event: n(3, 0.06),
    contact: n(2, 0.03),
    distList: owner.messages > 50 ? Math.round(scale * (owner.messages > 300 ? 2 : 1)) : 0,
    task: person ? n(1, 0.01) : 0,
    note: person ? n(owner.messages > 100 ? 2 : 1, 0) : 0,
  };
}

function addPrimaryKinds(
  store: TenantStore,
  owner: MailboxOwner,
  authoring: ItemAuthoring,
  seed: number,
  scale: number,
): void {
  const userId = owner.user.id;
  const root = store.rootFolderId(userId);
  const rng = new Random(seedFrom("items", seed, owner.index));
  const calendar = folder(store, userId, root, "Calendar", FOLDER_CLASSES.calendar, "calendar");
  const contacts = folder(store, userId, root, "Contacts", FOLDER_CLASSES.contacts, "contacts");
  const tasks = folder(store, userId, root, "Tasks", FOLDER_CLASSES.tasks, "tasks");
  const notes = folder(store, userId, root, "Notes", FOLDER_CLASSES.notes, "notes");
  const isUser = owner.user.mailbox?.purpose === "user";
  // Some users keep a second calendar and a second contact folder.
  const second = (chance: number, parent: string, names: string[], folderClass: string) =>
    isUser && rng.chance(chance) ? folder(store, userId, parent, rng.pick(names), folderClass) : undefined;
  const secondCalendar = second(
    0.4,
    calendar.id,
    ["Team Calendar", "Project Calendar", "Familie 🏠"],
    FOLDER_CLASSES.calendar,
  );
  const secondContacts = second(
    0.3,
    contacts.id,
    ["Suppliers", "Family", "Clients (old)"],
    FOLDER_CLASSES.contacts,
  );
  const counts = itemCounts(owner, scale);
  const place: Record<Kind, () => string> = {
    event: () => (secondCalendar && rng.chance(0.25) ? secondCalendar.id : calendar.id),
    contact: () => (secondContacts && rng.chance(0.3) ? secondContacts.id : contacts.id),
    distList: () => contacts.id,
    task: () => tasks.id,
    note: () => notes.id,
  };
  for (const kind of Object.keys(counts) as Kind[]) {
    for (let k = 0; k < counts[kind]; k++) {
      addWrittenItem(
        store,
        userId,
        place[kind](),
        kind,
        seedFrom("item", seed, owner.index, kind, k),
        authoring,
      );
    }
  }
}

function archivedProps(rng: Random): MessageProps {
  return {
    isRead: rng.chance(0.95),
    flag: { flagStatus: rng.chance(0.05) ? "complete" : "notFlagged" },
    categories: rng.chance(0.05) ? ["Archived"] : [],
    importance: rng.chance(0.05) ? "high" : "normal",
  };
}

/**
 * An in-place archive: Inbox, Sent Items, Deleted Items, a year folder and a calendar, with old
 * mail and meetings. With `expand`, the year folder is an expanded folder: its mail is in the
 * archive's auxiliary mailbox.
 */
function addArchive(
  store: TenantStore,
  owner: MailboxOwner,
  authoring: ItemAuthoring,
  mail: MessageAuthoring,
  seed: number,
  scale: number,
  expand: boolean,
): void {
  const archive = store.addArchive(owner.user.id);
  const rng = new Random(seedFrom("archive", seed, owner.index));
  const root = store.rootFolderId(archive.id);
  const mailFolder = (name: string) => folder(store, archive.id, root, name, "IPF.Note");
  const inbox = mailFolder("Inbox");
  const sent = mailFolder("Sent Items");
  const deleted = mailFolder("Deleted Items");
  const year = mailFolder(String(rng.int(2017, 2019)));
  const calendar = folder(store, archive.id, root, "Calendar", FOLDER_CLASSES.calendar);
  const aux = expand ? store.expandFolder(archive.id, year.id) : undefined;
  const targets = [
    { mailbox: archive.id, folder: inbox.id, weight: 50, wellKnown: "inbox" },
    { mailbox: archive.id, folder: sent.id, weight: 25, wellKnown: "sentitems" },
    { mailbox: aux?.id ?? archive.id, folder: year.id, weight: 20, wellKnown: undefined },
    { mailbox: archive.id, folder: deleted.id, weight: 5, wellKnown: undefined },
  ];
  const count = Math.round(scale * (5 + 0.25 * owner.messages));
  const dates = Array.from(
    { length: count },
    () => ARCHIVED.earliest + Math.floor(rng.next() * (ARCHIVED.latest - ARCHIVED.earliest)),
  ).sort((x, y) => x - y);
  for (const [k, date] of dates.entries()) {
    const target = targets[rng.weightedIndex(targets.map((t) => t.weight))] as (typeof targets)[number];
    const msgRng = new Random(seedFrom("archived message", seed, owner.index, k));
    const composed = composeMessage(mail, target.wellKnown, new Date(Math.floor(date / 1000) * 1000), msgRng);
    store.addMessage(target.mailbox, target.folder, { ...composed, ...archivedProps(msgRng) });
  }
  const old: ItemAuthoring = { ...authoring, ...ARCHIVED };
  for (let k = 0; k < Math.round(scale * rng.int(2, 6)); k++) {
    addWrittenItem(
      store,
      archive.id,
      calendar.id,
      "event",
      seedFrom("archived event", seed, owner.index, k),
      old,
    );
  }
}

/** Adds calendars, contacts, tasks, notes and archives to a tenant whose mail is generated. */
export function addOtherKinds(
  store: TenantStore,
  owners: MailboxOwner[],
  people: EmailAddress[],
  externalDomains: string[],
  seed: number,
  options: OtherKindsOptions,
): void {
  if (options.scale <= 0) return;
  let expanded = false;
  for (const owner of owners) {
    const authoring: ItemAuthoring = {
      owner: owner.address,
      colleagues: people.filter((p) => p.address !== owner.address.address),
      externalDomains,
      timeZone: owner.user.mailbox?.timeZone ?? "UTC",
      ...CURRENT,
    };
    addPrimaryKinds(store, owner, authoring, seed, options.scale);
    const archiveRng = new Random(seedFrom("has archive", seed, owner.index));
    if (owner.user.mailbox?.purpose !== "user" || !archiveRng.chance(options.archiveFraction)) continue;
    const mail: MessageAuthoring = {
      owner: owner.address,
      colleagues: authoring.colleagues,
      externalDomains,
      largeFraction: 0,
      threads: [],
    };
    // The first archive of the tenant is an auto-expanded one.
    addArchive(store, owner, authoring, mail, seed, options.scale, !expanded);
    expanded = true;
  }
}
