/**
 * Mailbox items of the import/export API (`…/folders/{id}/items…`): list, get, delete, and item
 * delta (paging, deltaLink, `@removed`, 410 on a lost sync state). Messages and non-mail items
 * alike; a message's item is the message the message endpoints serve.
 */
import type { ChangePage, MailboxItemView, SimFolder } from "../../../model.js";
import { jsonResponse, MailErrors, type SimResponse } from "../../graph-types.js";
import { mailboxItemJson, mailboxUrl } from "../../mailbox-representations.js";
import { limitKeyOf, type RouteHandler, type RouteInput } from "../context.js";
import {
  deltaFolderMissing,
  deltaPage,
  preferredPageSize,
  queryOfOptions,
  roundOptions,
  syncStateGone,
  tokenOf,
} from "../delta-links.js";
import { itemFilter, itemOrder, pageOf, pagingOf } from "./query.js";

/** Query options of an item delta round, carried in its links. */
const CARRIED_OPTIONS = ["$select", "$expand", "$filter", "$orderby", "$top"] as const;

function folderOf({ ctx, params, mailbox }: RouteInput): SimFolder | undefined {
  return ctx.store.getFolder(mailbox.id, params[0] ?? "");
}

/** `GET …/folders/{id}/items`: paged by `$top` (default 10) and `$skip`, with `$filter`, `$orderby`, `$select`, `$expand`. */
export const listMailboxItems: RouteHandler = (input) => {
  const { ctx, req, mailbox } = input;
  const folder = folderOf(input);
  if (!folder) return MailErrors.itemNotFound(req);
  const paging = pagingOf(req);
  if ("status" in paging) return paging;
  const filter = itemFilter(req, req.query.get("$filter") ?? undefined, false);
  if ("status" in filter) return filter;
  const order = itemOrder(req, req.query.get("$orderby") ?? undefined, false);
  if (order && "status" in order) return order;
  const items = ctx.store.listMailboxItems(mailbox.id, folder.id).filter(filter);
  if (order) items.sort(order);
  return jsonResponse(
    200,
    pageOf(
      req,
      items,
      paging,
      `${ctx.baseUrl}/$metadata#admin/exchange/mailboxes/${mailbox.id}/folders('${folder.id}')/items`,
      `${mailboxUrl(ctx.baseUrl, mailbox)}/folders/${folder.id}/items`,
      (v) => mailboxItemJson(v, req.query),
    ),
  );
};

function itemOf(input: RouteInput): { folder: SimFolder; view: MailboxItemView } | SimResponse {
  const folder = folderOf(input);
  const view = folder && input.ctx.store.mailboxItem(input.mailbox.id, input.params[1] ?? "");
  if (!folder || !view || view.parentFolderId !== folder.id) return MailErrors.itemNotFound(input.req);
  return { folder, view };
}

/** `GET …/folders/{id}/items/{id}`. */
export const getMailboxItem: RouteHandler = (input) => {
  const found = itemOf(input);
  if ("status" in found) return found;
  const { ctx, req, mailbox } = input;
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#admin/exchange/mailboxes/${mailbox.id}/folders('${found.folder.id}')/items/$entity`,
    ...mailboxItemJson(found.view, req.query),
  });
};

/** `DELETE …/folders/{id}/items/{id}`. */
export const deleteMailboxItem: RouteHandler = (input) => {
  const found = itemOf(input);
  if ("status" in found) return found;
  if (found.view.message) input.ctx.store.deleteMessage(input.mailbox.id, found.view.id);
  else input.ctx.store.deleteItem(input.mailbox.id, found.view.id);
  return { status: 204, headers: {} };
};

function withoutLeft(options: Readonly<Record<string, string>>): Record<string, string> {
  const { _left: _carriedLeft, ...rest } = options;
  return rest;
}

/** What the malformed-delta-item fault adds to a page: an item with no id to export it by. */
const MALFORMED_ITEM: Record<string, unknown> = {
  "@odata.type": "#microsoft.graph.mailboxItem",
  type: "IPM.Note",
};

/**
 * `GET …/folders/{id}/items/delta`. `$top` caps the whole round, as Exchange does (the round
 * ends with its deltaLink once that many changes were delivered), it does not size pages:
 * `Prefer: odata.maxpagesize` does.
 */
export const mailboxItemsDelta: RouteHandler = (input) => {
  const { ctx, req, mailbox } = input;
  const folder = folderOf(input);
  const token = tokenOf(req);
  if (token && "status" in token) return token;
  if (!folder) return deltaFolderMissing(req, token !== null);
  if (
    token &&
    (token.cursor.mailboxId.toLowerCase() !== mailbox.id.toLowerCase() || token.cursor.folderId !== folder.id)
  ) {
    return MailErrors.badRequest(
      req,
      `The delta token belongs to folder ${token.cursor.folderId} of mailbox ${token.cursor.mailboxId}, not to folder ${folder.id} of mailbox ${mailbox.id}.`,
    );
  }
  const options = roundOptions(req, token, CARRIED_OPTIONS);
  const filter = itemFilter(req, options.$filter, true);
  if ("status" in filter) return filter;
  const order = itemOrder(req, options.$orderby, true);
  if (order && "status" in order) return order;
  const cap = options.$top === undefined ? undefined : Number(options.$top);
  if (cap !== undefined && !(Number.isInteger(cap) && cap >= 1)) {
    return MailErrors.badRequest(req, `Expected $top a whole number ≥ 1, found ${options.$top}.`);
  }
  // What is left of the round's cap (carried as "_left" in the links), if any.
  const left = cap === undefined ? undefined : Number(options._left ?? cap);
  // The options without the carried cap (the same object when there is none: see queryOfOptions).
  const roundOpts = options._left === undefined ? options : withoutLeft(options);
  const deltaPath = `${mailboxUrl(ctx.baseUrl, mailbox)}/folders/${folder.id}/items/delta`;
  const gone = () => syncStateGone(req, deltaPath, roundOpts, token?.cursor.generation ?? 0);
  const key = limitKeyOf(mailbox);
  if (token && ctx.takeForcedGone(key, folder.id)) return gone();
  const pageSize = Math.min(preferredPageSize(req), left ?? Number.POSITIVE_INFINITY);
  const result = ctx.store.itemDelta(mailbox.id, folder.id, token?.cursor ?? null, pageSize);
  if (!result.ok) {
    return result.reason === "SyncStateNotFound" ? gone() : deltaFolderMissing(req, true);
  }
  const page: ChangePage<MailboxItemView> = result.page;
  const query = queryOfOptions(roundOpts);
  const upserts = page.entries.flatMap((e) => (e.type === "upsert" && filter(e.value) ? [e.value] : []));
  if (order) upserts.sort(order);
  const value: Array<Record<string, unknown>> = [
    ...upserts.map((v) => mailboxItemJson(v, query)),
    ...page.entries.flatMap((e) =>
      e.type === "removed"
        ? [{ "@odata.type": "#microsoft.graph.mailboxItem", id: e.id, "@removed": { reason: "deleted" } }]
        : [],
    ),
  ];
  if (ctx.takeMalformedDeltaItem(key, folder.id)) value.push(MALFORMED_ITEM);
  // The cap: spent before the round's end, the round ends here (its other changes are not delivered).
  const leftAfter = left === undefined ? undefined : left - page.entries.length;
  const spent = leftAfter !== undefined && leftAfter <= 0 && !page.done;
  const { after: _after, ...round } = page.cursor;
  return deltaPage(
    `${ctx.baseUrl}/$metadata#Collection(mailboxItem)`,
    deltaPath,
    value,
    {
      cursor: spent ? { ...round, base: round.snapshot } : page.cursor,
      done: page.done || spent,
      options:
        leftAfter === undefined || page.done || spent
          ? roundOpts
          : { ...roundOpts, _left: String(leftAfter) },
    },
    pageSize,
  );
};
