/**
 * The simulated tenant held in memory: directory, mailboxes (primary, in-place archive and its
 * auxiliary archive), folders of every class, messages, non-mail items, and the change logs that
 * delta rounds are served from.
 *
 * Change model: each mailbox has one monotonically increasing change sequence. Every change of a
 * message or item (add, update, move, delete) takes the next sequence number and appends to the
 * change log of each folder it touches: an "in" entry for the folder now holding it, a tombstone
 * for the folder it left. Because sequence numbers only grow, each log is sorted by sequence, so
 * a delta page is a binary search plus a forward scan. Folder changes have a log and a sequence
 * of their own per mailbox.
 *
 * Every method that names a mailbox takes a user id or userPrincipalName (the user's primary
 * mailbox, as `/users/{id}/…` does) or a mailbox id (`MBX:…`, any of the user's mailboxes).
 */
import type { Readable } from "node:stream";
import { FatalError } from "../../../errors.js";
import type {
  ChangeResult,
  DeltaCursor,
  DeltaResult,
  GroundTruth,
  ItemPatch,
  MailboxItemView,
  MailboxKind,
  MessageProps,
  MimeSource,
  NewItem,
  NewMessage,
  SimFolder,
  SimItem,
  SimMailbox,
  SimMessage,
  SimUser,
  TenantStore,
} from "../model.js";
import { changesPage, type LogEntry, roundOf } from "./change-log.js";
import { TenantObjectNotFoundError } from "./errors.js";
import { computeGroundTruth } from "./ground-truth.js";
import { changeKeyFor, exchangeId, guidFor } from "./ids.js";
import { MESSAGE_CLASS } from "./items/message-content.js";
import {
  enterItem,
  enterMessage,
  type FolderState,
  leaveItem,
  leaveMessage,
  logFolderChange,
  type MailboxState,
  newFolderState,
  type StoredItem,
  type StoredMessage,
} from "./mailbox-state.js";
import { mimeSize, openMimeSource } from "./mime-source.js";
import { canonicalTime } from "./time.js";

export { mimeSize, openMimeSource } from "./mime-source.js";

export interface InMemoryTenantStoreOptions {
  /** Directory tenant id (a GUID); also the namespace of every folder and message id. */
  tenantId: string;
  /**
   * Time source for `lastModifiedDateTime`. Default: a logical clock that starts at
   * 2026-01-01T00:00:00Z and advances one second per change (never behind the message's own
   * `createdDateTime`), so a tenant rebuilt from a seed has identical timestamps.
   */
  clock?: () => Date;
}

const ROOT_WELL_KNOWN = "msgfolderroot";
const ROOT_DISPLAY_NAME = "Top of Information Store";
const LOGICAL_CLOCK_START = Date.parse("2026-01-01T00:00:00Z");
const MAILBOX_ID = /^MBX:/i;

export class InMemoryTenantStore implements TenantStore {
  readonly tenantId: string;
  private readonly users = new Map<string, SimUser>();
  private readonly byUpn = new Map<string, string>();
  /** Primary mailboxes by user id. */
  private readonly mailboxes = new Map<string, MailboxState>();
  /** Main archives by user id. */
  private readonly archives = new Map<string, MailboxState>();
  /** Every mailbox by its lower-case `MBX:` id. */
  private readonly byMailboxId = new Map<string, MailboxState>();
  /** Counter behind folder and message ids: the same sequence of calls yields the same ids. */
  private idCounter = 0;
  /**
   * Counter behind the ids of archives' and non-mail folders and items: a space of their own,
   * so that adding them leaves the ids of folders and messages as they were.
   */
  private itemIdCounter = 0;
  private logicalNow = LOGICAL_CLOCK_START;
  private readonly clock: (() => Date) | undefined;

  constructor(options: InMemoryTenantStoreOptions) {
    this.tenantId = options.tenantId;
    this.clock = options.clock;
  }

  // --- directory ---

  listUsers(): SimUser[] {
    return [...this.users.values()];
  }

  getUser(idOrUpn: string): SimUser | undefined {
    const key = idOrUpn.toLowerCase();
    return this.users.get(key) ?? this.users.get(this.byUpn.get(key) ?? "");
  }

  addUser(user: SimUser): void {
    const id = user.id.toLowerCase();
    if (this.users.has(id))
      throw new FatalError(`addUser: expected a new user id, found '${user.id}' already present`);
    const upn = user.userPrincipalName.toLowerCase();
    if (this.byUpn.has(upn))
      throw new FatalError(
        `addUser: expected a new userPrincipalName, found '${user.userPrincipalName}' already present`,
      );
    const stored = { ...user, id };
    this.users.set(id, stored);
    this.byUpn.set(upn, id);
    if (user.mailbox) this.mailboxes.set(id, this.newMailbox(stored, "primary", this.nextId("folder")));
  }

  removeUser(id: string): void {
    const user = this.getUser(id);
    if (!user) return;
    this.users.delete(user.id);
    this.byUpn.delete(user.userPrincipalName.toLowerCase());
    for (const mailbox of [this.mailboxes.get(user.id), this.archives.get(user.id)]) {
      if (!mailbox) continue;
      this.byMailboxId.delete(mailbox.info.id.toLowerCase());
      for (const aux of mailbox.expanded.values()) this.byMailboxId.delete(aux.info.id.toLowerCase());
    }
    this.mailboxes.delete(user.id);
    this.archives.delete(user.id);
  }

  // --- mailboxes ---

  primaryMailbox(userId: string): SimMailbox | undefined {
    const user = this.getUser(userId);
    return user ? this.mailboxes.get(user.id)?.info : undefined;
  }

  archiveMailbox(userId: string): SimMailbox | undefined {
    const user = this.getUser(userId);
    return user ? this.archives.get(user.id)?.info : undefined;
  }

  getMailbox(mailboxId: string): SimMailbox | undefined {
    return this.byMailboxId.get(mailboxId.toLowerCase())?.info;
  }

  addArchive(userId: string): SimMailbox {
    const primary = this.mailbox(userId, "addArchive");
    if (this.archives.has(primary.user.id)) {
      throw new FatalError(
        `addArchive: expected a user without an archive, found one for ${primary.user.id}`,
      );
    }
    const archive = this.newMailbox(primary.user, "archive", this.nextItemId("folder"));
    this.archives.set(primary.user.id, archive);
    return archive.info;
  }

  expandFolder(archiveId: string, folderId: string): SimMailbox {
    const main = this.mailbox(archiveId, "expandFolder");
    if (main.info.kind !== "archive") {
      throw new FatalError(
        `expandFolder: expected an archive mailbox, found a ${main.info.kind} one (${archiveId})`,
      );
    }
    const folder = this.folderState(main, folderId, "expandFolder");
    if (folder.messageIds.size + folder.itemIds.size > 0 || folder.children.length > 0) {
      throw new FatalError(
        `expandFolder: expected an empty folder without subfolders, found '${folder.folder.displayName}'`,
      );
    }
    const existing = [...main.expanded.values()][0];
    const aux = existing ?? this.newMailbox(main.user, "auxArchive", this.nextItemId("folder"));
    const copy = newFolderState({ ...folder.folder, parentFolderId: aux.rootId }, 0);
    aux.folders.set(folder.folder.id, copy);
    this.folderState(aux, aux.rootId, "expandFolder").children.push(folder.folder.id);
    main.expanded.set(folder.folder.id, aux);
    return aux.info;
  }

  folderHome(mailboxKey: string, folderId: string): SimMailbox | undefined {
    const mailbox = this.findMailbox(mailboxKey);
    const folder = mailbox && this.findFolder(mailbox, folderId);
    if (!mailbox || !folder) return undefined;
    return (mailbox.expanded.get(folder.folder.id) ?? mailbox).info;
  }

  mailboxOfItem(itemId: string): SimMailbox | undefined {
    for (const mailbox of this.byMailboxId.values()) {
      if (mailbox.messages.has(itemId) || mailbox.items.has(itemId)) return mailbox.info;
    }
    return undefined;
  }

  // --- folders ---

  rootFolderId(userId: string): string {
    return this.mailbox(userId, "rootFolderId").rootId;
  }

  getFolder(userId: string, idOrWellKnown: string): SimFolder | undefined {
    const mailbox = this.findMailbox(userId);
    if (!mailbox) return undefined;
    return this.findFolder(mailbox, idOrWellKnown)?.folder;
  }

  listChildFolders(userId: string, parentFolderId: string): SimFolder[] {
    const mailbox = this.mailbox(userId, "listChildFolders");
    const parent = this.folderState(mailbox, parentFolderId, "listChildFolders");
    return parent.children.map((id) => this.folderState(mailbox, id, "listChildFolders").folder);
  }

  folderStats(
    userId: string,
    folderId: string,
  ): { totalItemCount: number; unreadItemCount: number; sizeBytes: number; allItemCount: number } {
    const mailbox = this.mailbox(userId, "folderStats");
    const state = this.folderState(mailbox, folderId, "folderStats");
    const home = mailbox.expanded.get(state.folder.id);
    const items = home ? this.folderState(home, state.folder.id, "folderStats") : state;
    return {
      totalItemCount: items.messageIds.size,
      unreadItemCount: items.unread,
      sizeBytes: items.bytes,
      allItemCount: items.messageIds.size + items.itemIds.size,
    };
  }

  addFolder(
    userId: string,
    parentFolderId: string,
    folder: Omit<SimFolder, "id" | "parentFolderId"> & { id?: string },
  ): SimFolder {
    const mailbox = this.mailbox(userId, "addFolder");
    const parent = this.folderState(mailbox, parentFolderId, "addFolder");
    // Folders of archives and of other classes than mail take their ids from a space of their
    // own, so that adding them leaves every mail folder's and message's id as it was.
    const id =
      folder.id ??
      (mailbox.info.kind === "primary" && folder.folderClass === undefined
        ? this.nextId("folder")
        : this.nextItemId("folder"));
    if (mailbox.folders.has(id))
      throw new FatalError(`addFolder: expected a new folder id, found '${id}' already present`);
    if (folder.wellKnownName && mailbox.wellKnown.has(folder.wellKnownName)) {
      throw new FatalError(
        `addFolder: expected one folder per well-known name, found a second '${folder.wellKnownName}'`,
      );
    }
    const { id: _forced, ...fields } = folder;
    const state = newFolderState({ ...fields, id, parentFolderId: parent.folder.id }, 0);
    mailbox.folders.set(id, state);
    parent.children.push(id);
    if (folder.wellKnownName) mailbox.wellKnown.set(folder.wellKnownName, id);
    logFolderChange(mailbox, state, "in");
    return state.folder;
  }

  renameFolder(userId: string, folderId: string, displayName: string): void {
    const mailbox = this.mailbox(userId, "renameFolder");
    const state = this.folderState(mailbox, folderId, "renameFolder");
    state.folder = { ...state.folder, displayName };
    logFolderChange(mailbox, state, "in");
  }

  deleteFolder(userId: string, folderId: string): void {
    const mailbox = this.mailbox(userId, "deleteFolder");
    const state = this.folderState(mailbox, folderId, "deleteFolder");
    if (state.folder.id === mailbox.rootId || state.folder.wellKnownName) {
      throw new FatalError(
        `deleteFolder: expected a folder of the user's, found '${state.folder.displayName}'`,
      );
    }
    for (const child of [...state.children]) this.deleteFolder(userId, child);
    for (const id of [...state.messageIds]) this.deleteMessage(userId, id);
    for (const id of [...state.itemIds]) this.deleteItem(userId, id);
    const parent = this.folderState(mailbox, state.folder.parentFolderId, "deleteFolder");
    parent.children = parent.children.filter((id) => id !== state.folder.id);
    mailbox.folders.delete(state.folder.id);
    logFolderChange(mailbox, state, "out");
  }

  folderDelta(
    userId: string,
    parentFolderId: string | null,
    cursor: DeltaCursor | null,
    pageSize: number,
  ): ChangeResult<SimFolder> {
    checkPageSize(pageSize);
    const mailbox = this.findMailbox(userId);
    const scope = parentFolderId === null ? undefined : mailbox && this.findFolder(mailbox, parentFolderId);
    if (!mailbox || (parentFolderId !== null && !scope)) return { ok: false, reason: "FolderNotFound" };
    const scopeId = scope?.folder.id ?? "";
    const key = { mailboxId: mailbox.info.id, folderId: scopeId, generation: mailbox.folderGeneration };
    if (cursor && !sameRound(cursor, key, mailbox.folderSeq))
      return { ok: false, reason: "SyncStateNotFound" };
    const page = changesPage(mailbox.folderLog, roundOf(cursor, mailbox.folderSeq, key), pageSize, {
      include: (entry) => scopeId === "" || entry.parent === scopeId,
      current: (id) => {
        const state = mailbox.folders.get(id);
        if (!state) return undefined;
        const inScope = scopeId === "" || state.folder.parentFolderId === scopeId;
        return { seq: state.changeSeq, value: state.folder, inScope };
      },
    });
    return { ok: true, page };
  }

  // --- messages ---

  getMessage(userId: string, messageId: string): SimMessage | undefined {
    return this.findMailbox(userId)?.messages.get(messageId)?.message;
  }

  listMessages(userId: string, folderId: string): SimMessage[] {
    const mailbox = this.mailbox(userId, "listMessages");
    const state = this.folderState(mailbox, folderId, "listMessages");
    return [...state.messageIds].map((id) => this.storedMessage(mailbox, id, "listMessages").message);
  }

  addMessage(userId: string, folderId: string, message: NewMessage): SimMessage {
    const mailbox = this.mailbox(userId, "addMessage");
    const folder = this.folderState(mailbox, folderId, "addMessage");
    refuseSearchFolder(folder, "addMessage");
    const { id: forcedId, lastModifiedDateTime, ...fields } = message;
    if (forcedId !== undefined) this.refuseTakenId(forcedId, "addMessage");
    // Archives' messages take their ids from the second space, as their folders do.
    const id =
      forcedId ?? (mailbox.info.kind === "primary" ? this.nextId("message") : this.nextItemId("item"));
    const seq = ++mailbox.seq;
    const stored: SimMessage = {
      ...fields,
      categories: [...fields.categories],
      flag: { ...fields.flag },
      id,
      changeKey: changeKeyFor(id, seq),
      parentFolderId: folder.folder.id,
      size: mimeSize(fields.mime),
      lastModifiedDateTime: lastModifiedDateTime ?? this.now(fields.createdDateTime),
    };
    mailbox.messages.set(id, { message: stored, seq });
    enterMessage(folder, stored, seq);
    return stored;
  }

  updateMessage(userId: string, messageId: string, patch: Partial<MessageProps>): SimMessage {
    return this.changeInPlace(userId, messageId, "updateMessage", definedProps(patch));
  }

  replaceMessage(userId: string, messageId: string, message: NewMessage): SimMessage {
    const { id: _id, lastModifiedDateTime, ...fields } = message;
    return this.changeInPlace(userId, messageId, "replaceMessage", {
      ...fields,
      categories: [...fields.categories],
      flag: { ...fields.flag },
      size: mimeSize(fields.mime),
      ...(lastModifiedDateTime ? { lastModifiedDateTime } : {}),
    });
  }

  /**
   * A new version of a message in its folder: the fields replaced, a new change key and
   * modification time (unless `fields` gives one). It leaves and re-enters the folder, so the
   * folder's byte count follows a new size, with no tombstone (the message stays where it is).
   */
  private changeInPlace(
    userId: string,
    messageId: string,
    operation: string,
    fields: Partial<SimMessage>,
  ): SimMessage {
    const mailbox = this.mailbox(userId, operation);
    const current = this.storedMessage(mailbox, messageId, operation);
    const folder = this.folderState(mailbox, current.message.parentFolderId, operation);
    const seq = ++mailbox.seq;
    const next: SimMessage = {
      ...current.message,
      ...fields,
      changeKey: changeKeyFor(messageId, seq),
      lastModifiedDateTime: fields.lastModifiedDateTime ?? this.now(current.message.lastModifiedDateTime),
    };
    leaveMessage(folder, current.message, undefined);
    mailbox.messages.set(messageId, { message: next, seq });
    enterMessage(folder, next, seq);
    return next;
  }

  moveMessage(userId: string, messageId: string, destinationFolderId: string): SimMessage {
    const mailbox = this.mailbox(userId, "moveMessage");
    const current = this.storedMessage(mailbox, messageId, "moveMessage");
    const from = this.folderState(mailbox, current.message.parentFolderId, "moveMessage");
    const to = this.folderState(mailbox, destinationFolderId, "moveMessage");
    refuseSearchFolder(to, "moveMessage");
    const seq = ++mailbox.seq;
    const next: SimMessage = {
      ...current.message,
      parentFolderId: to.folder.id,
      changeKey: changeKeyFor(messageId, seq),
      lastModifiedDateTime: this.now(current.message.lastModifiedDateTime),
    };
    // A move inside the same folder is just a change; otherwise the old folder gets a tombstone.
    leaveMessage(from, current.message, from === to ? undefined : seq);
    mailbox.messages.set(messageId, { message: next, seq });
    enterMessage(to, next, seq);
    return next;
  }

  deleteMessage(userId: string, messageId: string): void {
    const mailbox = this.mailbox(userId, "deleteMessage");
    const current = this.storedMessage(mailbox, messageId, "deleteMessage");
    const folder = this.folderState(mailbox, current.message.parentFolderId, "deleteMessage");
    const seq = ++mailbox.seq;
    leaveMessage(folder, current.message, seq);
    mailbox.messages.delete(messageId);
  }

  replaceMessageMime(
    userId: string,
    messageId: string,
    mime: MimeSource,
    patch: { hasAttachments?: boolean } = {},
  ): SimMessage {
    return this.changeInPlace(userId, messageId, "replaceMessageMime", {
      ...(patch.hasAttachments !== undefined ? { hasAttachments: patch.hasAttachments } : {}),
      mime,
      size: mimeSize(mime),
    });
  }

  openMime(message: SimMessage): Readable {
    return openMimeSource(message.mime);
  }

  // --- non-mail items ---

  getItem(userId: string, itemId: string): SimItem | undefined {
    return this.findMailbox(userId)?.items.get(itemId)?.item;
  }

  listItems(userId: string, folderId: string): SimItem[] {
    const mailbox = this.mailbox(userId, "listItems");
    const state = this.folderState(mailbox, folderId, "listItems");
    return [...state.itemIds].map((id) => this.storedItem(mailbox, id, "listItems").item);
  }

  addItem(userId: string, folderId: string, item: NewItem): SimItem {
    const mailbox = this.mailbox(userId, "addItem");
    const folder = this.folderState(mailbox, folderId, "addItem");
    refuseSearchFolder(folder, "addItem");
    const { id: forcedId, lastModifiedDateTime, ...fields } = item;
    if (forcedId !== undefined) this.refuseTakenId(forcedId, "addItem");
    const id = forcedId ?? this.nextItemId("item");
    const seq = ++mailbox.seq;
    const stored: SimItem = {
      ...fields,
      categories: [...fields.categories],
      id,
      changeKey: changeKeyFor(id, seq),
      parentFolderId: folder.folder.id,
      lastModifiedDateTime: lastModifiedDateTime ?? this.now(fields.createdDateTime),
    };
    mailbox.items.set(id, { item: stored, seq });
    enterItem(folder, stored, seq);
    return stored;
  }

  updateItem(
    userId: string,
    itemId: string,
    patch: ItemPatch & { itemClass?: string; createdDateTime?: string; lastModifiedDateTime?: string },
  ): SimItem {
    const mailbox = this.mailbox(userId, "updateItem");
    const current = this.storedItem(mailbox, itemId, "updateItem");
    const folder = this.folderState(mailbox, current.item.parentFolderId, "updateItem");
    const seq = ++mailbox.seq;
    const next: SimItem = {
      ...current.item,
      ...(patch.itemClass ? { itemClass: patch.itemClass } : {}),
      ...(patch.createdDateTime ? { createdDateTime: patch.createdDateTime } : {}),
      ...(patch.categories ? { categories: [...patch.categories] } : {}),
      ...(patch.content ? { content: patch.content } : {}),
      changeKey: changeKeyFor(itemId, seq),
      lastModifiedDateTime: patch.lastModifiedDateTime ?? this.now(current.item.lastModifiedDateTime),
    };
    mailbox.items.set(itemId, { item: next, seq });
    enterItem(folder, next, seq);
    return next;
  }

  moveItem(userId: string, itemId: string, destinationFolderId: string): SimItem {
    const mailbox = this.mailbox(userId, "moveItem");
    const current = this.storedItem(mailbox, itemId, "moveItem");
    const from = this.folderState(mailbox, current.item.parentFolderId, "moveItem");
    const to = this.folderState(mailbox, destinationFolderId, "moveItem");
    refuseSearchFolder(to, "moveItem");
    const seq = ++mailbox.seq;
    const next: SimItem = {
      ...current.item,
      parentFolderId: to.folder.id,
      changeKey: changeKeyFor(itemId, seq),
      lastModifiedDateTime: this.now(current.item.lastModifiedDateTime),
    };
    if (from !== to) leaveItem(from, itemId, seq);
    mailbox.items.set(itemId, { item: next, seq });
    enterItem(to, next, seq);
    return next;
  }

  deleteItem(userId: string, itemId: string): void {
    const mailbox = this.mailbox(userId, "deleteItem");
    const current = this.storedItem(mailbox, itemId, "deleteItem");
    const folder = this.folderState(mailbox, current.item.parentFolderId, "deleteItem");
    leaveItem(folder, itemId, ++mailbox.seq);
    mailbox.items.delete(itemId);
  }

  // --- the import/export API's view: messages and items alike ---

  mailboxItem(userId: string, itemId: string): MailboxItemView | undefined {
    const mailbox = this.findMailbox(userId);
    const message = mailbox?.messages.get(itemId)?.message;
    if (message) return messageView(message);
    const item = mailbox?.items.get(itemId)?.item;
    return item ? itemView(item) : undefined;
  }

  listMailboxItems(userId: string, folderId: string): MailboxItemView[] {
    return [
      ...this.listMessages(userId, folderId).map(messageView),
      ...this.listItems(userId, folderId).map(itemView),
    ];
  }

  itemDelta(
    userId: string,
    folderId: string,
    cursor: DeltaCursor | null,
    pageSize: number,
  ): ChangeResult<MailboxItemView> {
    return this.folderChanges(userId, folderId, cursor, pageSize, "items");
  }

  // --- message delta ---

  delta(userId: string, folderId: string, cursor: DeltaCursor | null, pageSize: number): DeltaResult {
    const result = this.folderChanges(userId, folderId, cursor, pageSize, "messages");
    if (!result.ok) return result;
    const { entries, ...rest } = result.page;
    return {
      ok: true,
      page: {
        ...rest,
        entries: entries.map((e) =>
          e.type === "upsert" ? { type: "upsert", message: e.value.message as SimMessage } : e,
        ),
      },
    };
  }

  /** A round of a folder's changes: of its messages only (message delta), or of every item. */
  private folderChanges(
    userId: string,
    folderId: string,
    cursor: DeltaCursor | null,
    pageSize: number,
    what: "messages" | "items",
  ): ChangeResult<MailboxItemView> {
    checkPageSize(pageSize);
    const mailbox = this.findMailbox(userId);
    const folder = mailbox && this.findFolder(mailbox, folderId);
    if (!mailbox || !folder) return { ok: false, reason: "FolderNotFound" };
    const id = folder.folder.id;
    // Message delta keys its cursors by user id (as it always has); item delta by mailbox id.
    const owner = what === "messages" ? mailbox.user.id : mailbox.info.id;
    const key = { mailboxId: owner, folderId: id, generation: folder.generation };
    if (cursor && !sameRound(cursor, key, mailbox.seq)) return { ok: false, reason: "SyncStateNotFound" };
    // Search folders hold no items of their own: their log stays empty and every round is empty.
    const page = changesPage(folder.log, roundOf(cursor, mailbox.seq, key), pageSize, {
      include: (entry: LogEntry) => what === "items" || !entry.item,
      current: (itemId) => {
        const message = mailbox.messages.get(itemId);
        if (message)
          return {
            seq: message.seq,
            value: messageView(message.message),
            inScope: message.message.parentFolderId === id,
          };
        const item = mailbox.items.get(itemId);
        if (item)
          return { seq: item.seq, value: itemView(item.item), inScope: item.item.parentFolderId === id };
        return undefined;
      },
    });
    return { ok: true, page };
  }

  invalidateSyncState(userId: string, folderId: string): void {
    const state = this.folderState(
      this.mailbox(userId, "invalidateSyncState"),
      folderId,
      "invalidateSyncState",
    );
    state.generation++;
  }

  invalidateFolderSyncState(userId: string): void {
    this.mailbox(userId, "invalidateFolderSyncState").folderGeneration++;
  }

  // --- ground truth ---

  groundTruth(): Promise<GroundTruth> {
    return computeGroundTruth(this);
  }

  // --- internals ---

  private newMailbox(user: SimUser, kind: MailboxKind, rootId: string): MailboxState {
    const info: SimMailbox = {
      id: `MBX:${guidFor(this.tenantId, `mailbox-${kind}-${user.id}`)}@${this.tenantId}`,
      userId: user.id,
      kind,
    };
    const root = newFolderState(
      {
        id: rootId,
        displayName: ROOT_DISPLAY_NAME,
        // The root's parent is the non-IPM subtree, which Graph never lists.
        parentFolderId: exchangeId(
          `${this.tenantId}/${kind === "primary" ? user.id : info.id}`,
          "folder",
          -1,
        ),
        isHidden: false,
        isSearchFolder: false,
        wellKnownName: ROOT_WELL_KNOWN,
      },
      0,
    );
    const mailbox: MailboxState = {
      user,
      info,
      rootId,
      folders: new Map([[rootId, root]]),
      wellKnown: new Map([[ROOT_WELL_KNOWN, rootId]]),
      messages: new Map(),
      items: new Map(),
      seq: 0,
      folderLog: [],
      folderSeq: 0,
      folderGeneration: 1,
      expanded: new Map(),
    };
    this.byMailboxId.set(info.id.toLowerCase(), mailbox);
    return mailbox;
  }

  private nextId(kind: "folder" | "message"): string {
    return exchangeId(this.tenantId, kind, this.idCounter++);
  }

  private nextItemId(kind: "folder" | "item"): string {
    return exchangeId(
      `${this.tenantId}/items`,
      kind === "folder" ? "folder" : "message",
      this.itemIdCounter++,
    );
  }

  /** Ids are unique in the whole tenant, as Exchange's are (they name their mailbox). */
  private refuseTakenId(id: string, context: string): void {
    if (this.mailboxOfItem(id))
      throw new FatalError(`${context}: expected a new item id, found '${id}' already present`);
  }

  private now(notBefore: string): string {
    if (this.clock) return canonicalTime(this.clock().getTime());
    this.logicalNow = Math.max(this.logicalNow + 1000, Date.parse(notBefore) || 0);
    return canonicalTime(this.logicalNow);
  }

  private findMailbox(key: string): MailboxState | undefined {
    if (MAILBOX_ID.test(key)) return this.byMailboxId.get(key.toLowerCase());
    const user = this.getUser(key);
    return user ? this.mailboxes.get(user.id) : undefined;
  }

  private mailbox(key: string, context: string): MailboxState {
    const mailbox = this.findMailbox(key);
    if (!mailbox)
      throw new TenantObjectNotFoundError(
        MAILBOX_ID.test(key) || this.getUser(key) ? "mailbox" : "user",
        key,
        context,
      );
    return mailbox;
  }

  private findFolder(mailbox: MailboxState, idOrWellKnown: string): FolderState | undefined {
    return (
      mailbox.folders.get(idOrWellKnown) ??
      mailbox.folders.get(mailbox.wellKnown.get(idOrWellKnown.toLowerCase()) ?? "")
    );
  }

  private folderState(mailbox: MailboxState, idOrWellKnown: string, context: string): FolderState {
    const state = this.findFolder(mailbox, idOrWellKnown);
    if (!state) throw new TenantObjectNotFoundError("folder", idOrWellKnown, context);
    return state;
  }

  private storedMessage(mailbox: MailboxState, messageId: string, context: string): StoredMessage {
    const stored = mailbox.messages.get(messageId);
    if (!stored) throw new TenantObjectNotFoundError("message", messageId, context);
    return stored;
  }

  private storedItem(mailbox: MailboxState, itemId: string, context: string): StoredItem {
    const stored = mailbox.items.get(itemId);
    if (!stored) throw new TenantObjectNotFoundError("message", itemId, context);
    return stored;
  }
}

function messageView(message: SimMessage): MailboxItemView {
  return {
    id: message.id,
    changeKey: message.changeKey,
    parentFolderId: message.parentFolderId,
    itemClass: MESSAGE_CLASS,
    createdDateTime: message.createdDateTime,
    lastModifiedDateTime: message.lastModifiedDateTime,
    receivedDateTime: message.receivedDateTime,
    categories: message.categories,
    message,
  };
}

function itemView(item: SimItem): MailboxItemView {
  return {
    id: item.id,
    changeKey: item.changeKey,
    parentFolderId: item.parentFolderId,
    itemClass: item.itemClass,
    createdDateTime: item.createdDateTime,
    lastModifiedDateTime: item.lastModifiedDateTime,
    categories: item.categories,
    item,
  };
}

function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new FatalError(`delta: expected a page size that is a positive integer, found ${pageSize}`);
  }
}

/**
 * Whether a cursor belongs to this log as it is now. A cursor beyond the sequence comes from
 * another history of the tenant (e.g. a token kept across a rebuild with fewer mutation rounds):
 * its sync state cannot exist here.
 */
function sameRound(
  cursor: DeltaCursor,
  key: Pick<DeltaCursor, "mailboxId" | "folderId" | "generation">,
  now: number,
): boolean {
  return (
    cursor.snapshot <= now &&
    cursor.base <= cursor.snapshot &&
    cursor.generation === key.generation &&
    cursor.folderId === key.folderId &&
    cursor.mailboxId.toLowerCase() === key.mailboxId.toLowerCase()
  );
}

/** Search folders only show items of other folders; putting an item into one is a caller bug. */
function refuseSearchFolder(folder: FolderState, context: string): void {
  if (folder.folder.isSearchFolder) {
    throw new FatalError(
      `${context}: expected a folder that holds items, found search folder '${folder.folder.displayName}' (${folder.folder.id})`,
    );
  }
}

function definedProps(patch: Partial<MessageProps>): Partial<MessageProps> {
  const out: Partial<MessageProps> = {};
  if (patch.isRead !== undefined) out.isRead = patch.isRead;
  if (patch.flag !== undefined) out.flag = { ...patch.flag };
  if (patch.categories !== undefined) out.categories = [...patch.categories];
  if (patch.importance !== undefined) out.importance = patch.importance;
  return out;
}
