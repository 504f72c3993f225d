import { describe, expect, it } from "vitest";
import type { DeltaCursor, DeltaEntry, GroundTruth } from "../../../lib/dev/sim/model.js";
import { describeTenant } from "../../../lib/dev/sim/tenant/describe.js";
import { generateTenant, type TenantSpec } from "../../../lib/dev/sim/tenant/generate.js";
import { mutateTenant } from "../../../lib/dev/sim/tenant/mutate.js";
import { tenantFromSeed } from "../../../lib/dev/sim/tenant/seeded.js";
import type { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

const SPEC: TenantSpec = { seed: 11, shape: "skewed", mailboxes: 5, totalMessages: 300, largeFraction: 0 };

interface Flat {
  messages: Map<string, { folderId: string; props: string }>;
  folders: Map<string, string>;
}

function flatten(truth: GroundTruth): Flat {
  const messages = new Map<string, { folderId: string; props: string }>();
  const folders = new Map<string, string>();
  for (const mailbox of truth.mailboxes) {
    for (const folder of mailbox.folders) {
      folders.set(folder.id, folder.path.split("/").at(-1) as string);
      for (const m of folder.messages) {
        messages.set(m.id, {
          folderId: folder.id,
          props: JSON.stringify([m.isRead, m.flag, m.categories, m.importance, m.sha256]),
        });
      }
    }
  }
  return { messages, folders };
}

function diff(before: Flat, after: Flat) {
  const ids = (m: Map<string, unknown>) => new Set(m.keys());
  const kept = [...before.messages.keys()].filter((id) => after.messages.has(id));
  return {
    added: [...ids(after.messages)].filter((id) => !before.messages.has(id)).length,
    removed: [...ids(before.messages)].filter((id) => !after.messages.has(id)).length,
    moved: kept.filter((id) => before.messages.get(id)?.folderId !== after.messages.get(id)?.folderId).length,
    changed: kept.filter(
      (id) =>
        before.messages.get(id)?.folderId === after.messages.get(id)?.folderId &&
        before.messages.get(id)?.props !== after.messages.get(id)?.props,
    ).length,
    newFolders: [...ids(after.folders)].filter((id) => !before.folders.has(id)).length,
    renamed: [...before.folders.keys()].filter(
      (id) => after.folders.has(id) && after.folders.get(id) !== before.folders.get(id),
    ).length,
  };
}

/** Every delta entry of one full round per folder, from the given cursors (null = initial). */
function deltaAll(
  store: InMemoryTenantStore,
  cursors: Map<string, DeltaCursor | null>,
): { entries: DeltaEntry[]; next: Map<string, DeltaCursor> } {
  const entries: DeltaEntry[] = [];
  const next = new Map<string, DeltaCursor>();
  for (const [key, start] of cursors) {
    const [userId, folderId] = key.split("|") as [string, string];
    let cursor = start;
    for (;;) {
      const result = store.delta(userId, folderId, cursor, 50);
      if (!result.ok) throw new Error(result.reason);
      entries.push(...result.page.entries);
      cursor = result.page.cursor;
      if (result.page.done) break;
    }
    next.set(key, cursor as DeltaCursor);
  }
  return { entries, next };
}

describe("mutateTenant", () => {
  it("changes the ground truth exactly as its summary says", async () => {
    const store = generateTenant(SPEC);
    const before = flatten(await store.groundTruth());
    const summary = mutateTenant(store, { seed: 5, intensity: 0.1 });
    const after = flatten(await store.groundTruth());
    expect(summary.newMessages).toBeGreaterThan(0);
    expect(summary.deletes).toBeGreaterThan(0);
    expect(summary.moves).toBeGreaterThan(0);
    expect(summary.propertyChanges).toBeGreaterThan(0);
    expect(summary.movesToDeletedItems).toBeGreaterThan(0);
    expect(diff(before, after)).toEqual({
      added: summary.newMessages,
      removed: summary.deletes,
      moved: summary.moves,
      changed: summary.propertyChanges,
      newFolders: summary.newFolders,
      renamed: summary.renamedFolders,
    });
  });

  it("applies explicit counts", async () => {
    const store = generateTenant(SPEC);
    const before = flatten(await store.groundTruth());
    const summary = mutateTenant(store, {
      seed: 1,
      counts: { newMessages: 7, deletes: 3, moves: 4, propertyChanges: 5, newFolders: 2, renamedFolders: 1 },
    });
    expect(summary).toMatchObject({
      newMessages: 7,
      deletes: 3,
      moves: 4,
      propertyChanges: 5,
      newFolders: 2,
      renamedFolders: 1,
    });
    const d = diff(before, flatten(await store.groundTruth()));
    expect(d).toEqual({ added: 7, removed: 3, moved: 4, changed: 5, newFolders: 2, renamed: 1 });
  });

  it("is deterministic for a seed, and tenantFromSeed rebuilds the same mutated tenant", async () => {
    const a = generateTenant(SPEC);
    mutateTenant(a, { seed: 9 });
    const b = generateTenant(SPEC);
    mutateTenant(b, { seed: 9 });
    expect(await b.groundTruth()).toEqual(await a.groundTruth());
    const once = await tenantFromSeed(SPEC, 1).groundTruth();
    expect(await tenantFromSeed(SPEC, 1).groundTruth()).toEqual(once);
    expect(once).not.toEqual(await tenantFromSeed(SPEC, 0).groundTruth());
    expect(await tenantFromSeed(SPEC, 2).groundTruth()).not.toEqual(once);
  });

  it("shows up in the next delta round as upserts and removals", async () => {
    const store = generateTenant(SPEC);
    const keys = new Map<string, DeltaCursor | null>();
    for (const mailbox of (await store.groundTruth()).mailboxes)
      for (const f of mailbox.folders) keys.set(`${mailbox.userId}|${f.id}`, null);
    const initial = deltaAll(store, keys);
    const summary = mutateTenant(store, {
      seed: 3,
      counts: { newMessages: 4, deletes: 2, moves: 3, propertyChanges: 6, newFolders: 0, renamedFolders: 0 },
    });
    const round = deltaAll(store, initial.next);
    expect(round.entries.filter((e) => e.type === "upsert")).toHaveLength(
      summary.newMessages + summary.moves + summary.propertyChanges,
    );
    expect(round.entries.filter((e) => e.type === "removed")).toHaveLength(summary.deletes + summary.moves);
  });

  it("is summarised by describeTenant", () => {
    const store = generateTenant(SPEC);
    const described = describeTenant(store);
    expect(described.messages).toBe(300);
    expect(described.mailboxes.total).toBe(5);
    expect(described.accounts).toBe(described.mailboxes.total + described.withoutMailbox);
    expect(described.bytes).toBeGreaterThan(300 * 300);
    // Calendars, contacts, tasks and notes are counted apart from mail.
    for (const kind of ["IPM.Appointment", "IPM.Contact", "IPM.Task", "IPM.StickyNote"])
      expect(described.items[kind], kind).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(described))).toEqual(described);
    const summary = mutateTenant(store, { seed: 2 });
    expect(describeTenant(store).messages).toBe(300 + summary.newMessages - summary.deletes);
  });
});
