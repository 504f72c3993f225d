/**
 * The cost estimates of docs/deploy.md ("What it costs") and the README's cost table, computed
 * from the measured rates in bench/results/latest.json (`cost`, written by `npm run bench`) and
 * the price table (prices.ts). `npx tsx bench/cost/deploy-estimate.ts --write` rewrites the parts
 * of both files between their `cost-estimate` markers; without `--write` it prints them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CostFigures } from "./figures.js";
import { PRICES } from "./prices.js";

/** The tenant docs/deploy.md prices: its size and its traffic. */
export const EXAMPLE_TENANT = {
  mailboxes: 1000,
  itemsPerMailbox: 20_000,
  /** Bytes the tenant's mailboxes hold (1.5 GB each). */
  bytes: 1.5e12,
  newItemsPerMonth: 1.5e6,
  /** CloudWatch (7 EMF metrics, 5 alarms, dashboard, ≈ 1 GB of logs) and Secrets Manager (2 secrets): list prices, not measured. */
  cloudWatchPerMonth: 6.1,
  secretsManagerPerMonth: 0.8,
} as const;

const usd = (n: number) =>
  n >= 100
    ? `$${n.toFixed(0)}`
    : n >= 0.01 || n === 0
      ? `$${n.toFixed(n >= 1 ? 2 : 3)}`
      : `$${n.toPrecision(2)}`;
const count = (n: number) =>
  n >= 100
    ? Math.round(n).toLocaleString("en-US")
    : Number.isInteger(n)
      ? String(n)
      : n.toFixed(n >= 10 ? 1 : 2);

/** The estimate as Markdown, from the measured cost figures. */
export function deployEstimate(cost: CostFigures, ranAt: string): string {
  const full = cost.full;
  const ops = full.operations;
  const b = full.breakdown;
  const t = EXAMPLE_TENANT;
  const s3Ops = Object.entries(ops.s3ByOperation)
    .filter(([, n]) => n >= 0.5)
    .map(([op, n]) => `${count(n)} ${op}`)
    .join(", ");
  const gbSeconds = Object.values(ops.lambdaGbSeconds).reduce<number>((a, v) => a + (v ?? 0), 0);
  const perMillion = [
    "| | Measured per million items | Cost |",
    "|---|---|---|",
    `| Lambda duration | ${count(gbSeconds)} GB-s (controller ${cost.deployment.memoryMb.controller} MB, coordinator ${cost.deployment.memoryMb.coordinator} MB) | ${usd(b.lambdaDuration)} |`,
    `| S3 requests | ${s3Ops} | ${usd(b.s3Requests)} |`,
    `| DynamoDB | ${count(ops.dynamodbWriteUnits)} write units, ${count(ops.dynamodbReadUnits)} read units | ${usd(b.dynamodb)} |`,
    `| SQS, KMS, Lambda requests | ${count(ops.sqsRequests)} SQS requests, ${count(ops.kmsRequests)} KMS requests (modelled), ${count(Object.values(ops.lambdaInvocations).reduce<number>((a, v) => a + (v ?? 0), 0))} invocations | ${usd(b.sqs + b.kms + b.lambdaRequests)} |`,
    `| **One-off** | | **${usd(full.dollarsPerMillionItems)}** |`,
    `| S3 storage | ${cost.storage.afterFull.archiveOverUnique.toFixed(3)} × the message bytes (content ${cost.storage.afterFull.contentOverUnique.toFixed(3)} ×, the rest catalog and reports${savedText(cost)}) | ${usd(cost.storage.dollarsPerMonthPerMillionItems)}/month per million items of the benchmark's size |`,
  ];
  // A real tenant's attachments compress less than the benchmark's text: its storage is bounded
  // by the archive without compression.
  const uncompressedOverUnique =
    cost.storage.afterFull.archiveOverUnique +
    (cost.storage.afterFull.uncompressedOverUnique ?? cost.storage.afterFull.contentOverUnique) -
    cost.storage.afterFull.contentOverUnique;
  const initial = (t.mailboxes * t.itemsPerMailbox * full.dollarsPerMillionItems) / 1e6;
  const scans = cost.unchanged.dollarsPerMailboxPerMonth * t.mailboxes;
  const newMail = (t.newItemsPerMonth * full.dollarsPerMillionItems) / 1e6;
  const fixed = cost.fixed.dollarsPerMonth;
  const running = scans + newMail + fixed + t.cloudWatchPerMonth + t.secretsManagerPerMonth;
  const storage = (t.bytes * uncompressedOverUnique * PRICES.s3.standardPerGbMonth) / 2 ** 30;
  const monthly = [
    "| | Calculation | Cost/month |",
    "|---|---|---|",
    `| Initial full backup (once) | ${count((t.mailboxes * t.itemsPerMailbox) / 1e6)} million items × ${usd(full.dollarsPerMillionItems)} per million | ${usd(initial)} once |`,
    `| Scans with nothing changed | ${usd(cost.unchanged.dollarsPerMailboxPerMonth)} per mailbox per month at ${count(cost.deployment.jobsPerMonth)} jobs (measured: Lambda, S3, DynamoDB, SQS, KMS) × ${count(t.mailboxes)} | ${usd(scans)} |`,
    `| New mail | ${count(t.newItemsPerMonth / 1e6)} million items × ${usd(full.dollarsPerMillionItems)} per million | ${usd(newMail)} |`,
    `| Fixed | sweep ${count(cost.deployment.sweepsPerMonth)} × ${usd(cost.fixed.sweep.dollarsPerInvocation)} (measured), Lambda's idle SQS polling, the KMS key | ${usd(fixed)} |`,
    `| CloudWatch, Secrets Manager | 7 EMF metrics, 5 alarms, dashboard, ≈ 1 GB of logs; 2 secrets (list prices) | ${usd(t.cloudWatchPerMonth + t.secretsManagerPerMonth)} |`,
    `| **Running cost** | | **${usd(running)}/month** |`,
    `| S3 storage | ${(t.bytes / 1e12).toFixed(1)} TB × ${uncompressedOverUnique.toFixed(3)} in Standard, before compression; less by what compression saves (text compresses, attachments mostly do not) and once lifecycle rules move it | **≤ ${usd(storage)}/month** |`,
  ];
  return [
    `Measured by \`npm run bench\` (${ranAt.slice(0, 10)}): every AWS request of a full backup, an`,
    "incremental backup and one with nothing changed of the dense benchmark tenant, counted at the",
    "SDK and priced with `bench/cost/prices.ts` (details in `bench/README.md`; this section is",
    "written by `npx tsx bench/cost/deploy-estimate.ts --write`).",
    "",
    "**Per million items backed up** (the first backup, or new mail over time):",
    "",
    ...perMillion,
    "",
    `**Per ${count(t.mailboxes)} mailboxes per month**, backed up every 4 hours (${count(cost.deployment.jobsPerMonth)} jobs), ${count(t.itemsPerMailbox)}`,
    `items (${(t.bytes / t.mailboxes / 1e9).toFixed(1)} GB) per mailbox, ${count(t.newItemsPerMonth / t.mailboxes / 30)} new messages per mailbox per day:`,
    "",
    ...monthly,
    "",
    `So a tenant of ${count(t.mailboxes)} mailboxes costs roughly **${usd(running + storage * 0.5)}–${usd(running + storage)} a month** (storage`,
    `between its lifecycle tiers and Standard) plus about **${usd(initial)} once** for the first backup.`,
  ].join("\n");
}

/** The README's cost lines, from the measured cost figures. */
export function readmeCostTable(cost: CostFigures): string {
  const row = (name: string, dollars: string, target: string, b: CostFigures["full"]["breakdown"]) =>
    `| ${name} | ${dollars} | ${target} | ${usd(b.s3Requests)} | ${usd(b.lambdaDuration)} | ${usd(b.dynamodb)} | ${usd(b.sqs + b.kms + b.lambdaRequests)} |`;
  return [
    "| Dense tenant, measured | Cost | Target | S3 requests | Lambda | DynamoDB | SQS, KMS, invocations |",
    "|---|---|---|---|---|---|---|",
    row(
      "Full backup, per million items",
      usd(cost.full.dollarsPerMillionItems),
      `≤ ${usd(cost.targets.fullDollarsPerMillionItems)}`,
      cost.full.breakdown,
    ),
    row(
      "Incremental, per million changed items",
      usd(cost.incremental.dollarsPerMillionItems),
      "",
      cost.incremental.breakdown,
    ),
    row(
      `Nothing changed, per mailbox-month (${count(cost.deployment.jobsPerMonth)} jobs)`,
      `$${cost.unchanged.dollarsPerMailboxPerMonth.toFixed(4)}`,
      `≤ ${usd(cost.targets.unchangedDollarsPerMailboxMonth)}`,
      cost.unchanged.breakdown,
    ),
    "",
    `Stored content ${cost.storage.afterIncremental.contentOverUnique.toFixed(3)} × the unique content, uncompressed (target ≤ ${cost.targets.storedOverUnique})${
      cost.storage.afterIncremental.uncompressedOverUnique !== undefined
        ? `; ${cost.storage.afterIncremental.uncompressedOverUnique.toFixed(3)} × before compression`
        : ""
    }; prices ${cost.prices.region} of ${cost.prices.asOf}.`,
  ].join("\n");
}

/** ", compression saved n % of the body bytes", when the run measured it. */
function savedText(cost: CostFigures): string {
  const saving = cost.storage.afterFull.compressionSaving;
  return saving === undefined ? "" : `; compression saved ${(100 * saving).toFixed(1)} % of the body bytes`;
}

/** Replaces the text between `<!-- cost-estimate:begin -->` and `<!-- cost-estimate:end -->`. */
export function replaceMarked(text: string, body: string, file: string): string {
  const begin = "<!-- cost-estimate:begin -->";
  const end = "<!-- cost-estimate:end -->";
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${file}: expected the markers ${begin} … ${end}, found none`);
  return `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`;
}

function main(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const latest = JSON.parse(readFileSync(join(root, "bench", "results", "latest.json"), "utf8")) as {
    cost?: CostFigures | null;
    sectionsRanAt?: { dense?: string };
    ranAt: string;
  };
  if (!latest.cost)
    throw new Error(
      "bench/results/latest.json: expected cost figures, found none (npm run bench -- --steps=dense)",
    );
  const estimate = deployEstimate(latest.cost, latest.sectionsRanAt?.dense ?? latest.ranAt);
  const readme = readmeCostTable(latest.cost);
  if (!process.argv.includes("--write")) {
    process.stdout.write(`${estimate}\n\n${readme}\n`);
    return;
  }
  for (const [file, body] of [
    ["docs/deploy.md", estimate],
    ["README.md", readme],
  ] as const) {
    const path = join(root, file);
    writeFileSync(path, replaceMarked(readFileSync(path, "utf8"), body, file));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
