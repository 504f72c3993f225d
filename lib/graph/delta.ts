/**
 * Message delta of one folder, page by page. Paging uses `Prefer: odata.maxpagesize` (never
 * `$top`, which caps the whole round) and follows Graph's absolute, opaque links unchanged.
 */
import type { GraphGateway } from "./client.js";

/** The message properties kept beside the MIME (docs/graph-facts.md "Properties worth keeping"). */
export const MESSAGE_META_FIELDS = [
  "id",
  "parentFolderId",
  "internetMessageId",
  "conversationId",
  "createdDateTime",
  "lastModifiedDateTime",
  "receivedDateTime",
  "sentDateTime",
  "subject",
  "from",
  "sender",
  "toRecipients",
  "ccRecipients",
  "bccRecipients",
  "isRead",
  "isDraft",
  "importance",
  "flag",
  "categories",
  "hasAttachments",
] as const;

/** A message as a delta page delivers it: the selected properties plus its change key. */
export interface MessageMeta {
  id: string;
  /** From `@odata.etag` (`W/"<changeKey>"`); changes with every change of the message. */
  changeKey?: string;
  parentFolderId?: string;
  [property: string]: unknown;
}

export interface DeltaPage {
  upserts: MessageMeta[];
  /** Ids reported `@removed` (deleted, or moved out of the folder). */
  removed: string[];
  /** Link to the next page of this round; absent on the last page. */
  nextLink?: string;
  /** Link for the next round (the folder's new sync state); only on the last page. */
  deltaLink?: string;
}

export interface FolderDeltaOptions {
  /** Resume from a nextLink or deltaLink. Default: an initial round of the folder. */
  from?: string;
  /** Messages per page (`Prefer: odata.maxpagesize`). Bounds 1–1000. Default 100. */
  pageSize?: number;
  /** Properties to `$select` on an initial round. Default {@link MESSAGE_META_FIELDS}. */
  select?: readonly string[];
}

interface RawDeltaItem {
  id: string;
  "@removed"?: { reason?: string };
  "@odata.etag"?: string;
  [property: string]: unknown;
}

interface RawDeltaPage {
  value?: RawDeltaItem[];
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
}

/** `W/"CQAAABYAAA…"` → `CQAAABYAAA…`. */
export function changeKeyOfEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  const match = /^(?:W\/)?"(.*)"$/.exec(etag.trim());
  return match ? match[1] : etag;
}

/** Splits a raw delta page into upserts and removals. */
export function toDeltaPage(raw: RawDeltaPage): DeltaPage {
  const upserts: MessageMeta[] = [];
  const removed: string[] = [];
  for (const item of raw.value ?? []) {
    if (item["@removed"]) {
      removed.push(item.id);
      continue;
    }
    const meta: MessageMeta = { id: item.id };
    for (const [key, value] of Object.entries(item)) {
      if (!key.startsWith("@odata.")) meta[key] = value;
    }
    const changeKey =
      typeof item.changeKey === "string" ? item.changeKey : changeKeyOfEtag(item["@odata.etag"]);
    if (changeKey !== undefined) meta.changeKey = changeKey;
    upserts.push(meta);
  }
  return {
    upserts,
    removed,
    ...(raw["@odata.nextLink"] ? { nextLink: raw["@odata.nextLink"] } : {}),
    ...(raw["@odata.deltaLink"] ? { deltaLink: raw["@odata.deltaLink"] } : {}),
  };
}

/**
 * Pages of the folder's message delta, to the page that carries the deltaLink. A lost sync
 * state throws `SyncStateLostError` (410, with the `Location` to restart from).
 */
export async function* folderDeltaPages(
  gateway: GraphGateway,
  userId: string,
  folderId: string,
  options: FolderDeltaOptions = {},
): AsyncGenerator<DeltaPage> {
  const pageSize = Math.min(1000, Math.max(1, Math.floor(options.pageSize ?? 100)));
  const headers = { Prefer: `odata.maxpagesize=${pageSize}` };
  let link: string | undefined = options.from;
  let query: Record<string, string> | undefined;
  if (!link) {
    link = `/users/${encodeURIComponent(userId)}/mailFolders/${encodeURIComponent(folderId)}/messages/delta`;
    query = { $select: (options.select ?? MESSAGE_META_FIELDS).join(",") };
  }
  while (link) {
    const raw: RawDeltaPage = await gateway.get<RawDeltaPage>(link, {
      headers,
      ...(query ? { query } : {}),
      mailboxId: userId,
    });
    query = undefined;
    const page = toDeltaPage(raw);
    yield page;
    link = page.nextLink;
  }
}
