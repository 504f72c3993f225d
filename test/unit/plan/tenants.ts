/**
 * Tenant shapes for planner properties. fast-check draws a shape's parameters and a seed; the
 * tenant is then built by a seeded generator, because thousands of mailboxes drawn item by item
 * would make generation (and shrinking) slow without finding anything more.
 */
import fc from "fast-check";
import type { PlanFolder, PlanMailbox } from "../../../lib/plan/index.js";

export type TenantShape = "uniform" | "skewed" | "giant" | "many-small";
export const tenantShapes: readonly TenantShape[] = ["uniform", "skewed", "giant", "many-small"];

/** mulberry32: small, fast, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export interface TenantOptions {
  /** Share of folders that carry a sync state (incremental). 0–1. */
  syncedShare: number;
}

/** Spreads `items` over `count` folders, a few big and many small, as real mailboxes are. */
function folders(
  random: () => number,
  mailboxId: string,
  items: number,
  count: number,
  options: TenantOptions,
): PlanFolder[] {
  const weights = Array.from({ length: count }, () => random() ** 3 + 1e-3);
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((items * w) / sum));
  counts[0]! += items - counts.reduce((a, b) => a + b, 0);
  const averageSize = between(random, 20_000, 150_000);
  const result: PlanFolder[] = counts.map((totalItemCount, i) => {
    const synced = random() < options.syncedShare;
    return {
      folderId: `${mailboxId}-f${i}`,
      path: `Folder ${i}`,
      totalItemCount,
      ...(random() < 0.9 ? { sizeBytes: totalItemCount * averageSize } : {}),
      hasSyncState: synced,
      isSearchFolder: false,
      ...(synced && random() < 0.5
        ? { estimatedChangedItems: between(random, 0, Math.ceil(totalItemCount / 10)) }
        : {}),
    };
  });
  // Search folders report the items they match; the planner must still back up none of them.
  const searchFolders = between(random, 0, 2);
  for (let s = 0; s < searchFolders; s++) {
    result.push({
      folderId: `${mailboxId}-s${s}`,
      path: `Search ${s}`,
      totalItemCount: between(random, 0, items),
      hasSyncState: false,
      isSearchFolder: true,
    });
  }
  return result;
}

function mailbox(
  random: () => number,
  id: number,
  items: number,
  folderCount: number,
  options: TenantOptions,
): PlanMailbox {
  const mailboxId = `mbx-${id}`;
  return {
    mailboxId,
    address: `user${id}@contoso.test`,
    folders: folders(random, mailboxId, items, folderCount, options),
  };
}

/** Builds a tenant of `shape` from `seed`, deterministically. */
export function buildTenant(
  shape: TenantShape,
  seed: number,
  options: TenantOptions = { syncedShare: 0 },
): PlanMailbox[] {
  const random = seededRandom(seed);
  switch (shape) {
    case "uniform": {
      const count = between(random, 400, 900);
      return Array.from({ length: count }, (_, i) =>
        mailbox(random, i, between(random, 1000, 3000), between(random, 3, 25), options),
      );
    }
    case "skewed": {
      // Zipf: the mailbox of rank r holds largest / r^s items.
      const count = between(random, 200, 600);
      const exponent = 0.8 + random() * 0.5;
      const largest = between(random, 20_000, 200_000);
      const ranks = Array.from({ length: count }, (_, i) => i + 1).sort(() => random() - 0.5);
      return ranks.map((rank, i) =>
        mailbox(
          random,
          i,
          Math.max(1, Math.round(largest / rank ** exponent)),
          between(random, 3, 40),
          options,
        ),
      );
    }
    case "giant": {
      const count = between(random, 100, 400);
      const others = Array.from({ length: count }, (_, i) =>
        mailbox(random, i + 1, between(random, 200, 3000), between(random, 3, 25), options),
      );
      const otherItems = others
        .flatMap((m) => m.folders.filter((f) => !f.isSearchFolder))
        .reduce((sum, f) => sum + f.totalItemCount, 0);
      // 40% of all items: giant = 0.4 × (giant + others).
      const giant = mailbox(
        random,
        0,
        Math.round((otherItems * 0.4) / 0.6),
        between(random, 50, 200),
        options,
      );
      return [...others.slice(0, count >> 1), giant, ...others.slice(count >> 1)];
    }
    case "many-small": {
      const count = between(random, 2000, 5000);
      return Array.from({ length: count }, (_, i) =>
        mailbox(random, i, between(random, 0, 60), between(random, 1, 6), options),
      );
    }
  }
}

export const seedArbitrary = fc.integer({ min: 0, max: 2 ** 31 - 1 });
