/**
 * Item delta of one folder of a mailbox through the mailbox import/export API
 * (`…/mailboxes/{id}/folders/{id}/items/delta`), page by page: every kind of item (messages,
 * events, contacts, distribution lists, tasks, notes), each with the extended properties that
 * browse and search need (item-meta.ts), so that no item is read twice. Paged with
 * `Prefer: odata.maxpagesize` (never `$top`, which caps the round); links followed unchanged.
 */
import { batchGetOnce } from "./batch.js";
import type { GraphGateway } from "./client.js";
import { changeKeyOfEtag } from "./delta.js";
import { SyncStateLostError } from "./errors.js";
import { ITEM_META_PROPERTY_IDS } from "./item-meta.js";
import { mailboxPath } from "./mailbox-folders.js";
import { normalisePropertyId } from "./property-id.js";

/** An item as an item delta page delivers it. */
export interface MailboxItemRecord {
  id: string;
  changeKey?: string;
  /** The message class (`IPM.Note`, `IPM.Appointment`, `IPM.Contact`, …). */
  type: string;
  /** Bytes of the item's export stream (what an export will carry). */
  size?: number;
  createdDateTime?: string;
  lastModifiedDateTime?: string;
  categories?: string[];
  /** Extended properties by Graph id (`String 0x0037`, …), as strings. */
  properties: Record<string, string>;
}

export interface ItemDeltaPage {
  upserts: MailboxItemRecord[];
  /** Ids reported `@removed` (deleted, or moved out of the folder). */
  removed: string[];
  nextLink?: string;
  deltaLink?: string;
  /**
   * The mailbox that served the page when it is not the one asked (a folder of an auto-expanding
   * archive whose content moved to its auxiliary mailbox answers 308 there, and its links name
   * that mailbox): the page's items are exported from it.
   */
  servedBy?: string;
}

export interface ItemDeltaOptions {
  /** Resume from a nextLink or deltaLink. Default: an initial round of the folder. */
  from?: string;
  /** Items per page (`Prefer: odata.maxpagesize`). Bounds 1–1000. Default 100. */
  pageSize?: number;
  /** The key the requests count against in the gateway's per-mailbox limits (mailbox-folders.ts). */
  trafficKey: string;
}

interface RawItem {
  id: string;
  "@removed"?: unknown;
  "@odata.etag"?: string;
  changeKey?: string;
  type?: string;
  size?: number;
  createdDateTime?: string;
  lastModifiedDateTime?: string;
  categories?: string[];
  singleValueExtendedProperties?: Array<{ id: string; value: string }>;
}

interface RawPage {
  value?: RawItem[];
  "@odata.nextLink"?: string;
  "@odata.deltaLink"?: string;
}

const ITEM_FIELDS = "id,changeKey,type,size,createdDateTime,lastModifiedDateTime,categories";

/** Built once: every folder's first delta request asks for it. */
const ITEM_META_EXPAND = `singleValueExtendedProperties($filter=${ITEM_META_PROPERTY_IDS.map((id) => `id eq '${id}'`).join(" or ")})`;

/** `$expand` of the metadata properties (ids are matched case-insensitively by the service). */
export function itemMetaExpand(): string {
  return ITEM_META_EXPAND;
}

export function toItemRecord(raw: RawItem): MailboxItemRecord {
  const properties: Record<string, string> = {};
  for (const p of raw.singleValueExtendedProperties ?? []) properties[normalisePropertyId(p.id)] = p.value;
  const changeKey = raw.changeKey ?? changeKeyOfEtag(raw["@odata.etag"]);
  return {
    id: raw.id,
    ...(changeKey !== undefined ? { changeKey } : {}),
    type: raw.type ?? "IPM.Note",
    ...(typeof raw.size === "number" ? { size: raw.size } : {}),
    ...(raw.createdDateTime ? { createdDateTime: raw.createdDateTime } : {}),
    ...(raw.lastModifiedDateTime ? { lastModifiedDateTime: raw.lastModifiedDateTime } : {}),
    ...(Array.isArray(raw.categories) ? { categories: raw.categories } : {}),
    properties,
  };
}

/** The import/export mailbox id a link names (`…/admin/exchange/mailboxes/{id}/…`), if any. */
export function mailboxOfLink(link: string | undefined): string | undefined {
  const match = link === undefined ? null : /\/admin\/exchange\/mailboxes\/([^/?#]+)/i.exec(link);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Pages of the folder's item delta, to the page that carries the deltaLink. A lost sync state
 * throws `SyncStateLostError` (410, with the `Location` to restart from); a folder of an
 * expanded archive answers 308 to its auxiliary mailbox, which the client follows.
 */
export async function* itemDeltaPages(
  gateway: GraphGateway,
  mailboxId: string,
  folderId: string,
  options: ItemDeltaOptions,
): AsyncGenerator<ItemDeltaPage> {
  const headers = pageSizeHeaders(options);
  let link: string | undefined = options.from;
  let query: Record<string, string> | undefined;
  if (!link) {
    link = itemDeltaPath(mailboxId, folderId);
    query = { $select: ITEM_FIELDS, $expand: itemMetaExpand() };
  }
  while (link) {
    const raw: RawPage = await gateway.get<RawPage>(link, {
      headers,
      ...(query ? { query } : {}),
      mailboxId: options.trafficKey,
    });
    query = undefined;
    const page = pageOf(raw, mailboxId);
    yield page;
    link = page.nextLink;
  }
}

/** A delta page as Graph sent it, for the mailbox asked. */
function pageOf(raw: RawPage, mailboxId: string): ItemDeltaPage {
  const page: ItemDeltaPage = { upserts: [], removed: [] };
  for (const item of raw.value ?? []) {
    if (item["@removed"]) page.removed.push(item.id);
    else page.upserts.push(toItemRecord(item));
  }
  if (raw["@odata.nextLink"]) page.nextLink = raw["@odata.nextLink"];
  if (raw["@odata.deltaLink"]) page.deltaLink = raw["@odata.deltaLink"];
  const servedBy = mailboxOfLink(page.nextLink ?? page.deltaLink);
  if (servedBy !== undefined && servedBy.toLowerCase() !== mailboxId.toLowerCase()) page.servedBy = servedBy;
  return page;
}

/** Where a folder's delta round starts: its first request of {@link itemDeltaFirstPages}. */
export interface ItemDeltaStart {
  folderId: string;
  /** A nextLink or deltaLink to resume from (under the gateway's base URL). Default: an initial round. */
  from?: string | undefined;
}

/**
 * The first page of a folder's round in a `$batch`: the page (its `nextLink`, if any, is followed
 * with {@link itemDeltaPages}), a lost sync state (`SyncStateLostError` with its `Location`, as
 * alone), `moved`: a redirect (an expanded archive's folder, 308 to its auxiliary mailbox), the
 * link under the base URL to fetch the round from alone, or `again`: any other failure, to be
 * fetched alone (a throttled one after the mailbox's gate, which already holds it back for its
 * `Retry-After`).
 */
export type ItemDeltaFirstPage =
  | { page: ItemDeltaPage }
  | { error: Error }
  | { moved: string }
  | { again: Error };

/** Whether a round's start can go in a `$batch` (a link under another base URL cannot). */
export function batchableStart(gateway: GraphGateway, start: ItemDeltaStart): boolean {
  return start.from === undefined || underBaseUrl(gateway, start.from);
}

/** Whether an absolute link is under the gateway's base URL (a `$batch` can carry it). */
function underBaseUrl(gateway: Pick<GraphGateway, "baseUrl">, link: string): boolean {
  return link.startsWith(`${gateway.baseUrl}/`);
}

/**
 * The first delta page of each of 1–20 folders of one mailbox in ONE `$batch`, answers in the
 * order of `starts` (see {@link batchGetOnce}: the batch holds min(k, 4) of the mailbox's slots
 * and counts as k requests). Each start must be {@link batchableStart}.
 */
export async function itemDeltaFirstPages(
  gateway: GraphGateway,
  mailboxId: string,
  starts: readonly ItemDeltaStart[],
  options: ItemDeltaOptions,
): Promise<ItemDeltaFirstPage[]> {
  const headers = pageSizeHeaders(options);
  const gets = starts.map((start) => {
    if (!batchableStart(gateway, start)) {
      throw new RangeError(
        `itemDeltaFirstPages: expected a link under ${gateway.baseUrl}, found ${start.from}`,
      );
    }
    return { url: start.from ?? initialDeltaUrl(mailboxId, start.folderId), headers };
  });
  const answers = await batchGetOnce<RawPage>(gateway, options.trafficKey, gets);
  return answers.map((answer) => {
    if ("again" in answer) return { again: answer.again };
    // A lost sync state is the folder's own (its round restarts as alone). Any other inner
    // failure goes again alone: a request inside a batch may be refused where the same request
    // alone is served (a service that does not take a resource in `$batch`), and alone it meets
    // the single request's own handling; it costs one request, on failures only.
    if (answer.error instanceof SyncStateLostError) return { error: answer.error };
    // A redirect goes alone to where it points, not to the url the batch was refused (alone,
    // that url answers the same redirect: one request more, a round on the unit's slots).
    const moved = answer.location === undefined ? undefined : movedLink(gateway, answer.location);
    if (moved) return { moved };
    if (answer.error) return { again: answer.error };
    return { page: pageOf(answer.body ?? {}, mailboxId) };
  });
}

/**
 * A redirect's `Location` as an absolute link under the base URL, else undefined. A root-relative
 * one resolves against the origin, as the transport follows it (`/v1.0/…`, not under the base
 * URL's own path again).
 */
export function movedLink(gateway: Pick<GraphGateway, "baseUrl">, location: string): string | undefined {
  if (underBaseUrl(gateway, location)) return location;
  if (!location.startsWith("/")) return undefined;
  const link = new URL(location, gateway.baseUrl).href;
  return underBaseUrl(gateway, link) ? link : undefined;
}

/** The initial delta request's query, encoded once (a `$batch` carries no separate query). */
const INITIAL_DELTA_QUERY = `$select=${encodeURIComponent(ITEM_FIELDS)}&$expand=${encodeURIComponent(ITEM_META_EXPAND)}`;

/** A folder's initial delta request with its query, as a url. */
function initialDeltaUrl(mailboxId: string, folderId: string): string {
  return `${itemDeltaPath(mailboxId, folderId)}?${INITIAL_DELTA_QUERY}`;
}

/** A folder's item delta path (an initial round's, before its query). */
function itemDeltaPath(mailboxId: string, folderId: string): string {
  return `${mailboxPath(mailboxId)}/folders/${encodeURIComponent(folderId)}/items/delta`;
}

/** The page size a round asks for (`Prefer: odata.maxpagesize`, 1–1000, default 100). */
function pageSizeHeaders(options: ItemDeltaOptions): { Prefer: string } {
  const pageSize = Math.min(1000, Math.max(1, Math.floor(options.pageSize ?? 100)));
  return { Prefer: `odata.maxpagesize=${pageSize}` };
}
