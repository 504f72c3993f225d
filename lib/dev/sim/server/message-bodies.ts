/**
 * Message bodies (`body`, `uniqueBody`), read from the MIME when an answer carries them: by
 * default (`body`) and when `$select` names them. Only then is the MIME parsed.
 */
import { simpleParser } from "mailparser";
import type { SimMessage, TenantStore } from "../model.js";
import { bodiesWanted, type ItemBody, messageJson } from "./representations.js";

/** `Prefer: outlook.body-content-type="text"` asks for text bodies even of HTML messages. */
const PREFER_TEXT = /outlook\.body-content-type\s*=\s*"?text"?/i;

async function readMessageBody(
  store: TenantStore,
  message: SimMessage,
  preferText: boolean,
): Promise<ItemBody> {
  const parsed = await simpleParser(store.openMime(message));
  if (typeof parsed.html === "string" && !preferText) return { contentType: "html", content: parsed.html };
  return { contentType: "text", content: parsed.text ?? "" };
}

/** A message's JSON for `query`, with the bodies it asks for (the simulator has no conversation view: uniqueBody = body). */
export async function messageJsonWithBodies(
  store: TenantStore,
  message: SimMessage,
  query: URLSearchParams,
  prefer: string | undefined,
): Promise<Record<string, unknown>> {
  const wanted = bodiesWanted(query);
  if (!wanted.body && !wanted.uniqueBody) return messageJson(message, query);
  const body = await readMessageBody(store, message, PREFER_TEXT.test(prefer ?? ""));
  return messageJson(message, query, {
    ...(wanted.body ? { body } : {}),
    ...(wanted.uniqueBody ? { uniqueBody: body } : {}),
  });
}
