/**
 * The tenant's ground truth (see {@link GroundTruth}), computed through the store's read methods:
 * the primary mailbox's mail folders with every message's MIME hash, and every folder of every
 * class of the primary and the archive mailbox with every item's export-stream hash.
 */
import { createHash } from "node:crypto";
import {
  type GroundTruth,
  type GroundTruthFolder,
  isMailFolder,
  MAIL_FOLDER_CLASS,
  type MailboxItemView,
  type MimeSource,
  type SimMailbox,
  type SimMessage,
  type TenantStore,
} from "../model.js";
import { exportItem, exportSize, messageDigests } from "./items/export.js";

/** Hashes already computed: a message or item object never changes (a change makes a new one). */
const messageHashes = new WeakMap<SimMessage, { exportSha256: string; mimeSha256: string }>();
/** MIME hashes by source: the MIME of a message rarely changes when its properties do. */
const mimeHashes = new WeakMap<MimeSource, string>();
const itemHashes = new WeakMap<object, string>();

async function digestsOf(
  store: TenantStore,
  message: SimMessage,
): Promise<{ exportSha256: string; mimeSha256: string }> {
  let digests = messageHashes.get(message);
  if (!digests) {
    digests = await messageDigests(message, () => store.openMime(message));
    messageHashes.set(message, digests);
    mimeHashes.set(message.mime, digests.mimeSha256);
  }
  return digests;
}

async function mimeHashOf(store: TenantStore, message: SimMessage): Promise<string> {
  return mimeHashes.get(message.mime) ?? (await digestsOf(store, message)).mimeSha256;
}

async function itemTruth(
  store: TenantStore,
  view: MailboxItemView,
): Promise<GroundTruthFolder["items"][number]> {
  if (view.message) {
    const { exportSha256 } = await digestsOf(store, view.message);
    return {
      id: view.id,
      type: view.itemClass,
      size: exportSize({ message: view.message }),
      sha256: exportSha256,
    };
  }
  const item = view.item;
  if (!item) throw new Error(`ground truth: item ${view.id} is neither a message nor an item`);
  let sha256 = itemHashes.get(item);
  if (!sha256) {
    sha256 = createHash("sha256").update(exportItem(item)).digest("hex");
    itemHashes.set(item, sha256);
  }
  return { id: view.id, type: view.itemClass, size: exportSize({ item }), sha256 };
}

/** Every folder of a mailbox of every class, depth first, with its items (in the auxiliary archive for expanded folders). */
async function mailboxFolders(
  store: TenantStore,
  mailbox: SimMailbox,
  which: "primary" | "archive",
): Promise<GroundTruthFolder[]> {
  const out: GroundTruthFolder[] = [];
  const visit = async (folderId: string, prefix: string): Promise<void> => {
    for (const child of store.listChildFolders(mailbox.id, folderId)) {
      const path = prefix === "" ? child.displayName : `${prefix}/${child.displayName}`;
      const home = store.folderHome(mailbox.id, child.id) ?? mailbox;
      const items = [];
      for (const view of store.listMailboxItems(home.id, child.id)) items.push(await itemTruth(store, view));
      out.push({
        mailbox: which,
        itemsMailboxId: home.id,
        id: child.id,
        path,
        type: child.folderClass ?? MAIL_FOLDER_CLASS,
        items,
      });
      await visit(child.id, path);
    }
  };
  await visit(store.rootFolderId(mailbox.id), "");
  return out;
}

export async function computeGroundTruth(store: TenantStore): Promise<GroundTruth> {
  const mailboxes: GroundTruth["mailboxes"] = [];
  for (const user of store.listUsers()) {
    const primary = store.primaryMailbox(user.id);
    if (!primary) continue;
    const folders: GroundTruth["mailboxes"][number]["folders"] = [];
    const visit = async (folderId: string, prefix: string): Promise<void> => {
      for (const child of store.listChildFolders(user.id, folderId)) {
        if (!isMailFolder(child)) continue;
        const path = prefix === "" ? child.displayName : `${prefix}/${child.displayName}`;
        const messages: GroundTruth["mailboxes"][number]["folders"][number]["messages"] = [];
        for (const m of store.listMessages(user.id, child.id)) {
          messages.push({
            id: m.id,
            sha256: await mimeHashOf(store, m),
            size: m.size,
            isRead: m.isRead,
            flag: { ...m.flag },
            categories: [...m.categories],
            importance: m.importance,
          });
        }
        folders.push({
          id: child.id,
          path,
          isHidden: child.isHidden,
          isSearchFolder: child.isSearchFolder,
          messages,
        });
        await visit(child.id, path);
      }
    };
    await visit(store.rootFolderId(user.id), "");
    const archive = store.archiveMailbox(user.id);
    mailboxes.push({
      userId: user.id,
      address: user.mail ?? user.userPrincipalName,
      folders,
      primaryMailboxId: primary.id,
      archiveMailboxId: archive?.id ?? null,
      mailboxFolders: [
        ...(await mailboxFolders(store, primary, "primary")),
        ...(archive ? await mailboxFolders(store, archive, "archive") : []),
      ],
    });
  }
  return { tenantId: store.tenantId, mailboxes };
}
