/** Small builders of what the archive's tests store and check. */
import { createHash } from "node:crypto";
import type { CatalogEntry } from "../../lib/backup/ports.js";

/** The SHA-256 of bytes in hex: a body's content address. */
export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A catalog upsert of a message in folder `f` whose body is `body`. */
export function upsert(messageId: string, body: Buffer): Extract<CatalogEntry, { kind: "upsert" }> {
  return {
    kind: "upsert",
    messageId,
    folderId: "f",
    sha256: sha(body),
    size: body.length,
    meta: { id: messageId },
  };
}
