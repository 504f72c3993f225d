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

/** Ground truth for tests and benchmarks: every mailbox's folders and messages, with MIME hashes. */
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
  }>;
}

/**
 * The tenant's data and change log. All methods are synchronous and in memory; the server adds
 * latency, limits and faults on top.
 */
export interface TenantStore {
  readonly tenantId: string;

  // --- directory ---
  listUsers(): SimUser[];
  /** By id or userPrincipalName (case-insensitive), as Graph accepts both. */
  getUser(idOrUpn: string): SimUser | undefined;
  addUser(user: SimUser): void;
  removeUser(id: string): void;

  // --- folders ---
  /** The root folder id of a mailbox (msgfolderroot); its children are what `/mailFolders` lists. */
  rootFolderId(userId: string): string;
  /** By id or well-known name (`inbox`, `msgfolderroot`, …). */
  getFolder(userId: string, idOrWellKnown: string): SimFolder | undefined;
  listChildFolders(userId: string, parentFolderId: string): SimFolder[];
  folderStats(
    userId: string,
    folderId: string,
  ): { totalItemCount: number; unreadItemCount: number; sizeBytes: number };
  addFolder(
    userId: string,
    parentFolderId: string,
    folder: Omit<SimFolder, "id" | "parentFolderId"> & { id?: string },
  ): SimFolder;
  renameFolder(userId: string, folderId: string, displayName: string): void;

  // --- messages ---
  getMessage(userId: string, messageId: string): SimMessage | undefined;
  listMessages(userId: string, folderId: string): SimMessage[];
  addMessage(userId: string, folderId: string, message: NewMessage): SimMessage;
  updateMessage(userId: string, messageId: string, patch: Partial<MessageProps>): SimMessage;
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

  // --- delta ---
  /** Start a round: `null` cursor = initial sync of the folder. */
  delta(userId: string, folderId: string, cursor: DeltaCursor | null, pageSize: number): DeltaResult;
  /** Forget the folder's sync states: every outstanding token of it answers 410 from now on. */
  invalidateSyncState(userId: string, folderId: string): void;

  // --- ground truth ---
  groundTruth(): Promise<GroundTruth>;
}
