/**
 * A message's sender and time as listings, search and exports show them. The catalog keeps the
 * properties Graph delivered; some delta items lack `from` (drafts, some system messages) or
 * `receivedDateTime`. Then: the sender falls back to `sender`, the time to `sentDateTime`, and
 * what is still missing to the stored MIME's own `From:` and `Date:` headers (read only for those
 * messages, only their header block), so that no row shows empty columns and `search --from`
 * finds them.
 */
import type { Readable } from "node:stream";
import { readBlob } from "../archive/blobs.js";
import type { ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";

interface EmailAddress {
  name?: string;
  address?: string;
}
type Recipient = { emailAddress?: EmailAddress };

/** The header block is read up to this many bytes at most (it ends at the first empty line). */
const HEADER_LIMIT = 64 * 1024;

function hasAddress(value: unknown): value is Recipient {
  const a = (value as Recipient | undefined)?.emailAddress;
  return Boolean(a && (a.address || a.name));
}

/** The sender as Graph gave it: `from`, else `sender`. */
export function senderOf(meta: Record<string, unknown>): Recipient | undefined {
  if (hasAddress(meta.from)) return meta.from;
  if (hasAddress(meta.sender)) return meta.sender;
  return undefined;
}

/** The message's time (ms): `receivedDateTime`, else `sentDateTime`; NaN when neither. */
export function receivedAt(meta: Record<string, unknown>): number {
  for (const value of [meta.receivedDateTime, meta.sentDateTime]) {
    if (typeof value === "string") {
      const t = Date.parse(value);
      if (!Number.isNaN(t)) return t;
    }
  }
  return Number.NaN;
}

/** Whether showing the message needs its MIME headers (no sender, or no time, in its properties). */
export function lacksFields(meta: Record<string, unknown>): boolean {
  return senderOf(meta) === undefined || Number.isNaN(receivedAt(meta));
}

/** The header block of a MIME message (up to the first empty line, at most 64 KiB). */
async function headerBlock(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.search(/\r?\n\r?\n/);
      if (end >= 0) return text.slice(0, end);
      if (size >= HEADER_LIMIT) return text;
    }
    return Buffer.concat(chunks).toString("latin1");
  } finally {
    stream.destroy();
  }
}

/** One header's value (folded lines unfolded), or undefined. */
function header(block: string, name: string): string | undefined {
  const unfolded = block.replace(/\r?\n[ \t]+/g, " ");
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(unfolded);
  return m?.[1]?.trim() || undefined;
}

/** `Name <a@b>` or `a@b` as a Graph recipient. */
export function parseAddressHeader(value: string): Recipient | undefined {
  const angle = /^(.*?)<([^<>\s]+@[^<>\s]+)>/.exec(value);
  if (angle) {
    const name = angle[1]!.trim().replace(/^"(.*)"$/, "$1");
    return { emailAddress: { address: angle[2]!, ...(name ? { name } : {}) } };
  }
  const bare = /([^\s<>,;"]+@[^\s<>,;"]+)/.exec(value);
  return bare ? { emailAddress: { address: bare[1]! } } : undefined;
}

/**
 * The message's properties with the sender and time filled in from `sender` and, when still
 * missing, from its MIME headers. The same object when nothing was missing.
 */
export async function completeMeta(
  store: ObjectStore,
  message: ViewMessage,
): Promise<Record<string, unknown>> {
  const meta = message.meta;
  if (!lacksFields(meta)) return meta;
  const out: Record<string, unknown> = { ...meta };
  const sender = senderOf(meta);
  if (sender) out.from = sender;
  if (!lacksFields(out)) return out;
  let block: string;
  try {
    block = await headerBlock(await readBlob(store, message));
  } catch {
    // A missing blob is reported where it is read in full (get, export, verify); here it only
    // means there is nothing more to show.
    return out;
  }
  if (!sender) {
    const from = header(block, "From");
    const parsed = from ? parseAddressHeader(from) : undefined;
    if (parsed) out.from = parsed;
  }
  if (Number.isNaN(receivedAt(out))) {
    const date = header(block, "Date");
    const t = date ? Date.parse(date) : Number.NaN;
    if (!Number.isNaN(t)) out.receivedDateTime = new Date(t).toISOString();
  }
  return out;
}

/** The messages with their sender and time completed (see {@link completeMeta}); others unchanged. */
export async function completeMessages(
  store: ObjectStore,
  messages: readonly ViewMessage[],
): Promise<ViewMessage[]> {
  return Promise.all(
    messages.map(async (m) => (lacksFields(m.meta) ? { ...m, meta: await completeMeta(store, m) } : m)),
  );
}
