/**
 * Puts archived messages back into a mailbox through Graph: folders found or created by path
 * (under a new top folder, default `Restored <date>`, or in the original places), messages created
 * from JSON as received mail. Idempotent: a message whose internetMessageId the target folder
 * already holds is skipped, so running the same restore twice adds nothing the second time.
 * Throttling is the gateway's business (Retry-After, per-mailbox concurrency).
 */
import { type ObjectStore, readBlob } from "../archive/index.js";
import type { SelectedFolder, Selection } from "../export/selection.js";
import type { GraphGateway } from "../graph/client.js";
import { createFolder, createMessage } from "../graph/write.js";
import { restoreMessageJson } from "./message-json.js";

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
}

export interface RestorePlanItem {
  messageId: string;
  /** Target folder path in the target mailbox. */
  targetPath: string;
  action: "create" | "skip-existing";
}

export interface RestoreResult {
  created: number;
  skipped: number;
  foldersCreated: string[];
  items: RestorePlanItem[];
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

async function existingMessageIds(
  gateway: GraphGateway,
  user: string,
  folderId: string,
): Promise<Set<string>> {
  const ids = new Set<string>();
  const path = `/users/${encodeURIComponent(user)}/mailFolders/${encodeURIComponent(folderId)}/messages?$select=internetMessageId&$top=100`;
  for await (const page of gateway.pages<{ internetMessageId?: string }>(path)) {
    for (const m of page) if (m.internetMessageId) ids.add(m.internetMessageId);
  }
  return ids;
}

async function readAll(store: ObjectStore, sha256: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await readBlob(store, sha256, { verify: true })) chunks.push(chunk as Buffer);
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
  // Empty folders (search folders, empty system folders) are not worth creating in the target.
  for (const folder of selection.folders.filter((f) => f.messages.length > 0)) {
    const path = targetPath(folder, options.intoFolder);
    const folderId = await folders.resolve(path);
    const existing = folderId ? await existingMessageIds(gateway, options.targetUser, folderId) : new Set();
    const queue = [...folder.messages];
    const worker = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) {
        const imid = typeof m.meta.internetMessageId === "string" ? m.meta.internetMessageId : undefined;
        const skip = imid !== undefined && existing.has(imid);
        items.push({ messageId: m.messageId, targetPath: path, action: skip ? "skip-existing" : "create" });
        if (!skip && !dryRun && folderId) {
          const json = await restoreMessageJson(await readAll(store, m.sha256), m.meta);
          await createMessage(gateway, options.targetUser, folderId, json);
        }
        options.onProgress?.(++done, selection.count);
      }
    };
    const concurrency = Math.min(16, Math.max(1, options.concurrency ?? 4));
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  return {
    created: items.filter((i) => i.action === "create").length,
    skipped: items.filter((i) => i.action === "skip-existing").length,
    foldersCreated: folders.created,
    items,
  };
}

/** The default top folder of a restore: `Restored YYYY-MM-DD` (UTC). */
export function defaultRestoreFolder(now: Date = new Date()): string {
  return `Restored ${now.toISOString().slice(0, 10)}`;
}
