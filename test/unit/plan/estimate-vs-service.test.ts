/**
 * The planner's estimate of a unit against what the simulated service serves for the unit's
 * folders: the delta pages its store answers (walked page by page, as a unit follows them), one
 * `$value` per message read as MIME, and the export requests of the items read as export streams.
 * A unit makes no discovery requests (the coordinator made them before the plan), so the
 * estimate must hold nothing else: this is what lets the planner give each small unit a stream
 * of its own instead of taking it for twice its size.
 */
import { describe, expect, it } from "vitest";
import { listedFromTruth } from "../../../bench/figures.js";
import { fewestExportRequests } from "../../../lib/backup/export-batches.js";
import { generateTenant } from "../../../lib/dev/sim/index.js";
import type { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";
import { createPlanner, resolvePlanLimits } from "../../../lib/plan/index.js";

const PAGE_SIZE = 10;

/** Pages the store serves for one full round of a folder's delta (item or message delta). */
function pagesServed(
  store: InMemoryTenantStore,
  mailboxKey: string,
  folderId: string,
  what: "items" | "messages",
): number {
  let cursor: Parameters<InMemoryTenantStore["itemDelta"]>[2] = null;
  for (let pages = 1; pages < 10_000; pages++) {
    const result: ReturnType<InMemoryTenantStore["itemDelta"]> | ReturnType<InMemoryTenantStore["delta"]> =
      what === "items"
        ? store.itemDelta(mailboxKey, folderId, cursor, PAGE_SIZE)
        : store.delta(mailboxKey, folderId, cursor, PAGE_SIZE);
    if (!result.ok) throw new Error(`folder ${folderId}: expected a delta page, found ${result.reason}`);
    if (result.page.done) return pages;
    cursor = result.page.cursor;
  }
  throw new Error(`folder ${folderId}: expected its round to end`);
}

describe("a unit's estimate against the requests the simulated service serves for it", () => {
  const store = generateTenant({
    seed: 31,
    shape: "giant",
    mailboxes: 4,
    totalMessages: 160,
    maxUserFolders: 4,
    archiveFraction: 1,
    largeFraction: 0,
  });

  it.each(["fidelity", "mime", "both"] as const)(
    "in mode %s: delta pages and MIME GETs exactly, exports to within one request per export pool",
    async (mailContent) => {
      const truth = await store.groundTruth();
      const limits = resolvePlanLimits({ pageSize: PAGE_SIZE, maxStreams: 16 });
      const plan = createPlanner(
        limits,
        mailContent,
      )(truth.mailboxes.map((m) => listedFromTruth(m, mailContent)));
      expect(plan.units.length).toBe(truth.mailboxes.length);
      let exportingUnits = 0;
      for (const unit of plan.units) {
        const m = truth.mailboxes.find((x) => x.userId === unit.mailboxId)!;
        const byId = new Map(m.mailboxFolders.map((f) => [f.id, f]));
        const messages = new Map(m.folders.map((f) => [f.id, f.messages]));
        let pages = 0;
        let gets = 0;
        const pools = new Map<string, Array<{ size: number }>>();
        unit.folderIds.forEach((id, i) => {
          const f = byId.get(id)!;
          const read = unit.folderReads[i]!;
          const mailboxKey = f.mailbox === "archive" ? m.archiveMailboxId! : m.userId;
          const exported = read === "m" ? [] : read === "b" ? messages.get(id)! : f.items;
          if (read === "m" || read === "b") {
            pages += pagesServed(store, m.userId, id, "messages");
            gets += messages.get(id)!.length;
          } else {
            pages += pagesServed(store, mailboxKey, id, "items");
          }
          // One pool per mailbox holding the items (an archive's expanded folder: its auxiliary one).
          const pool = pools.get(f.itemsMailboxId) ?? [];
          pool.push(...exported);
          pools.set(f.itemsMailboxId, pool);
        });
        const exportedItems = [...pools.values()].reduce((n, p) => n + p.length, 0);
        const fewestExports = [...pools.values()].reduce((n, p) => n + fewestExportRequests(p), 0);
        // The estimate is the pages and GETs served plus each item's share of an export request.
        expect(unit.cost).toBeCloseTo(pages + gets + exportedItems / limits.exportBatchSize, 9);
        // So it lies below the fewest requests that carry the exports by less than one per pool.
        const served = pages + gets + fewestExports;
        expect(unit.cost).toBeLessThanOrEqual(served);
        expect(served - unit.cost).toBeLessThan(Math.max(1, pools.size));
        if (exportedItems > 0) exportingUnits++;
      }
      // The tenant has what the comparison is about: exports, archives, folders of several pages.
      expect(exportingUnits).toBeGreaterThan(0);
      expect(truth.mailboxes.some((m) => m.mailboxFolders.some((f) => f.mailbox === "archive"))).toBe(true);
      expect(truth.mailboxes.some((m) => m.mailboxFolders.some((f) => f.items.length > PAGE_SIZE))).toBe(
        true,
      );
    },
  );
});
