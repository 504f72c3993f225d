/** How a message's catalog metadata reads in a listing. */
import { receivedAt, senderOf } from "../../catalog-index/message-fields.js";
import { formatTime } from "./output.js";

interface Address {
  emailAddress?: { name?: string; address?: string };
}

/** `Name <address>` (or whichever part is known) of one Graph recipient object. */
export function addressText(value: unknown): string {
  const a = (value as Address | undefined)?.emailAddress;
  if (!a) return "";
  if (a.name && a.address && a.name !== a.address) return `${a.name} <${a.address}>`;
  return a.address ?? a.name ?? "";
}

/** The sender as a listing shows it: the address (names vary, addresses identify); `from`, else `sender`. */
export function senderText(meta: Record<string, unknown>): string {
  const a = senderOf(meta)?.emailAddress;
  return a?.address ?? a?.name ?? "";
}

/** The message's time as a listing shows it (UTC): received, else sent; `-` when neither. */
export function formatReceived(meta: Record<string, unknown>): string {
  const t = receivedAt(meta);
  return Number.isNaN(t) ? "-" : formatTime(new Date(t).toISOString());
}
