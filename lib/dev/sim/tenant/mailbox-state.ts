/**
 * How the in-memory store keeps one mailbox: its folders (each with its change log and counters),
 * messages, non-mail items, and the folder hierarchy's own change log.
 */
import type { SimFolder, SimItem, SimMailbox, SimMessage, SimUser } from "../model.js";
import type { LogEntry } from "./change-log.js";

export interface FolderState {
  folder: SimFolder;
  children: string[];
  /** Message ids currently in the folder, in arrival order. */
  messageIds: Set<string>;
  /** Non-mail item ids currently in the folder, in arrival order. */
  itemIds: Set<string>;
  /** Changes of the folder's messages and items (items' entries carry `item`). */
  log: LogEntry[];
  /** Sync-state generation: tokens of an older generation answer 410. */
  generation: number;
  /** Unread messages. */
  unread: number;
  /** MIME bytes of its messages. */
  bytes: number;
  /** Sequence (in the mailbox's folder log) of the folder's latest change. */
  changeSeq: number;
}

export interface StoredMessage {
  message: SimMessage;
  /** Sequence number of the message's latest change. */
  seq: number;
}

export interface StoredItem {
  item: SimItem;
  seq: number;
}

export interface MailboxState {
  user: SimUser;
  info: SimMailbox;
  rootId: string;
  folders: Map<string, FolderState>;
  wellKnown: Map<string, string>;
  messages: Map<string, StoredMessage>;
  items: Map<string, StoredItem>;
  /** Change sequence of messages and items. */
  seq: number;
  /** Changes of the folder hierarchy (added, renamed, deleted folders), with its own sequence. */
  folderLog: LogEntry[];
  folderSeq: number;
  /** Sync-state generation of the folder hierarchy. */
  folderGeneration: number;
  /** Folders of a main archive whose content an auto-expanding archive moved: folder id → auxiliary mailbox. */
  expanded: Map<string, MailboxState>;
}

export function newFolderState(folder: SimFolder, changeSeq: number): FolderState {
  return {
    folder,
    children: [],
    messageIds: new Set(),
    itemIds: new Set(),
    log: [],
    generation: 1,
    unread: 0,
    bytes: 0,
    changeSeq,
  };
}

/** Puts a message's current state into the folder's counters and logs it at `seq`. */
export function enterMessage(folder: FolderState, message: SimMessage, seq: number): void {
  folder.messageIds.add(message.id);
  if (!message.isRead) folder.unread++;
  folder.bytes += message.size;
  folder.log.push({ seq, id: message.id, kind: "in" });
}

/**
 * Takes a message's previous state out of the folder's counters; with `tombstoneSeq`, it also
 * leaves the folder (a tombstone is logged), otherwise it is about to re-enter.
 */
export function leaveMessage(
  folder: FolderState,
  previous: SimMessage,
  tombstoneSeq: number | undefined,
): void {
  if (!previous.isRead) folder.unread--;
  folder.bytes -= previous.size;
  if (tombstoneSeq === undefined) return;
  folder.messageIds.delete(previous.id);
  folder.log.push({ seq: tombstoneSeq, id: previous.id, kind: "out" });
}

export function enterItem(folder: FolderState, item: SimItem, seq: number): void {
  folder.itemIds.add(item.id);
  folder.log.push({ seq, id: item.id, kind: "in", item: true });
}

export function leaveItem(folder: FolderState, id: string, seq: number): void {
  folder.itemIds.delete(id);
  folder.log.push({ seq, id, kind: "out", item: true });
}

/** Logs a change of a folder (added or renamed) in its mailbox's folder log. */
export function logFolderChange(mailbox: MailboxState, state: FolderState, kind: "in" | "out"): void {
  const seq = ++mailbox.folderSeq;
  state.changeSeq = seq;
  mailbox.folderLog.push({ seq, id: state.folder.id, kind, parent: state.folder.parentFolderId });
}
