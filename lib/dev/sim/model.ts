/**
 * The simulated Exchange Online tenant: the data model shared by the tenant store
 * (`lib/sim/tenant/`), the tenant generator and mutation step, and the Graph-compatible
 * HTTPS server (`lib/sim/server/`).
 *
 * The server only reads and writes the tenant through {@link TenantStore}; the generator builds a
 * tenant through the same write methods, so every change (including the ones a generator makes)
 * goes through the store's change log that message delta queries are served from.
 */
import type { Readable } from "node:stream";
import type { ItemContent } from "./item-model.js";

export type {
  ItemAttachment,
  ItemContent,
  LazyBytes,
  PropDef,
  Property,
  PropType,
  PropValue,
} from "./item-model.js";

export interface EmailAddress {
  name: string;
  address: string;
}

/** `mailboxSettings.userPurpose` values, as Graph reports them. */
export type UserPurpose = "user" | "shared" | "room" | "equipment" | "linked" | "others";

export interface SimUser {
  /** Directory object id (a GUID). */
  id: string;
  userPrincipalName: string;
  displayName: string;
  /** Primary SMTP address; `null` for accounts without mail. */
  mail: string | null;
  accountEnabled: boolean;
  /** Number of assigned licences; shared mailboxes have none. */
  licenseCount: number;
  /** `null` when the account has no usable mailbox (probe answers 404 MailboxNotEnabledForRESTAPI). */
  mailbox: { purpose: UserPurpose; timeZone: string } | null;
  /** Group display names the user belongs to (for include/exclude by group). */
  groups: string[];
}

export interface SimFolder {
  /** Immutable folder id (base64url, Exchange-like). Does not change when the folder moves. */
  id: string;
  displayName: string;
  /** Parent folder id; the mailbox root (msgfolderroot) id for top-level folders. */
  parentFolderId: string;
  isHidden: boolean;
  /** Search folders are listed (`#microsoft.graph.mailSearchFolder`) but hold no items of their own. */
  isSearchFolder: boolean;
  /** Well-known name accepted in place of the id (`inbox`, `sentitems`, …), if any. */
  wellKnownName?: string;
  /**
   * The folder class (PR_CONTAINER_CLASS): `IPF.Appointment`, `IPF.Contact`, `IPF.Task`,
   * `IPF.StickyNote`, …; absent for mail folders (`IPF.Note`). Only mail folders are listed by
   * `/mailFolders`; the mailbox import/export API lists every class.
   */
  folderClass?: string;
}

/** The class of mail folders; a folder without `folderClass` has it. */
export const MAIL_FOLDER_CLASS = "IPF.Note";

/** True for folders `/mailFolders` lists: mail folders (class IPF.Note or none, search folders included). */
export function isMailFolder(folder: SimFolder): boolean {
  return folder.folderClass === undefined || folder.folderClass === MAIL_FOLDER_CLASS;
}

/**
 * A user's mailboxes as the mailbox import/export API names them (`MBX:{guid}@{tenant}`): the
 * primary mailbox (the one `/users/{id}/…` serves), the in-place archive, and the auxiliary
 * archive that an auto-expanding archive moved some folders' content to.
 */
export type MailboxKind = "primary" | "archive" | "auxArchive";

export interface SimMailbox {
  /** `MBX:{mailbox guid}@{tenant id}`. */
  id: string;
  userId: string;
  kind: MailboxKind;
}

/** What every item of a mailbox has (Graph's outlookItem, plus its message class). */
export interface ItemRecordFields {
  /** Unique in the tenant, stable across moves between folders of its mailbox. */
  id: string;
  changeKey: string;
  parentFolderId: string;
  /** The message class (PR_MESSAGE_CLASS): IPM.Note, IPM.Appointment, IPM.Contact, IPM.DistList, IPM.Task, IPM.StickyNote, … */
  itemClass: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  categories: string[];
}

/**
 * A non-mail item (event, contact, distribution list, task, note): a record the API lists plus
 * its content, built when read so that a large tenant holds no item bodies.
 */
export interface SimItem extends ItemRecordFields {
  /** The item's properties, recipients and attachments; the same on every call. */
  content(): ItemContent;
}

/** What {@link TenantStore.addItem} takes; the change key is assigned by the store. */
export type NewItem = Omit<SimItem, "id" | "changeKey" | "parentFolderId" | "lastModifiedDateTime"> & {
  /** Force an id (generators); default: a fresh one. */
  id?: string;
  /** Default: the store's clock (as for any change); imports keep the exported value. */
  lastModifiedDateTime?: string;
};

/** A change to an item: its categories and/or its content; the change key and modification time follow. */
export interface ItemPatch {
  categories?: string[];
  content?: () => ItemContent;
}

/** An item as the import/export API lists it: a message or a non-mail item, with what `mailboxItem` shows. */
export interface MailboxItemView extends ItemRecordFields {
  /** Messages only. */
  receivedDateTime?: string;
  /** The message, when the item is one (its MIME and properties are the message endpoints'). */
  message?: SimMessage;
  /** The item, when it is not a message. */
  item?: SimItem;
}

export type Importance = "low" | "normal" | "high";
export type FlagStatus = "notFlagged" | "flagged" | "complete";

/** The properties of a message that can change without changing its MIME. */
export interface MessageProps {
  isRead: boolean;
  flag: { flagStatus: FlagStatus };
  categories: string[];
  importance: Importance;
}

/**
 * Where a message's MIME comes from. Small messages hold their bytes; large ones are produced
 * on demand by a deterministic generator, so a 150 MB message costs no 150 MB buffer.
 */
export type MimeSource =
  | { kind: "bytes"; bytes: Buffer }
  | {
      kind: "generated";
      /** Exact size in bytes of what {@link open} produces. */
      size: number;
      /** Returns a fresh stream of the same bytes on every call. */
      open(): Readable;
    };

export interface SimMessage extends MessageProps {
  /** Immutable id: stable across moves between folders of the same mailbox. */
  id: string;
  /** Changes on every change of the message (props or folder). Served as `@odata.etag` W/"…". */
  changeKey: string;
  parentFolderId: string;
  internetMessageId: string;
  conversationId: string;
  subject: string;
  from: EmailAddress;
  toRecipients: EmailAddress[];
  ccRecipients: EmailAddress[];
  bccRecipients: EmailAddress[];
  createdDateTime: string;
  lastModifiedDateTime: string;
  receivedDateTime: string;
  sentDateTime: string;
  isDraft: boolean;
  hasAttachments: boolean;
  /** Short plain-text preview, as `bodyPreview`. */
  bodyPreview: string;
  mime: MimeSource;
  /** MIME size in bytes. */
  size: number;
}

/** What the generator hands to {@link TenantStore.addMessage}; ids and change keys are assigned by the store. */
export type NewMessage = Omit<
  SimMessage,
  "id" | "changeKey" | "parentFolderId" | "size" | "lastModifiedDateTime"
> & {
  /** Force an id (restores and tests); default: a fresh immutable id. */
  id?: string;
  /** Default: the store's clock; imports keep the exported value. */
  lastModifiedDateTime?: string;
};

/** One entry of a message delta page. */
export type DeltaEntry = { type: "upsert"; message: SimMessage } | { type: "removed"; id: string };

/**
 * Opaque position in a folder's change log, owned by the store. The server serialises it into
 * skiptoken/deltatoken links and hands it back unchanged.
 */
export interface DeltaCursor {
  mailboxId: string;
  folderId: string;
  /** Sync-state generation of the folder when the round began; a mismatch means 410 SyncStateNotFound. */
  generation: number;
  /** Changes with sequence ≤ base were delivered by earlier rounds. */
  base: number;
  /** Upper bound of this round (the change sequence when the round started). */
  snapshot: number;
  /** Keyset position inside the round: the last delivered (seq, id). */
  after?: { seq: number; id: string };
}

export interface DeltaPage {
  entries: DeltaEntry[];
  /** Cursor for the next page (`@odata.nextLink`) when `done` is false, else for the next round (`@odata.deltaLink`). */
  cursor: DeltaCursor;
  done: boolean;
}

export type DeltaResult =
  | { ok: true; page: DeltaPage }
  | { ok: false; reason: "SyncStateNotFound" | "FolderNotFound" };

/** One page of a change log: what changed (the latest state of each) and what left. */
export interface ChangePage<T> {
  entries: Array<{ type: "upsert"; value: T } | { type: "removed"; id: string }>;
  cursor: DeltaCursor;
  done: boolean;
}

export type ChangeResult<T> =
  | { ok: true; page: ChangePage<T> }
  | { ok: false; reason: "SyncStateNotFound" | "FolderNotFound" };

/**
 * Ground truth for tests and benchmarks. `folders` are the primary mailbox's mail folders with
 * every message and the SHA-256 of its MIME (what `/mailFolders` and `$value` serve);
 * `mailboxFolders` are every folder of every class of the primary and the archive mailbox with
 * every item and the SHA-256 of its export stream (what `exportItems` serves, decoded).
 */
export interface GroundTruth {
  tenantId: string;
  mailboxes: Array<{
    userId: string;
    address: string;
    folders: Array<{
      id: string;
      /** Display names from the root, joined by "/". */
      path: string;
      isHidden: boolean;
      isSearchFolder: boolean;
      messages: Array<{ id: string; sha256: string; size: number } & MessageProps>;
    }>;
    /** `MBX:…` id of the primary mailbox. */
    primaryMailboxId: string;
    /** `MBX:…` id of the in-place archive, `null` without one. */
    archiveMailboxId: string | null;
    mailboxFolders: GroundTruthFolder[];
  }>;
}

export interface GroundTruthFolder {
  mailbox: "primary" | "archive";
  /** The mailbox the folder's items are in: the archive's auxiliary mailbox for an expanded folder. */
  itemsMailboxId: string;
  id: string;
  /** Display names from the mailbox root, joined by "/". */
  path: string;
  /** The folder class (`IPF.Note`, `IPF.Appointment`, …). */
  type: string;
  items: Array<{
    id: string;
    /** The message class (`IPM.Note`, `IPM.Appointment`, …). */
    type: string;
    /** Length of the export stream in bytes (the API's `size`). */
    size: number;
    /** SHA-256 (hex) of the export stream: the item's canonical content. */
    sha256: string;
  }>;
}

/**
 * The tenant's data and change logs. All methods are synchronous and in memory (but the ground
 * truth); the server adds latency, limits and faults on top.
 *
 * Methods that name a mailbox (`userId`) take a user id or userPrincipalName (the user's primary
 * mailbox, as `/users/{id}/…` does) or a mailbox id `MBX:…` (any of the user's mailboxes).
 */
export interface TenantStore {
  readonly tenantId: string;

  // --- directory ---
  listUsers(): SimUser[];
  /** By id or userPrincipalName (case-insensitive), as Graph accepts both. */
  getUser(idOrUpn: string): SimUser | undefined;
  addUser(user: SimUser): void;
  removeUser(id: string): void;

  // --- mailboxes ---
  primaryMailbox(userId: string): SimMailbox | undefined;
  /** The user's in-place archive (the main archive), if any. */
  archiveMailbox(userId: string): SimMailbox | undefined;
  /** Any mailbox by its `MBX:` id (case-insensitive). */
  getMailbox(mailboxId: string): SimMailbox | undefined;
  /** Gives the user an in-place archive (an empty folder tree). */
  addArchive(userId: string): SimMailbox;
  /**
   * Makes an empty folder of a main archive an expanded folder: its content lives in the
   * archive's auxiliary mailbox (created on first use) in a folder of the same id.
   */
  expandFolder(archiveId: string, folderId: string): SimMailbox;
  /** The mailbox that holds the folder's items: the auxiliary archive for an expanded folder, else the mailbox. */
  folderHome(userId: string, folderId: string): SimMailbox | undefined;
  /** The mailbox holding a message or item of this id, if any. */
  mailboxOfItem(itemId: string): SimMailbox | undefined;

  // --- folders ---
  /** The root folder id of a mailbox (msgfolderroot); its children are what `/mailFolders` lists. */
  rootFolderId(userId: string): string;
  /** By id or well-known name (`inbox`, `msgfolderroot`, …). */
  getFolder(userId: string, idOrWellKnown: string): SimFolder | undefined;
  /** Child folders of every class. */
  listChildFolders(userId: string, parentFolderId: string): SimFolder[];
  /** Messages (total, unread, MIME bytes) and all items, messages included (of the folder's home). */
  folderStats(
    userId: string,
    folderId: string,
  ): { totalItemCount: number; unreadItemCount: number; sizeBytes: number; allItemCount: number };
  addFolder(
    userId: string,
    parentFolderId: string,
    folder: Omit<SimFolder, "id" | "parentFolderId"> & { id?: string },
  ): SimFolder;
  renameFolder(userId: string, folderId: string, displayName: string): void;
  /** Deletes a folder of the user's with its subfolders, messages and items. */
  deleteFolder(userId: string, folderId: string): void;
  /** A round of the folder hierarchy's changes: of the whole mailbox (`parentFolderId` null) or one folder's children. */
  folderDelta(
    userId: string,
    parentFolderId: string | null,
    cursor: DeltaCursor | null,
    pageSize: number,
  ): ChangeResult<SimFolder>;

  // --- messages ---
  getMessage(userId: string, messageId: string): SimMessage | undefined;
  listMessages(userId: string, folderId: string): SimMessage[];
  addMessage(userId: string, folderId: string, message: NewMessage): SimMessage;
  updateMessage(userId: string, messageId: string, patch: Partial<MessageProps>): SimMessage;
  /** Replaces every field of a message, keeping its id and folder (an import in `update` mode). */
  replaceMessage(userId: string, messageId: string, message: NewMessage): SimMessage;
  moveMessage(userId: string, messageId: string, destinationFolderId: string): SimMessage;
  deleteMessage(userId: string, messageId: string): void;
  /**
   * Gives an existing message new MIME (an attachment added after creation, as a restore does
   * through an upload session); a change like any other (new change key, delta reports it).
   */
  replaceMessageMime(
    userId: string,
    messageId: string,
    mime: MimeSource,
    patch?: { hasAttachments?: boolean },
  ): SimMessage;
  openMime(message: SimMessage): Readable;

  // --- non-mail items ---
  getItem(userId: string, itemId: string): SimItem | undefined;
  listItems(userId: string, folderId: string): SimItem[];
  addItem(userId: string, folderId: string, item: NewItem): SimItem;
  /** A change of an item (categories, content; an import may set class and dates). */
  updateItem(
    userId: string,
    itemId: string,
    patch: ItemPatch & { itemClass?: string; createdDateTime?: string; lastModifiedDateTime?: string },
  ): SimItem;
  moveItem(userId: string, itemId: string, destinationFolderId: string): SimItem;
  deleteItem(userId: string, itemId: string): void;

  // --- the import/export API's view of messages and items ---
  mailboxItem(userId: string, itemId: string): MailboxItemView | undefined;
  listMailboxItems(userId: string, folderId: string): MailboxItemView[];
  /** A round of a folder's changes of messages and items alike (mailboxItem delta). */
  itemDelta(
    userId: string,
    folderId: string,
    cursor: DeltaCursor | null,
    pageSize: number,
  ): ChangeResult<MailboxItemView>;

  // --- message delta ---
  /** Start a round: `null` cursor = initial sync of the folder. Messages only. */
  delta(userId: string, folderId: string, cursor: DeltaCursor | null, pageSize: number): DeltaResult;
  /** Forget the folder's sync states: every outstanding token of it answers 410 from now on. */
  invalidateSyncState(userId: string, folderId: string): void;
  /** Forget the folder hierarchy's sync states (folder delta answers 410). */
  invalidateFolderSyncState(userId: string): void;

  // --- ground truth ---
  groundTruth(): Promise<GroundTruth>;
}
