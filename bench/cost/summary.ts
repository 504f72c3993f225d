/** The cost figures in a few lines, for the benchmark's output. */
import type { CostFigures } from "./figures.js";

const usd = (n: number, digits = 2) => `$${n.toFixed(digits)}`;

export function costSummary(c: CostFigures): string {
  const line = (b: Record<string, number>) =>
    Object.entries(b)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${usd(v, 4)}`)
      .join(", ");
  return [
    `cost (${c.prices.region}, prices of ${c.prices.asOf}; controller ${c.deployment.memoryMb.controller} MB):`,
    `  full backup: ${usd(c.full.dollarsPerMillionItems)} per million items (target ≤ ${usd(c.targets.fullDollarsPerMillionItems)}): ${line(c.full.breakdown as never)}`,
    `  incremental: ${usd(c.incremental.dollarsPerMillionItems)} per million changed items (${c.incremental.changedItems} changes)`,
    `  nothing changed: ${usd(c.unchanged.dollarsPerMailboxPerMonth, 4)} per mailbox per month at ${c.deployment.jobsPerMonth} jobs (target ≤ ${usd(c.targets.unchangedDollarsPerMailboxMonth)}); ` +
      `${usd(c.unchanged.dollarsPerMailboxPerMonthAt1000, 4)} with the fixed ${usd(c.fixed.dollarsPerMonth)}/month shared by 1,000 mailboxes`,
    `  storage: content ${(c.storage.afterIncremental.contentOverUnique).toFixed(3)} × the unique content uncompressed (target ≤ ${c.targets.storedOverUnique})` +
      (c.storage.afterIncremental.compressionSaving !== undefined
        ? `; ${c.storage.afterIncremental.uncompressedOverUnique?.toFixed(3)} × before compression, which saved ${(100 * c.storage.afterIncremental.compressionSaving).toFixed(1)} % of the body bytes`
        : "") +
      ", " +
      `${usd(c.storage.dollarsPerMonthPerMillionItems)} a month per million items in S3 Standard`,
  ].join("\n");
}
