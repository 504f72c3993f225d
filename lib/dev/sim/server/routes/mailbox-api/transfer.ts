/**
 * Moving items in and out of a mailbox: `POST …/exportItems` (up to 20 items of the mailbox per
 * request, each as a base64 export stream or a per-item error) and `POST …/createImportSession`.
 * Also `GET /users/{id}/settings/exchange`: the ids of the user's mailboxes.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { exportedBase64, exportStreamKept } from "../../../tenant/items/export.js";
import { type ExportEntry, exportAnswerJson } from "../../export-answer.js";
import {
  GRAPH_JSON,
  graphError,
  jsonResponse,
  MailErrors,
  type SimRequest,
  type SimResponse,
} from "../../graph-types.js";
import { mailboxUrl } from "../../mailbox-representations.js";
import { limitKeyOf, type RouteHandler } from "../context.js";

/** Most item ids one exportItems request takes. */
export const MAX_EXPORT_ITEMS = 20;
/** What real ids look like (base64 or base64url); anything else is malformed. */
const ITEM_ID = /^[A-Za-z0-9+/=_-]{8,}$/;

function refuse(req: SimRequest, roles: string[]): SimResponse | undefined {
  if (roles.some((r) => req.roles.has(r))) return undefined;
  return graphError(
    req,
    403,
    "ErrorAccessDenied",
    `Access is denied. Check credentials and try again: expected the application permission ${roles.join(" or ")}.`,
  );
}

/**
 * `GET /users/{id}/settings/exchange`: `primaryMailboxId`, and `inPlaceArchiveMailboxId` for a
 * user with an in-place archive (beta documents it on exchangeSettings; the simulator serves it
 * on v1.0 too).
 */
export const getExchangeSettings: RouteHandler = ({ ctx, user }) => {
  const archive = ctx.store.archiveMailbox(user.id);
  return jsonResponse(200, {
    "@odata.context": `${ctx.baseUrl}/$metadata#users('${user.id}')/settings/exchange/$entity`,
    primaryMailboxId: ctx.store.primaryMailbox(user.id)?.id,
    ...(archive ? { inPlaceArchiveMailboxId: archive.id } : {}),
  });
};

/**
 * `POST …/exportItems` with `{"itemIds": […]}`: 1 to 20 ids, all of this mailbox (400
 * otherwise). Answers one entry per id, in order: `{itemId, changeKey, data}` or `{itemId,
 * error: {code, message}}` — `ErrorItemNotFound`, `ErrorInvalidIdMalformed`, or, for an item of
 * an auto-expanded archive that lives in its auxiliary mailbox,
 * `ErrorArchiveFolderMovedPermanently` whose message is the URL to export it from.
 */
export const exportItems: RouteHandler = async ({ ctx, req, mailbox }) => {
  const denied = refuse(req, ["MailboxItem.Export.All", "MailboxItem.ImportExport.All"]);
  if (denied) return denied;
  const ids = (req.body as { itemIds?: unknown } | undefined)?.itemIds;
  if (
    !Array.isArray(ids) ||
    ids.length < 1 ||
    ids.length > MAX_EXPORT_ITEMS ||
    ids.some((id) => typeof id !== "string")
  ) {
    return MailErrors.badRequest(
      req,
      `Expected {"itemIds": [1 to ${MAX_EXPORT_ITEMS} item ids]}, found ${Array.isArray(ids) ? `${ids.length} entries` : JSON.stringify(req.body)?.slice(0, 80)}.`,
    );
  }
  const value: ExportEntry[] = [];
  let bytes = 0;
  for (const itemId of ids as string[]) {
    const view = ctx.store.mailboxItem(mailbox.id, itemId);
    // One item built at a time between turns of the event loop: a burst of exports arriving
    // together then does not hold back the answers whose latency ends meanwhile (their timers).
    // A kept stream (items/export.ts) costs nothing to take.
    if (
      value.length > 0 &&
      view &&
      !exportStreamKept(view.message ?? (view.item as NonNullable<typeof view.item>))
    )
      await nextTurn();
    if (view) {
      const { size, base64 } = await exportedBase64(
        view.message ? { message: view.message } : { item: view.item as NonNullable<typeof view.item> },
      );
      bytes += size;
      value.push({ itemId, changeKey: view.changeKey, base64 });
      continue;
    }
    const elsewhere = ITEM_ID.test(itemId) ? ctx.store.mailboxOfItem(itemId) : undefined;
    if (
      elsewhere &&
      elsewhere.kind === "auxArchive" &&
      mailbox.kind === "archive" &&
      elsewhere.userId === mailbox.userId
    ) {
      value.push({
        itemId,
        error: {
          code: "ErrorArchiveFolderMovedPermanently",
          message: `${mailboxUrl(ctx.baseUrl, elsewhere)}/exportItems`,
        },
      });
    } else if (elsewhere) {
      return MailErrors.badRequest(
        req,
        `Expected item ids of mailbox ${mailbox.id} only, found '${itemId}' of another mailbox.`,
      );
    } else {
      value.push({
        itemId,
        error: ITEM_ID.test(itemId)
          ? { code: "ErrorItemNotFound", message: "The specified object was not found in the store." }
          : { code: "ErrorInvalidIdMalformed", message: "Id is malformed." },
      });
    }
  }
  ctx.noteExportBytes(limitKeyOf(mailbox), bytes);
  // The answer's transfer time, as for streamed MIME.
  if (ctx.perMimeByteNs > 0) await sleep((bytes * ctx.perMimeByteNs) / 1e6);
  return {
    status: 200,
    headers: { "content-type": GRAPH_JSON },
    jsonBytes: exportAnswerJson(
      `${ctx.baseUrl}/$metadata#Collection(microsoft.graph.exportItemResponse)`,
      value,
    ),
  };
};

/** `POST …/createImportSession`: 201 with `{importUrl, expirationDateTime}`. */
export const createImportSession: RouteHandler = ({ ctx, req, mailbox }) => {
  const denied = refuse(req, ["MailboxItem.ImportExport.All"]);
  if (denied) return denied;
  const session = ctx.imports.create(
    ctx.origins.preauthenticated("import", ctx.origin),
    ctx.apiVersion,
    mailbox,
    limitKeyOf(mailbox),
    req.clientId,
  );
  return jsonResponse(201, {
    "@odata.context": `${ctx.baseUrl}/$metadata#microsoft.graph.mailboxItemImportSession`,
    ...session,
  });
};
