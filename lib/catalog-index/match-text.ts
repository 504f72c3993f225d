/**
 * The texts a search matches an item on, in one place: the scan (search.ts `messageMatches`)
 * and the search index (search-index/terms.ts) both derive from these, so that an indexed answer
 * is the scanned one by construction.
 */
import { senderOf } from "./message-fields.js";

/** An item's kind: `meta.kind`, or `mail` for messages backed up as MIME (no kind recorded). */
export function kindOf(meta: Record<string, unknown>): string {
  return typeof meta.kind === "string" ? meta.kind : "mail";
}

/** The words an item is found by: its subject, or a contact's or list's name, company, location. */
export function titleText(meta: Record<string, unknown>): string {
  return ["subject", "displayName", "location", "companyName"]
    .map((k) => meta[k])
    .filter((v): v is string => typeof v === "string")
    .join(" ")
    .toLowerCase();
}

interface Address {
  emailAddress?: { name?: string; address?: string };
}

/** `name <address>`, lowercase: what `--from` and `--to` look in. */
export function addressText(value: unknown): string {
  const a = value as Address | undefined;
  return `${a?.emailAddress?.name ?? ""} <${a?.emailAddress?.address ?? ""}>`.toLowerCase();
}

/** The sender of mail, the organizer of an event, as {@link addressText}. */
export function senderText(meta: Record<string, unknown>): string {
  return addressText(senderOf(meta) ?? meta.organizer);
}

/** Every To, Cc and Bcc recipient as {@link addressText}. */
export function recipientTexts(meta: Record<string, unknown>): string[] {
  const all: unknown[] = [];
  for (const field of ["toRecipients", "ccRecipients", "bccRecipients"]) {
    const list = meta[field];
    if (Array.isArray(list)) all.push(...list);
  }
  return all.map(addressText);
}

/** The folder filter's path as compared: lowercase, without leading or trailing `/`. */
export function folderFilterPath(folder: string): string {
  return folder.toLowerCase().replace(/^\/+|\/+$/g, "");
}

/** Whether a folder path (lowercase) is the wanted one (see {@link folderFilterPath}) or below it. */
export function inFolder(pathLower: string, want: string): boolean {
  return pathLower === want || pathLower.startsWith(`${want}/`);
}
