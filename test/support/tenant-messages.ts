/** Reading a generated tenant's messages back, for tests of the simulator's store. */
import type { GroundTruth, SimMessage } from "../../lib/dev/sim/model.js";
import type { InMemoryTenantStore } from "../../lib/dev/sim/tenant/store.js";

/** A message's whole MIME, as the store streams it. */
export async function readAll(store: InMemoryTenantStore, message: SimMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.openMime(message)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every message of every mailbox, walking each folder tree from its root. */
export function allMessages(store: InMemoryTenantStore): Array<{ userId: string; message: SimMessage }> {
  const out: Array<{ userId: string; message: SimMessage }> = [];
  for (const user of store.listUsers()) {
    if (!user.mailbox) continue;
    const walk = (folderId: string) => {
      for (const child of store.listChildFolders(user.id, folderId)) {
        for (const message of store.listMessages(user.id, child.id)) out.push({ userId: user.id, message });
        walk(child.id);
      }
    };
    walk(store.rootFolderId(user.id));
  }
  return out;
}

/**
 * The mail part of a ground truth, in the shape it had before archives and other item kinds:
 * what the pinned hashes of the generator's output were computed over.
 */
export function mailTruth(truth: GroundTruth): unknown {
  return {
    tenantId: truth.tenantId,
    mailboxes: truth.mailboxes.map(({ userId, address, folders }) => ({ userId, address, folders })),
  };
}
