/**
 * `exportItems` of the mailbox import/export API: up to 20 items of one mailbox per request,
 * each answered with its export stream (opaque full-fidelity data, base64 in the answer) or an
 * error of its own. Items an auto-expanding archive moved to its auxiliary mailbox answer
 * `ErrorArchiveFolderMovedPermanently` with the URL to ask instead, which is followed here once.
 */
import type { GraphGateway } from "./client.js";
import { mailboxPath } from "./mailbox-folders.js";

/** Graph takes at most this many ids per `exportItems` request. */
export const EXPORT_BATCH_LIMIT = 20;

export type ExportAnswer =
  | { itemId: string; changeKey?: string; data: Buffer }
  | { itemId: string; error: { code: string; message: string } };

interface RawAnswer {
  itemId?: string;
  changeKey?: string;
  data?: string;
  error?: { code?: string; message?: string };
  /** One documentation example spells the per-item error this way. */
  Error?: { code?: string; message?: string };
}

const MOVED = "ErrorArchiveFolderMovedPermanently";
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface ExportOptions {
  /** The key the request counts against in the gateway's per-mailbox limits (mailbox-folders.ts). */
  trafficKey: string;
}

/**
 * Exports 1–20 items of a mailbox; one answer per id, in the order of the ids. An answer the
 * service left out or malformed is a per-item error (`ErrorMissingAnswer`, `ErrorMalformedData`).
 */
export async function exportItems(
  gateway: GraphGateway,
  mailboxId: string,
  itemIds: readonly string[],
  options: ExportOptions,
): Promise<ExportAnswer[]> {
  if (itemIds.length < 1 || itemIds.length > EXPORT_BATCH_LIMIT) {
    throw new RangeError(`exportItems: expected 1–${EXPORT_BATCH_LIMIT} item ids, found ${itemIds.length}`);
  }
  const answers = await exportFrom(gateway, `${mailboxPath(mailboxId)}/exportItems`, itemIds, options);
  // Items in the auxiliary archive: ask the URL each error names, grouped by URL.
  const moved = new Map<string, number[]>();
  answers.forEach((a, i) => {
    if ("error" in a && a.error.code === MOVED && /^https:\/\//.test(a.error.message)) {
      const list = moved.get(a.error.message) ?? [];
      list.push(i);
      moved.set(a.error.message, list);
    }
  });
  for (const [url, indexes] of moved) {
    const again = await exportFrom(
      gateway,
      url,
      indexes.map((i) => itemIds[i] as string),
      options,
    );
    indexes.forEach((at, k) => {
      answers[at] = again[k] as ExportAnswer;
    });
  }
  return answers;
}

async function exportFrom(
  gateway: GraphGateway,
  url: string,
  itemIds: readonly string[],
  options: ExportOptions,
): Promise<ExportAnswer[]> {
  const body = await gateway.post<{ value?: RawAnswer[] }>(
    url,
    { itemIds },
    { mailboxId: options.trafficKey },
  );
  const byId = new Map<string, RawAnswer>();
  for (const raw of body.value ?? []) if (typeof raw.itemId === "string") byId.set(raw.itemId, raw);
  return itemIds.map((itemId, i) => {
    // Answers are in the order of the ids; by id when the service reordered them.
    const raw = body.value?.[i]?.itemId === itemId ? body.value[i] : byId.get(itemId);
    if (!raw) {
      return {
        itemId,
        error: { code: "ErrorMissingAnswer", message: "exportItems answered no entry for the id" },
      };
    }
    const error = raw.error ?? raw.Error;
    if (error) return { itemId, error: { code: error.code ?? "Error", message: error.message ?? "" } };
    if (typeof raw.data !== "string" || !BASE64.test(raw.data)) {
      return {
        itemId,
        error: {
          code: "ErrorMalformedData",
          message: "exportItems: expected base64 data, found none or other text",
        },
      };
    }
    return {
      itemId,
      ...(typeof raw.changeKey === "string" ? { changeKey: raw.changeKey } : {}),
      data: Buffer.from(raw.data, "base64"),
    };
  });
}
