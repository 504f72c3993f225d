/**
 * What a search asks (criteria) and what it finds (hits): shared by the scan (search.ts) and the
 * search index (search-index/), which both answer the same criteria with the same hits.
 */
import type { ViewMessage } from "../archive/replay.js";
import type { ArchivedMailbox } from "./directory.js";

export interface SearchCriteria {
  /** Substring of the sender's address or name, case-insensitive. */
  from?: string;
  /** Substring of any To, Cc or Bcc address or name, case-insensitive. */
  to?: string;
  /** Words that must all occur in the subject (case-insensitive, any order). */
  subjectWords?: string[];
  /** Received at or after this time (ms since the epoch). */
  since?: number;
  /** Received before this time (ms since the epoch). */
  until?: number;
  /** Folder path (case-insensitive); matches the folder and its subfolders. */
  folder?: string;
  /** Only messages with (true) or without (false) attachments. */
  hasAttachments?: boolean;
  /** Only items of this kind (`meta.kind`; items backed up as MIME are `mail`). */
  kind?: string;
}

export interface SearchHit {
  mailbox: ArchivedMailbox;
  folderPath: string;
  message: ViewMessage;
}
