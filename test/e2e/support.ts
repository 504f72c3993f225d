/**
 * Helpers for end-to-end checks against the simulator's ground truth: what a mailbox holds,
 * message by message (folder, content hash, the properties a backup keeps), as the ground truth
 * says and as the archive replays it, with the archived hash recomputed from the blob's bytes.
 */
import { createHash } from "node:crypto";
import { type BlobRef, readBlob } from "../../lib/archive/blobs.js";
import { mailboxViewAt } from "../../lib/archive/replay.js";
import type { ObjectStore } from "../../lib/archive/store.js";
import type { GroundTruth } from "../../lib/dev/sim/model.js";

/** One message as both sides describe it; `sha256` is the hash of the bytes. */
export interface MessageRecord {
  folderId: string;
  sha256: string;
  isRead: boolean;
  flagStatus: string;
  categories: string[];
  importance: string;
}

/** mailbox id → message id → record. */
export type TenantRecords = Record<string, Record<string, MessageRecord>>;

export function truthRecords(truth: GroundTruth): TenantRecords {
  const out: TenantRecords = {};
  for (const mailbox of truth.mailboxes) {
    const messages: Record<string, MessageRecord> = {};
    for (const folder of mailbox.folders) {
      if (folder.isSearchFolder) continue;
      for (const m of folder.messages) {
        messages[m.id] = {
          folderId: folder.id,
          sha256: m.sha256,
          isRead: m.isRead,
          flagStatus: m.flag.flagStatus,
          categories: [...m.categories].sort(),
          importance: m.importance,
        };
      }
    }
    out[mailbox.userId] = messages;
  }
  return out;
}

/** The SHA-256 of a blob's bytes as read back from the archive (not the address it is stored at). */
export async function hashOfBlob(store: ObjectStore, blob: BlobRef): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of await readBlob(store, blob)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * The archive's records for the given mailboxes at a job (`"latest"` or a job id), replayed
 * strictly; each blob is read back and hashed once.
 */
export async function archivedRecords(
  store: ObjectStore,
  mailboxIds: string[],
  at: string,
): Promise<TenantRecords> {
  const hashes = new Map<string, Promise<string>>();
  const out: TenantRecords = {};
  for (const mailboxId of mailboxIds) {
    const view = await mailboxViewAt(store, mailboxId, at, { strict: true });
    const messages: Record<string, MessageRecord> = {};
    for (const folder of view.folders) {
      for (const m of folder.messages) {
        let read = hashes.get(m.sha256);
        if (!read) {
          read = hashOfBlob(store, m);
          hashes.set(m.sha256, read);
        }
        const meta = m.meta as {
          isRead?: boolean;
          flag?: { flagStatus?: string };
          categories?: string[];
          importance?: string;
        };
        messages[m.messageId] = {
          folderId: m.folderId,
          sha256: await read,
          isRead: meta.isRead ?? false,
          flagStatus: meta.flag?.flagStatus ?? "(none)",
          categories: [...(meta.categories ?? [])].sort(),
          importance: meta.importance ?? "(none)",
        };
      }
    }
    out[mailboxId] = messages;
  }
  return out;
}

/** Messages of `now` that are new, moved or changed since `before` (by id, per mailbox). */
export function changedSince(
  before: TenantRecords,
  now: TenantRecords,
): Array<{ mailboxId: string; id: string; isNew: boolean }> {
  const out: Array<{ mailboxId: string; id: string; isNew: boolean }> = [];
  for (const [mailboxId, messages] of Object.entries(now)) {
    for (const [id, record] of Object.entries(messages)) {
      const old = before[mailboxId]?.[id];
      if (!old || JSON.stringify(old) !== JSON.stringify(record)) out.push({ mailboxId, id, isNew: !old });
    }
  }
  return out;
}
