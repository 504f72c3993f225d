/**
 * The simulated tenant held in memory: directory, mailboxes, folders, messages, and the
 * per-folder change logs that message delta rounds are served from.
 *
 * Change model: each mailbox has one monotonically increasing change sequence. Every message
 * change (add, update, move, delete) takes the next sequence number and appends to the change
 * log of each folder it touches: an "in" entry for the folder now holding the message, a
 * tombstone for the folder it left. Because sequence numbers only grow, each log is sorted by
 * sequence, so a delta page is a binary search plus a forward scan.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { FatalError } from "../../../errors.js";
import type {
  DeltaCursor,
  DeltaEntry,
  DeltaResult,
  GroundTruth,
  MessageProps,
  MimeSource,
  NewMessage,
  SimFolder,
  SimMessage,
  SimUser,
  TenantStore,
} from "../model.js";
import { TenantObjectNotFoundError } from "./errors.js";
import { changeKeyFor, exchangeId } from "./ids.js";
import { OnDemandMime } from "./mime.js";

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

/** One entry of a folder's change log. */
interface LogEntry {
  seq: number;
  id: string;
  /** "in": the message entered or changed in this folder; "out": it left (tombstone). */
  kind: "in" | "out";
}

interface FolderState {
  folder: SimFolder;
  children: string[];
  /** Message ids currently in the folder, in arrival order. */
  messageIds: Set<string>;
  log: LogEntry[];
  generation: number;
  unread: number;
  bytes: number;
}

interface StoredMessage {
  message: SimMessage;
  /** Sequence number of the message's latest change. */
  seq: number;
}

interface MailboxState {
  user: SimUser;
  rootId: string;
  folders: Map<string, FolderState>;
  wellKnown: Map<string, string>;
  messages: Map<string, StoredMessage>;
  seq: number;
}

const ROOT_WELL_KNOWN = "msgfolderroot";
const ROOT_DISPLAY_NAME = "Top of Information Store";
const LOGICAL_CLOCK_START = Date.parse("2026-01-01T00:00:00Z");

export class InMemoryTenantStore implements TenantStore {
  readonly tenantId: string;
  private readonly users = new Map<string, SimUser>();
  private readonly byUpn = new Map<string, string>();
  private readonly mailboxes = new Map<string, MailboxState>();
  /** Counter behind folder and message ids: the same sequence of calls yields the same ids. */
  private idCounter = 0;
  private logicalNow = LOGICAL_CLOCK_START;
  private readonly clock: (() => Date) | undefined;
  /** SHA-256 of MIME sources already hashed; MIME never changes after a message is created. */
  private readonly hashCache = new WeakMap<MimeSource, string>();

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
    if (user.mailbox) {
      const rootId = this.nextId("folder");
      const root: FolderState = this.newFolderState({
        id: rootId,
        displayName: ROOT_DISPLAY_NAME,
        // The root's parent is the non-IPM subtree, which Graph never lists.
        parentFolderId: exchangeId(`${this.tenantId}/${id}`, "folder", -1),
        isHidden: false,
        isSearchFolder: false,
        wellKnownName: ROOT_WELL_KNOWN,
      });
      this.mailboxes.set(id, {
        user: stored,
        rootId,
        folders: new Map([[rootId, root]]),
        wellKnown: new Map([[ROOT_WELL_KNOWN, rootId]]),
        messages: new Map(),
        seq: 0,
      });
    }
  }

  removeUser(id: string): void {
    const user = this.getUser(id);
    if (!user) return;
    this.users.delete(user.id);
    this.byUpn.delete(user.userPrincipalName.toLowerCase());
    this.mailboxes.delete(user.id);
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
  ): { totalItemCount: number; unreadItemCount: number; sizeBytes: number } {
    const state = this.folderState(this.mailbox(userId, "folderStats"), folderId, "folderStats");
    return { totalItemCount: state.messageIds.size, unreadItemCount: state.unread, sizeBytes: state.bytes };
  }

  addFolder(
    userId: string,
    parentFolderId: string,
    folder: Omit<SimFolder, "id" | "parentFolderId"> & { id?: string },
  ): SimFolder {
    const mailbox = this.mailbox(userId, "addFolder");
    const parent = this.folderState(mailbox, parentFolderId, "addFolder");
    const id = folder.id ?? this.nextId("folder");
    if (mailbox.folders.has(id))
      throw new FatalError(`addFolder: expected a new folder id, found '${id}' already present`);
    if (folder.wellKnownName && mailbox.wellKnown.has(folder.wellKnownName)) {
      throw new FatalError(
        `addFolder: expected one folder per well-known name, found a second '${folder.wellKnownName}'`,
      );
    }
    const state = this.newFolderState({ ...folder, id, parentFolderId: parent.folder.id });
    mailbox.folders.set(id, state);
    parent.children.push(id);
    if (folder.wellKnownName) mailbox.wellKnown.set(folder.wellKnownName, id);
    return state.folder;
  }

  renameFolder(userId: string, folderId: string, displayName: string): void {
    const state = this.folderState(this.mailbox(userId, "renameFolder"), folderId, "renameFolder");
    state.folder = { ...state.folder, displayName };
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
    const { id: forcedId, ...fields } = message;
    const id = forcedId ?? this.nextId("message");
    if (mailbox.messages.has(id))
      throw new FatalError(`addMessage: expected a new message id, found '${id}' already present`);
    const seq = ++mailbox.seq;
    const stored: SimMessage = {
      ...fields,
      categories: [...fields.categories],
      flag: { ...fields.flag },
      id,
      changeKey: changeKeyFor(id, seq),
      parentFolderId: folder.folder.id,
      size: mimeSize(fields.mime),
      lastModifiedDateTime: this.now(fields.createdDateTime),
    };
    mailbox.messages.set(id, { message: stored, seq });
    this.enter(folder, stored, seq);
    return stored;
  }

  updateMessage(userId: string, messageId: string, patch: Partial<MessageProps>): SimMessage {
    return this.changeInPlace(userId, messageId, "updateMessage", definedProps(patch));
  }

  /**
   * A new version of a message in its folder: the fields replaced, a new change key and
   * modification time. It leaves and re-enters the folder, so the folder's byte count follows a
   * new size, with no tombstone (the message stays where it is).
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
      lastModifiedDateTime: this.now(current.message.lastModifiedDateTime),
    };
    this.leave(folder, current.message, undefined);
    mailbox.messages.set(messageId, { message: next, seq });
    this.enter(folder, next, seq);
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
    this.leave(from, current.message, from === to ? undefined : seq);
    mailbox.messages.set(messageId, { message: next, seq });
    this.enter(to, next, seq);
    return next;
  }

  deleteMessage(userId: string, messageId: string): void {
    const mailbox = this.mailbox(userId, "deleteMessage");
    const current = this.storedMessage(mailbox, messageId, "deleteMessage");
    const folder = this.folderState(mailbox, current.message.parentFolderId, "deleteMessage");
    const seq = ++mailbox.seq;
    this.leave(folder, current.message, seq);
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

  // --- delta ---

  delta(userId: string, folderId: string, cursor: DeltaCursor | null, pageSize: number): DeltaResult {
    if (!Number.isInteger(pageSize) || pageSize < 1) {
      throw new FatalError(`delta: expected a page size that is a positive integer, found ${pageSize}`);
    }
    const mailbox = this.findMailbox(userId);
    const folder = mailbox && this.findFolder(mailbox, folderId);
    if (!mailbox || !folder) return { ok: false, reason: "FolderNotFound" };
    const id = folder.folder.id;
    if (
      cursor &&
      // A cursor beyond the mailbox's sequence comes from another history of the tenant (e.g. a
      // token kept across a rebuild with fewer mutation rounds): its sync state cannot exist here.
      (cursor.snapshot > mailbox.seq ||
        cursor.base > cursor.snapshot ||
        cursor.generation !== folder.generation ||
        cursor.folderId !== id ||
        cursor.mailboxId !== mailbox.user.id)
    ) {
      return { ok: false, reason: "SyncStateNotFound" };
    }
    // A cursor from a last page (base === snapshot, no keyset position) starts a new round whose
    // snapshot is the mailbox's sequence now; a null cursor starts the initial round from 0.
    const startsRound = !cursor || (cursor.after === undefined && cursor.base === cursor.snapshot);
    const round: DeltaCursor = startsRound
      ? {
          mailboxId: mailbox.user.id,
          folderId: id,
          generation: folder.generation,
          base: cursor?.base ?? 0,
          snapshot: mailbox.seq,
        }
      : (cursor as DeltaCursor);
    const initial = round.base === 0;
    const log = folder.log;
    const startAfter = Math.max(round.base, round.after?.seq ?? 0);
    let index = firstIndexAfter(log, startAfter);
    const entries: DeltaEntry[] = [];
    let last: LogEntry | undefined;
    // Search folders hold no items of their own: their log stays empty and every round is empty.
    while (index < log.length && entries.length < pageSize) {
      const entry = log[index] as LogEntry;
      if (entry.seq > round.snapshot) break;
      index++;
      last = entry;
      const current = mailbox.messages.get(entry.id);
      const inFolder = current !== undefined && current.message.parentFolderId === id;
      if (entry.kind === "in") {
        // Deliver only the message's latest change; an earlier entry is superseded by a later one.
        if (inFolder && current.seq === entry.seq) entries.push({ type: "upsert", message: current.message });
      } else if (!initial && !(inFolder && current.seq > entry.seq)) {
        entries.push({ type: "removed", id: entry.id });
      }
    }
    const more = index < log.length && (log[index] as LogEntry).seq <= round.snapshot;
    if (more) {
      const after = last ?? round.after;
      return {
        ok: true,
        page: {
          entries,
          done: false,
          cursor: { ...withoutAfter(round), ...(after ? { after: { seq: after.seq, id: after.id } } : {}) },
        },
      };
    }
    const next: DeltaCursor = {
      mailboxId: round.mailboxId,
      folderId: round.folderId,
      generation: round.generation,
      base: round.snapshot,
      snapshot: round.snapshot,
    };
    return { ok: true, page: { entries, done: true, cursor: next } };
  }

  invalidateSyncState(userId: string, folderId: string): void {
    const state = this.folderState(
      this.mailbox(userId, "invalidateSyncState"),
      folderId,
      "invalidateSyncState",
    );
    state.generation++;
  }

  // --- ground truth ---

  async groundTruth(): Promise<GroundTruth> {
    const mailboxes: GroundTruth["mailboxes"] = [];
    for (const mailbox of this.mailboxes.values()) {
      const folders: GroundTruth["mailboxes"][number]["folders"] = [];
      const visit = async (folderId: string, prefix: string): Promise<void> => {
        const state = this.folderState(mailbox, folderId, "groundTruth");
        for (const childId of state.children) {
          const child = this.folderState(mailbox, childId, "groundTruth");
          const path = prefix === "" ? child.folder.displayName : `${prefix}/${child.folder.displayName}`;
          const messages: GroundTruth["mailboxes"][number]["folders"][number]["messages"] = [];
          for (const id of child.messageIds) {
            const m = this.storedMessage(mailbox, id, "groundTruth").message;
            messages.push({
              id,
              sha256: await this.sha256(m.mime),
              size: m.size,
              isRead: m.isRead,
              flag: { ...m.flag },
              categories: [...m.categories],
              importance: m.importance,
            });
          }
          folders.push({
            id: childId,
            path,
            isHidden: child.folder.isHidden,
            isSearchFolder: child.folder.isSearchFolder,
            messages,
          });
          await visit(childId, path);
        }
      };
      await visit(mailbox.rootId, "");
      mailboxes.push({
        userId: mailbox.user.id,
        address: mailbox.user.mail ?? mailbox.user.userPrincipalName,
        folders,
      });
    }
    return { tenantId: this.tenantId, mailboxes };
  }

  // --- internals ---

  private nextId(kind: "folder" | "message"): string {
    return exchangeId(this.tenantId, kind, this.idCounter++);
  }

  private now(notBefore: string): string {
    if (this.clock) return this.clock().toISOString();
    this.logicalNow = Math.max(this.logicalNow + 1000, Date.parse(notBefore) || 0);
    return new Date(this.logicalNow).toISOString();
  }

  private newFolderState(folder: SimFolder): FolderState {
    return { folder, children: [], messageIds: new Set(), log: [], generation: 1, unread: 0, bytes: 0 };
  }

  private findMailbox(userId: string): MailboxState | undefined {
    const user = this.getUser(userId);
    return user ? this.mailboxes.get(user.id) : undefined;
  }

  private mailbox(userId: string, context: string): MailboxState {
    const mailbox = this.findMailbox(userId);
    if (!mailbox)
      throw new TenantObjectNotFoundError(this.getUser(userId) ? "mailbox" : "user", userId, context);
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

  /** Puts the message's current state into the folder's counters and logs it at `seq`. */
  private enter(folder: FolderState, message: SimMessage, seq: number): void {
    folder.messageIds.add(message.id);
    if (!message.isRead) folder.unread++;
    folder.bytes += message.size;
    folder.log.push({ seq, id: message.id, kind: "in" });
  }

  /**
   * Takes the message's previous state out of the folder's counters; with `tombstoneSeq`, it
   * also leaves the folder (a tombstone is logged), otherwise it is about to re-enter.
   */
  private leave(folder: FolderState, previous: SimMessage, tombstoneSeq: number | undefined): void {
    if (!previous.isRead) folder.unread--;
    folder.bytes -= previous.size;
    if (tombstoneSeq === undefined) return;
    folder.messageIds.delete(previous.id);
    folder.log.push({ seq: tombstoneSeq, id: previous.id, kind: "out" });
  }

  private async sha256(source: MimeSource): Promise<string> {
    const cached = this.hashCache.get(source);
    if (cached) return cached;
    const hash = createHash("sha256");
    if (source.kind === "bytes") hash.update(source.bytes);
    else for await (const chunk of source.open()) hash.update(chunk as Buffer);
    const hex = hash.digest("hex");
    this.hashCache.set(source, hex);
    return hex;
  }
}

/** A fresh byte stream (not object mode) of a MIME source. */
export function openMimeSource(source: MimeSource): Readable {
  return source.kind === "bytes" ? Readable.from([source.bytes], { objectMode: false }) : source.open();
}

export function mimeSize(source: MimeSource): number {
  // MIME built on demand knows its size; asking its `bytes` would build it.
  if (source instanceof OnDemandMime) return source.size;
  return source.kind === "bytes" ? source.bytes.length : source.size;
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

function withoutAfter(cursor: DeltaCursor): DeltaCursor {
  const { after: _after, ...rest } = cursor;
  return rest;
}

/** Index of the first log entry with a sequence greater than `seq` (the log is sorted by sequence). */
function firstIndexAfter(log: LogEntry[], seq: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((log[mid] as LogEntry).seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
