/**
 * A generated tenant for the mailbox import/export API tests: every mailbox has calendars,
 * contacts, tasks and notes, every user an archive (the first one auto-expanded), and helpers to
 * find items by kind through the ground truth.
 */
import type { Client } from "@microsoft/microsoft-graph-client";
import type { GroundTruth, GroundTruthFolder } from "../../../lib/dev/sim/model.js";
import { generateTenant, type TenantSpec } from "../../../lib/dev/sim/tenant/generate.js";
import type { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

export const API_SPEC: TenantSpec = {
  seed: 31,
  shape: "demo",
  mailboxes: 5,
  totalMessages: 400,
  itemScale: 3,
  largeFraction: 0,
  sharedFraction: 0.2,
  archiveFraction: 1,
};

export interface ApiTenant {
  store: InMemoryTenantStore;
  truth: GroundTruth;
  /** The user with the auto-expanded archive. */
  owner: GroundTruth["mailboxes"][number];
  /** Another user with a mailbox (an import target). */
  other: GroundTruth["mailboxes"][number];
}

export async function buildApiTenant(): Promise<ApiTenant> {
  const store = generateTenant(API_SPEC);
  const truth = await store.groundTruth();
  const owner = truth.mailboxes.find((m) =>
    m.mailboxFolders.some((f) => f.mailbox === "archive" && f.itemsMailboxId !== m.archiveMailboxId),
  );
  const other = truth.mailboxes.find((m) => m !== owner && m.archiveMailboxId !== null);
  if (!owner || !other) throw new Error("fixture: expected an expanded archive and a second archive owner");
  return { store, truth, owner, other };
}

/** The first folder of `mailbox` whose items include one of `type`, with that item. */
export function folderWith(
  mailbox: ApiTenant["owner"],
  type: string,
  where: "primary" | "archive" = "primary",
  pick: (item: GroundTruthFolder["items"][number]) => boolean = () => true,
): { folder: GroundTruthFolder; item: GroundTruthFolder["items"][number] } {
  for (const folder of mailbox.mailboxFolders) {
    if (folder.mailbox !== where) continue;
    const item = folder.items.find((i) => i.type === type && pick(i));
    if (item) return { folder, item };
  }
  throw new Error(`fixture: no ${type} item in the ${where} mailbox of ${mailbox.address}`);
}

/** Every page of a Graph collection or delta round, following nextLinks; the final page too. */
export async function allPages(
  graph: Client,
  url: string,
  prefer?: string,
): Promise<{ items: Array<Record<string, unknown>>; pages: number; last: Record<string, unknown> }> {
  const items: Array<Record<string, unknown>> = [];
  let pages = 0;
  let next: string | undefined = url;
  let last: Record<string, unknown> = {};
  while (next) {
    let request = graph.api(next);
    if (prefer) request = request.header("Prefer", prefer);
    last = await request.get();
    pages++;
    items.push(...(last.value as Array<Record<string, unknown>>));
    next = last["@odata.nextLink"] as string | undefined;
  }
  return { items, pages, last };
}
