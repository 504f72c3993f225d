/**
 * Import sessions of the mailbox import/export API. `createImportSession` (a Graph route) opens
 * one and answers an opaque, pre-authenticated `importUrl` on another host
 * (`https://outlook.office365.com/api/gv1.0/Mailboxes('MBX:…')/importItem?authtoken=…` in
 * Exchange Online); each POST to it, with no Authorization header, imports one item:
 *
 *   {"FolderId": "…", "Mode": "create", "Data": "<base64 export stream>"}
 *   {"FolderId": "…", "Mode": "update", "Data": "…", "ItemId": "…", "ChangeKey": "…"}
 *
 * and answers 200 `{"itemId", "changeKey"}`. A session serves any number of items until it
 * expires. Imports count against the mailbox's limits: a request each, and the data against the
 * upload budget (150 MB per 5 minutes).
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { SimMailbox, TenantStore } from "../model.js";
import { MESSAGE_CLASS, messageFromItem } from "../tenant/items/message-content.js";
import { decodeItem, type ExportedItem } from "../tenant/items/stream.js";
import type { FaultState } from "./faults.js";
import { graphError, jsonResponse, type SimResponse } from "./graph-types.js";
import type { LatencyOptions } from "./latency.js";
import type { MailboxLimiter } from "./limits.js";
import {
  type PreauthenticatedRequest,
  refusedCredentials,
  withinMailboxLimits,
} from "./preauth-admission.js";

/** Largest import request: a 150 MB item, base64-encoded, in its JSON envelope. */
export const MAX_IMPORT_BODY_BYTES = Math.ceil((150 * 1024 * 1024 * 4) / 3) + 1024 * 1024;
const IMPORT_PATH = /^\/api\/g(v1\.0|beta)\/Mailboxes\('([^']+)'\)\/importItem$/i;

interface ImportSession {
  token: string;
  mailbox: SimMailbox;
  /** Limits and statistics key of the mailbox. */
  limitKey: string;
  clientId: string;
  origin: string;
  apiVersion: string;
  expiresAtMs: number;
}

export class ImportSessions {
  private readonly sessions = new Map<string, ImportSession>();
  private readonly lifetimeMs: number;

  /** @param lifetimeSeconds how long an import URL is valid. Bounds ≥ 1. Default 3600. */
  constructor(lifetimeSeconds = 3600) {
    this.lifetimeMs = Math.max(1, lifetimeSeconds) * 1000;
  }

  create(
    origin: string,
    apiVersion: string,
    mailbox: SimMailbox,
    limitKey: string,
    clientId: string,
  ): { importUrl: string; expirationDateTime: string } {
    const now = Date.now();
    for (const [token, s] of this.sessions) if (s.expiresAtMs <= now) this.sessions.delete(token);
    const session: ImportSession = {
      token: randomBytes(32).toString("base64url"),
      mailbox,
      limitKey,
      clientId,
      origin,
      apiVersion,
      expiresAtMs: now + this.lifetimeMs,
    };
    this.sessions.set(session.token, session);
    return {
      importUrl: `${origin}/api/g${apiVersion}/Mailboxes('${mailbox.id}')/importItem?authtoken=${session.token}`,
      expirationDateTime: new Date(session.expiresAtMs).toISOString(),
    };
  }

  static matches(path: string): boolean {
    return IMPORT_PATH.test(decodeURIComponent(path));
  }

  get(token: string): ImportSession | undefined {
    return this.sessions.get(token);
  }

  delete(token: string): void {
    this.sessions.delete(token);
  }
}

export interface ImportRequestDeps {
  sessions: ImportSessions;
  store: TenantStore;
  limiter: MailboxLimiter;
  faults: FaultState;
  latency: LatencyOptions | undefined;
}

export type ImportRequest = PreauthenticatedRequest;

interface ImportBody {
  FolderId?: unknown;
  Mode?: unknown;
  Data?: unknown;
  ItemId?: unknown;
  ChangeKey?: unknown;
}

/** Answers a POST to an import URL. */
export async function serveImportRequest(deps: ImportRequestDeps, req: ImportRequest): Promise<SimResponse> {
  const match = IMPORT_PATH.exec(decodeURIComponent(req.path));
  const session = deps.sessions.get(req.query.get("authtoken") ?? "");
  const ofPath = session && match && session.mailbox.id.toLowerCase() === (match[2] ?? "").toLowerCase();
  const refused = refusedCredentials(req, "import", ofPath ? session : undefined);
  if (refused || !session) {
    if (session && Date.now() > session.expiresAtMs) deps.sessions.delete(session.token);
    return refused ?? graphError(req, 401, "InvalidAuthenticationToken", "No import session.");
  }
  if (req.method !== "POST")
    return graphError(req, 405, "ErrorInvalidRequest", `Expected POST, found ${req.method}.`);
  return withinMailboxLimits(deps, req, session.clientId, session.limitKey, () =>
    importItem(deps, session, req),
  );
}

function badRequest(req: ImportRequest, code: string, message: string): SimResponse {
  return graphError(req, 400, code, message);
}

async function importItem(
  deps: ImportRequestDeps,
  session: ImportSession,
  req: ImportRequest,
): Promise<SimResponse> {
  if (req.body === "too-large") {
    return graphError(
      req,
      413,
      "RequestEntityTooLarge",
      `Expected an import request of at most ${MAX_IMPORT_BODY_BYTES} bytes, found more.`,
    );
  }
  let body: ImportBody;
  try {
    body = JSON.parse(req.body.toString("utf8")) as ImportBody;
  } catch (error) {
    return badRequest(
      req,
      "ErrorInvalidRequest",
      `Expected a JSON body, found invalid JSON: ${String(error)}`,
    );
  }
  const mode = typeof body.Mode === "string" ? body.Mode.toLowerCase() : undefined;
  if (
    typeof body.FolderId !== "string" ||
    typeof body.Data !== "string" ||
    (mode !== "create" && mode !== "update")
  ) {
    return badRequest(
      req,
      "ErrorInvalidRequest",
      `Expected {"FolderId", "Mode": "create" | "update", "Data"}, found keys ${Object.keys(body ?? {}).join(", ") || "none"} with Mode ${JSON.stringify(body.Mode)}.`,
    );
  }
  const hasTarget = body.ItemId !== undefined || body.ChangeKey !== undefined;
  if (mode === "create" && hasTarget) {
    return badRequest(
      req,
      "ErrorInvalidRequest",
      "Expected no ItemId or ChangeKey in create mode, found one.",
    );
  }
  if (mode === "update" && (typeof body.ItemId !== "string" || typeof body.ChangeKey !== "string")) {
    return badRequest(
      req,
      "ErrorInvalidRequest",
      "Expected ItemId and ChangeKey in update mode, found none.",
    );
  }
  const { store } = deps;
  const mailbox = session.mailbox;
  const folder = store.getFolder(mailbox.id, body.FolderId);
  if (!folder)
    return graphError(
      req,
      404,
      "ErrorFolderNotFound",
      `The folder '${body.FolderId}' was not found in mailbox ${mailbox.id}.`,
    );
  const home = store.folderHome(mailbox.id, folder.id);
  if (home && home.id !== mailbox.id) {
    // An expanded folder of an auto-expanding archive: Exchange wants a session of the auxiliary mailbox.
    return jsonResponse(409, {
      Message: `Invalid import session. The target session is expected in mailbox ${home.id}.`,
    });
  }
  if (folder.isSearchFolder)
    return badRequest(req, "ErrorInvalidOperation", "Items cannot be imported into a search folder.");
  const data = Buffer.from(body.Data, "base64");
  const budget = deps.limiter.admitUpload(session.limitKey, data.length);
  if (!budget.ok) {
    deps.limiter.noteRetryAfter(session.clientId, session.limitKey, budget.retryAfterSeconds, 429);
    return graphError(
      req,
      429,
      "ApplicationThrottled",
      "Application is over its IncomingBytes limit for this mailbox.",
      {
        "retry-after": String(budget.retryAfterSeconds),
      },
    );
  }
  const perByteNs = deps.latency?.perMimeByteNs ?? 0;
  if (perByteNs > 0) await sleep((data.length * perByteNs) / 1e6);
  let item: ExportedItem;
  try {
    item = decodeItem(data);
  } catch (error) {
    return badRequest(
      req,
      "ErrorCorruptData",
      `Expected data an export wrote, found otherwise: ${String(error instanceof Error ? error.message : error)}`,
    );
  }
  const isMessage = item.record.itemClass === MESSAGE_CLASS;
  let written: { id: string; changeKey: string };
  try {
    if (mode === "create") {
      written = isMessage
        ? store.addMessage(mailbox.id, folder.id, messageFromItem(item))
        : store.addItem(mailbox.id, folder.id, { ...item.record, content: () => item.content });
    } else {
      const current = store.mailboxItem(mailbox.id, body.ItemId as string);
      if (!current || current.parentFolderId !== folder.id) {
        return graphError(req, 404, "ErrorItemNotFound", "The specified object was not found in the store.");
      }
      if (current.changeKey !== body.ChangeKey) {
        return graphError(
          req,
          409,
          "ErrorIrresolvableConflict",
          "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        );
      }
      if (Boolean(current.message) !== isMessage) {
        return badRequest(
          req,
          "ErrorInvalidRequest",
          `Expected data of an item of class ${current.itemClass}, found ${item.record.itemClass}.`,
        );
      }
      written = isMessage
        ? store.replaceMessage(mailbox.id, current.id, messageFromItem(item))
        : store.updateItem(mailbox.id, current.id, { ...item.record, content: () => item.content });
    }
  } catch (error) {
    if (error instanceof RangeError) return badRequest(req, "ErrorCorruptData", error.message);
    throw error;
  }
  return jsonResponse(200, {
    "@odata.context": `${session.origin}/api/g${session.apiVersion}/$metadata#microsoft.graph.importMailboxItemResponse`,
    itemId: written.id,
    changeKey: written.changeKey,
  });
}
