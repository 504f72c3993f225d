/**
 * JSON of the mailbox import/export API's resources as Graph v1.0 returns them: `mailboxFolder`
 * and `mailboxItem`, with `$select` and `$expand` of single- and multi-value extended properties
 * (any MAPI property an item carries, e.g. `String 0x0037` or
 * `SystemTime {00062002-0000-0000-C000-000000000046} Id 0x820D`).
 */
import type { PropDef, Property } from "../item-model.js";
import { memoByObject } from "../memo.js";
import {
  MAIL_FOLDER_CLASS,
  type MailboxItemView,
  type SimFolder,
  type SimMailbox,
  type SimMessage,
  type TenantStore,
} from "../model.js";
import { numberOf, stringOf } from "../tenant/items/content.js";
import { exportSize, itemExport } from "../tenant/items/export.js";
import { messageItem } from "../tenant/items/message-content.js";
import { graphPropertyId, P, parseGraphPropertyId, propKey } from "../tenant/items/properties.js";
import { transportHeaderBlock } from "../tenant/mime.js";
import { applySelect, outlookItemJson, parseSelect } from "./representations.js";

/** `{baseUrl}/admin/exchange/mailboxes/{id}`: a mailbox's URL, as `parentMailboxUrl` gives it. */
export function mailboxUrl(baseUrl: string, mailbox: SimMailbox): string {
  return `${baseUrl}/admin/exchange/mailboxes/${mailbox.id}`;
}

export function mailboxFolderJson(
  store: TenantStore,
  baseUrl: string,
  mailbox: SimMailbox,
  folder: SimFolder,
  query: URLSearchParams,
): Record<string, unknown> {
  const entity = {
    "@odata.type": "#microsoft.graph.mailboxFolder",
    id: folder.id,
    displayName: folder.displayName,
    parentFolderId: folder.parentFolderId,
    parentMailboxUrl: mailboxUrl(baseUrl, mailbox),
    childFolderCount: store.listChildFolders(mailbox.id, folder.id).length,
    totalItemCount: store.folderStats(mailbox.id, folder.id).allItemCount,
    // Well-known names are a primary mailbox's; archives' folders have none.
    wellKnownName: mailbox.kind === "primary" ? (folder.wellKnownName ?? null) : null,
    type: folder.folderClass ?? MAIL_FOLDER_CLASS,
  };
  return applySelect(entity, parseSelect(query));
}

/** Which extended properties `$expand` asks for, by kind; `undefined` when it asks for none. */
function expandedIds(query: URLSearchParams): { single: string[]; multi: string[] } | undefined {
  const raw = query.get("$expand");
  if (!raw) return undefined;
  const out = { single: [] as string[], multi: [] as string[] };
  for (const m of raw.matchAll(/(single|multi)ValueExtendedProperties\s*\(([^)]*)\)/gi)) {
    const ids = [...(m[2] ?? "").matchAll(/id\s+eq\s+'([^']+)'/gi)].map((x) => x[1] ?? "");
    out[(m[1] ?? "").toLowerCase() === "single" ? "single" : "multi"].push(...ids);
  }
  return out.single.length + out.multi.length > 0 ? out : undefined;
}

/** An item's top-level properties (its record first), without producing lazy bytes. */
function itemProperties(view: MailboxItemView): Property[] {
  const exported = view.message
    ? messageItem(view.message, { size: view.message.size, bytes: () => Buffer.alloc(0) })
    : view.item
      ? itemExport(view.item)
      : undefined;
  if (!exported) return [];
  const { record, content } = exported;
  return [
    { def: P.messageClass, value: record.itemClass },
    { def: P.creationTime, value: record.createdDateTime },
    { def: P.lastModificationTime, value: record.lastModifiedDateTime },
    { def: P.keywords, value: record.categories },
    // The MIME of a message is its `$value`, not an extended property.
    ...content.props.filter((p) => keyOf(p.def) !== MIME_CONTENT_KEY),
    ...displayRecipients(content.recipients),
    ...(view.message && !view.message.isDraft ? [transportHeaders(view.message)] : []),
  ];
}

/** PidTagTransportMessageHeaders of a message that arrived (see properties.ts). */
function transportHeaders(message: SimMessage): Property {
  return {
    def: P.transportMessageHeaders,
    value: transportHeaderBlock({
      from: message.from,
      to: message.toRecipients,
      cc: message.ccRecipients,
      subject: message.subject,
      messageId: message.internetMessageId,
      sent: new Date(message.sentDateTime),
      received: new Date(message.receivedDateTime),
    }),
  };
}

/**
 * PidTagDisplayTo, PidTagDisplayCc and PidTagDisplayBcc, as the store computes them from the
 * recipient table: each recipient's display name (its address when it has none), joined by
 * "; "; a property only when the item has recipients of that type.
 */
function displayRecipients(recipients: Property[][]): Property[] {
  const types = [
    [1, P.displayTo],
    [2, P.displayCc],
    [3, P.displayBcc],
  ] as const;
  return types.flatMap(([type, def]) => {
    const names = recipients
      .filter((r) => numberOf(r, P.recipientType) === type)
      .map((r) => stringOf(r, P.displayName) || stringOf(r, P.smtpAddress) || "")
      .filter((name) => name !== "");
    return names.length > 0 ? [{ def, value: names.join("; ") }] : [];
  });
}

function formatValue(value: Property["value"]): string | string[] {
  if (Array.isArray(value)) return value;
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (typeof value === "object") return value.bytes().toString("base64");
  return String(value);
}

/** A property asked for by `$expand`: its definition's key, `undefined` for a malformed id. */
type ExpandedKey = { key: string; def: PropDef } | undefined;

/**
 * What a query asks of each item, parsed once per distinct `$select` and `$expand`: every page of
 * a backup asks the same, for up to 100 items each.
 */
interface ItemQuery {
  select: Set<string> | undefined;
  single: ExpandedKey[];
  multi: ExpandedKey[];
}

const itemQueries = new Map<string, ItemQuery>();
/** Distinct queries kept; past it the cache starts again (clients ask a few). */
const ITEM_QUERIES_KEPT = 64;

/** The same, by query object: a page's items share one (and first pages of one query, too). */
const itemQueryOf: (query: URLSearchParams) => ItemQuery = memoByObject(itemQueryByText);

function itemQueryByText(query: URLSearchParams): ItemQuery {
  const cacheKey = `${query.get("$select") ?? ""}\u0000${query.get("$expand") ?? ""}`;
  let parsed = itemQueries.get(cacheKey);
  if (parsed === undefined) {
    const expand = expandedIds(query);
    const keyed = (ids: string[] | undefined): ExpandedKey[] =>
      (ids ?? []).map((id) => {
        const def = parseGraphPropertyId(id);
        return def && { key: propKey(def), def };
      });
    parsed = { select: parseSelect(query), single: keyed(expand?.single), multi: keyed(expand?.multi) };
    if (itemQueries.size >= ITEM_QUERIES_KEPT) itemQueries.clear();
    itemQueries.set(cacheKey, parsed);
  }
  return parsed;
}

/** `propKey` of the shared property definitions, made once each. */
const propKeys = new WeakMap<PropDef, string>();

function keyOf(def: PropDef): string {
  let key = propKeys.get(def);
  if (key === undefined) {
    key = propKey(def);
    propKeys.set(def, key);
  }
  return key;
}

/** PidTagMimeContent: a message's MIME is its `$value`, not an extended property. */
const MIME_CONTENT_KEY = propKey(P.mimeContent);

function expandedProperties(
  byKey: ReadonlyMap<string, Property>,
  asked: ExpandedKey[],
  multi: boolean,
): Array<{ id: string; value: string | string[] }> {
  return asked.flatMap((wanted) => {
    const found = wanted && byKey.get(wanted.key);
    if (!wanted || !found || (wanted.def.type === "strings" || wanted.def.type === "times") !== multi)
      return [];
    return [{ id: graphPropertyId(found.def), value: formatValue(found.value) }];
  });
}

export function mailboxItemJson(view: MailboxItemView, query: URLSearchParams): Record<string, unknown> {
  const entity: Record<string, unknown> = {
    "@odata.type": "#microsoft.graph.mailboxItem",
    ...outlookItemJson(view),
    type: view.itemClass,
    size: exportSize(
      view.message ? { message: view.message } : { item: view.item as NonNullable<typeof view.item> },
    ),
  };
  const asked = itemQueryOf(query);
  const selected = applySelect(entity, asked.select);
  if (asked.single.length > 0 || asked.multi.length > 0) {
    const byKey = new Map(itemProperties(view).map((p) => [keyOf(p.def), p]));
    if (asked.single.length > 0)
      selected.singleValueExtendedProperties = expandedProperties(byKey, asked.single, false);
    if (asked.multi.length > 0)
      selected.multiValueExtendedProperties = expandedProperties(byKey, asked.multi, true);
  }
  return selected;
}
