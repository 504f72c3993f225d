/**
 * Puts archived messages back into a mailbox through Graph: folders found or created by path
 * (under a new top folder, default `Restored <date>`, or in the original places), messages created
 * from JSON as received mail. Idempotent: a message whose internetMessageId the target folder
 * already holds is skipped, so running the same restore twice adds nothing the second time.
 * Throttling is the gateway's business (Retry-After, per-mailbox concurrency).
 *
 * Large messages: a message whose attachments do not fit one 4 MB request is created (as received
 * mail: the non-draft flag and the dates only take effect at creation) with the attachments that
 * fit, and the others are added afterwards (upload sessions for 3 MB and more). Until the last
 * one is added, the message exists without all its attachments. So that such a half-made message
 * never passes for restored:
 * - when adding an attachment fails, the restore deletes the message (`permanentDelete`) before
 *   it reports the error, so a later run creates it again;
 * - when the process dies before it could delete it, the next run finds it by internetMessageId,
 *   looks for the attachments that were to be added afterwards (by name), and deletes and
 *   re-creates it when one is missing. Only messages that needed attachments afterwards are
 *   checked this way (reading their archived MIME again).
 */
import { type BlobRef, readBlob } from "../archive/blobs.js";
import type { ViewMessage } from "../archive/replay.js";
import type { ObjectStore } from "../archive/store.js";
import type { SelectedFolder, Selection } from "../export/selection.js";
import type { GraphGateway } from "../graph/client.js";
import { ItemNotFoundError } from "../graph/errors.js";
import { UPLOAD_SESSION_MIN_BYTES, uploadLargeAttachment } from "../graph/upload-session.js";
import {
  addFileAttachment,
  createFolder,
  createMessage,
  listAttachmentSummaries,
  permanentlyDeleteMessage,
} from "../graph/write.js";
import { ALWAYS_INLINE_MIME_BYTES, planRestoreMessage, type RestoreMessagePlan } from "./message-json.js";

export interface RestoreOptions {
  /** Target mailbox (address or id) of the configured tenant. */
  targetUser: string;
  /**
   * Top folder to restore under (created when missing), e.g. `Restored 2026-11-29`;
   * `null`: into the original folder paths.
   */
  intoFolder: string | null;
  /** Only plan: list what would be created, create nothing. Default false. */
  dryRun?: boolean;
  /** Messages restored at once (Graph POSTs in flight); the gateway still caps per mailbox. 1–16, default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Bytes per upload-session PUT for attachments of 3 MB and more: a multiple of 320 KiB from
   * 327 680 to 3 932 160. Default 3 276 800 (see `uploadLargeAttachment`).
   */
  uploadFragmentBytes?: number;
}

export interface RestorePlanItem {
  messageId: string;
  /** Target folder path in the target mailbox. */
  targetPath: string;
  action: "create" | "skip-existing";
  /**
   * Copies in the target that lack attachments (an earlier run stopped while adding them): they
   * are deleted and the message is created again.
   */
  replacesIncomplete?: number;
}

export interface RestoreResult {
  created: number;
  skipped: number;
  foldersCreated: string[];
  items: RestorePlanItem[];
  /** Attachments added after their message was created (upload sessions and POSTs). */
  attachmentsAddedLater: number;
}

interface GraphFolder {
  id: string;
  displayName: string;
}

/** Target folders by path: found by display name (case-insensitive) or created. */
class FolderResolver {
  private readonly byPath = new Map<string, string | undefined>();
  readonly created: string[] = [];

  constructor(
    private readonly gateway: GraphGateway,
    private readonly user: string,
    private readonly dryRun: boolean,
  ) {}

  private async children(parentId: string | null): Promise<GraphFolder[]> {
    const u = encodeURIComponent(this.user);
    const path =
      parentId === null
        ? `/users/${u}/mailFolders?$top=100&includeHiddenFolders=true`
        : `/users/${u}/mailFolders/${encodeURIComponent(parentId)}/childFolders?$top=100`;
    const out: GraphFolder[] = [];
    for await (const page of this.gateway.pages<GraphFolder>(path)) out.push(...page);
    return out;
  }

  /** The folder id at `path`; undefined in a dry run when it does not exist yet. */
  async resolve(path: string): Promise<string | undefined> {
    if (this.byPath.has(path)) return this.byPath.get(path);
    const segments = path.split("/");
    const name = segments.pop()!;
    const parentPath = segments.join("/");
    const parentId = parentPath === "" ? null : await this.resolve(parentPath);
    let id: string | undefined;
    if (parentId !== undefined) {
      const found = (await this.children(parentId)).find(
        (f) => f.displayName.toLowerCase() === name.toLowerCase(),
      );
      id = found?.id;
    }
    if (id === undefined) {
      this.created.push(path);
      if (!this.dryRun && (parentId !== undefined || parentPath === "")) {
        id = (await createFolder(this.gateway, this.user, parentId ?? null, name)).id;
      }
    }
    this.byPath.set(path, id);
    return id;
  }
}

/** The target folder's messages by internetMessageId: the ids of the copies it holds. */
async function existingMessageIds(
  gateway: GraphGateway,
  user: string,
  folderId: string,
): Promise<Map<string, string[]>> {
  const ids = new Map<string, string[]>();
  const path = `/users/${encodeURIComponent(user)}/mailFolders/${encodeURIComponent(folderId)}/messages?$select=internetMessageId&$top=100`;
  for await (const page of gateway.pages<{ id: string; internetMessageId?: string }>(path)) {
    for (const m of page)
      if (m.internetMessageId) ids.set(m.internetMessageId, [...(ids.get(m.internetMessageId) ?? []), m.id]);
  }
  return ids;
}

async function deleteIgnoringGone(gateway: GraphGateway, user: string, messageId: string): Promise<void> {
  try {
    await permanentlyDeleteMessage(gateway, user, messageId);
  } catch (error) {
    if (!(error instanceof ItemNotFoundError)) throw error;
  }
}

/**
 * Creates the message and adds the attachments that did not fit its JSON. If adding one fails,
 * the message is deleted again (see the module comment) and the error passes on.
 */
async function createWithAttachments(
  gateway: GraphGateway,
  user: string,
  folderId: string,
  plan: RestoreMessagePlan,
  fragmentBytes: number | undefined,
): Promise<void> {
  const created = await createMessage(gateway, user, folderId, plan.message);
  try {
    for (const attachment of plan.later) {
      if (attachment.content.length >= UPLOAD_SESSION_MIN_BYTES) {
        await uploadLargeAttachment(gateway, user, created.id, attachment, {
          ...(fragmentBytes !== undefined ? { fragmentBytes } : {}),
        });
      } else {
        await addFileAttachment(gateway, user, created.id, attachment);
      }
    }
  } catch (error) {
    await deleteIgnoringGone(gateway, user, created.id).catch(() => undefined);
    throw error;
  }
}

/**
 * What to do with a message whose internetMessageId the target already holds: skip it, unless it
 * needed attachments after creation and no copy holds them all (a run stopped midway). The check
 * is by attachment name (Exchange reports its own sizes, and may count inline parts its own way):
 * a copy is complete when every attachment added after creation is there.
 */
async function checkExisting(
  gateway: GraphGateway,
  user: string,
  message: ViewMessage,
  copies: string[],
  plan: () => Promise<RestoreMessagePlan>,
): Promise<{ complete: true } | { complete: false; incomplete: string[] }> {
  if (message.size <= ALWAYS_INLINE_MIME_BYTES) return { complete: true };
  const { later } = await plan();
  if (later.length === 0) return { complete: true };
  for (const id of copies) {
    const present = (await listAttachmentSummaries(gateway, user, id)).map((a) => a.name ?? "");
    // Each attachment added afterwards must be there, a name listed twice counting twice.
    const missing = later.filter((a) => {
      const at = present.indexOf(a.name);
      if (at >= 0) present.splice(at, 1);
      return at < 0;
    });
    if (missing.length === 0) return { complete: true };
  }
  return { complete: false, incomplete: copies };
}

async function readAll(store: ObjectStore, blob: BlobRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await readBlob(store, blob, { verify: true })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function targetPath(folder: SelectedFolder, intoFolder: string | null): string {
  return intoFolder === null ? folder.path : `${intoFolder}/${folder.path}`;
}

export async function restoreSelection(
  store: ObjectStore,
  gateway: GraphGateway,
  selection: Selection,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const dryRun = options.dryRun ?? false;
  const folders = new FolderResolver(gateway, options.targetUser, dryRun);
  const items: RestorePlanItem[] = [];
  let done = 0;
  let attachmentsAddedLater = 0;
  // Empty folders (search folders, empty system folders) are not worth creating in the target.
  for (const folder of selection.folders.filter((f) => f.messages.length > 0)) {
    const path = targetPath(folder, options.intoFolder);
    const folderId = await folders.resolve(path);
    const existing = folderId
      ? await existingMessageIds(gateway, options.targetUser, folderId)
      : new Map<string, string[]>();
    const queue = [...folder.messages];
    // After a failure no worker takes another message; the ones in flight finish first, so that
    // nothing is still being written when the error reaches the caller.
    let failed = false;
    const worker = async () => {
      for (let m = failed ? undefined : queue.shift(); m; m = failed ? undefined : queue.shift()) {
        const message = m;
        const imid = typeof m.meta.internetMessageId === "string" ? m.meta.internetMessageId : undefined;
        const copies = imid !== undefined ? (existing.get(imid) ?? []) : [];
        // Read and parse the archived message at most once, and only when needed.
        let planned: Promise<RestoreMessagePlan> | undefined;
        const plan = () => {
          planned ??= readAll(store, message).then((mime) => planRestoreMessage(mime, message.meta));
          return planned;
        };
        const check =
          copies.length > 0
            ? await checkExisting(gateway, options.targetUser, m, copies, plan)
            : { complete: false as const, incomplete: [] };
        const skip = check.complete;
        const incomplete = check.complete ? [] : check.incomplete;
        items.push({
          messageId: m.messageId,
          targetPath: path,
          action: skip ? "skip-existing" : "create",
          ...(incomplete.length > 0 ? { replacesIncomplete: incomplete.length } : {}),
        });
        if (!skip && !dryRun && folderId) {
          for (const id of incomplete) await deleteIgnoringGone(gateway, options.targetUser, id);
          const p = await plan();
          await createWithAttachments(gateway, options.targetUser, folderId, p, options.uploadFragmentBytes);
          attachmentsAddedLater += p.later.length;
        }
        planned = undefined;
        options.onProgress?.(++done, selection.count);
      }
    };
    const concurrency = Math.min(16, Math.max(1, options.concurrency ?? 4));
    const outcomes = await Promise.allSettled(
      Array.from({ length: concurrency }, () =>
        worker().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const failure = outcomes.find((o) => o.status === "rejected");
    if (failure) throw failure.reason;
  }
  return {
    created: items.filter((i) => i.action === "create").length,
    skipped: items.filter((i) => i.action === "skip-existing").length,
    foldersCreated: folders.created,
    items,
    attachmentsAddedLater,
  };
}

/** The default top folder of a restore: `Restored YYYY-MM-DD` (UTC). */
export function defaultRestoreFolder(now: Date = new Date()): string {
  return `Restored ${now.toISOString().slice(0, 10)}`;
}
