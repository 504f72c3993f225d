/**
 * The folder tree of one mailbox, with item counts and sizes, as the planner and the backup
 * need it. Graph lists only the root's children, so the walk descends through `childFolders`.
 */
import type { GraphGateway } from "./client.js";

export interface FolderInfo {
  id: string;
  parentFolderId: string;
  /** Display names from the top of the mailbox (the root excluded), joined by "/". */
  path: string;
  displayName: string;
  isHidden: boolean;
  /** Search folders hold no items of their own: the backup passes them by. */
  isSearchFolder: boolean;
  totalItemCount: number;
  unreadItemCount: number;
  /** Size of the folder's items in bytes (PR_MESSAGE_SIZE_EXTENDED, `Long 0x0E08`); 0 when not given. */
  sizeBytes: number;
}

interface GraphFolder {
  id: string;
  displayName: string;
  parentFolderId: string;
  childFolderCount?: number;
  unreadItemCount?: number;
  totalItemCount?: number;
  isHidden?: boolean;
  "@odata.type"?: string;
  singleValueExtendedProperties?: Array<{ id: string; value: string }>;
}

/** `Long 0x0E08`: Exchange's folder size property; v1.0 has no size field. */
const SIZE_PROPERTY = "Long 0x0E08";

const FOLDER_QUERY = {
  includeHiddenFolders: "true",
  $top: "100",
  $expand: `singleValueExtendedProperties($filter=id eq '${SIZE_PROPERTY}')`,
};

function sizeOf(folder: GraphFolder): number {
  const property = folder.singleValueExtendedProperties?.find((p) => /^Long 0x0?e08$/i.test(p.id.trim()));
  const size = property ? Number(property.value) : 0;
  return Number.isFinite(size) ? size : 0;
}

function toInfo(folder: GraphFolder, parentPath: string): FolderInfo {
  return {
    id: folder.id,
    parentFolderId: folder.parentFolderId,
    path: parentPath ? `${parentPath}/${folder.displayName}` : folder.displayName,
    displayName: folder.displayName,
    isHidden: folder.isHidden ?? false,
    isSearchFolder: folder["@odata.type"] === "#microsoft.graph.mailSearchFolder",
    totalItemCount: folder.totalItemCount ?? 0,
    unreadItemCount: folder.unreadItemCount ?? 0,
    sizeBytes: sizeOf(folder),
  };
}

/** Every folder of the mailbox (hidden and search folders included), parents before children. */
export async function listFolders(gateway: GraphGateway, userId: string): Promise<FolderInfo[]> {
  const user = encodeURIComponent(userId);
  const result: FolderInfo[] = [];

  async function level(path: string, parentPath: string): Promise<void> {
    const found: Array<{ info: FolderInfo; children: number }> = [];
    for await (const page of gateway.pages<GraphFolder>(path, { query: FOLDER_QUERY })) {
      for (const folder of page)
        found.push({ info: toInfo(folder, parentPath), children: folder.childFolderCount ?? 1 });
    }
    result.push(...found.map((f) => f.info));
    // Siblings' subtrees are walked at once; the gateway's mailbox slots bound the concurrency.
    await Promise.all(
      found
        .filter((f) => f.children > 0)
        .map((f) =>
          level(`/users/${user}/mailFolders/${encodeURIComponent(f.info.id)}/childFolders`, f.info.path),
        ),
    );
  }

  await level(`/users/${user}/mailFolders`, "");
  return result;
}
