/**
 * The cost figures of the dense runs (bench/dense.ts): each run's counted operations priced
 * (price-run.ts) and put per million items, per million changed items, per mailbox per month; the
 * deployment's fixed monthly cost (the sweep's schedule, Lambda's idle polling, the key); and the
 * storage the archive took against the unique content it holds.
 */
import type { MeteredInvocation, MeterReading } from "../../lib/dev/local/aws-meter.js";
import type { DeploymentDefaults } from "./deployment.js";
import {
  type CostBreakdown,
  type PricedOperations,
  type PricedRun,
  priceRun,
  scaleRun,
  standardStorageDollarsPerMonth,
} from "./price-run.js";
import { IDLE_POLLING_REQUESTS_PER_MONTH, PRICES } from "./prices.js";

/** The targets of issue 13. */
export const COST_TARGETS = {
  /** Full backup of the dense tenant, all-in: dollars per million items. */
  fullDollarsPerMillionItems: 1.0,
  /** Nothing changed, one job every 4 hours: dollars per mailbox per month. */
  unchangedDollarsPerMailboxMonth: 0.02,
  /** Stored content bytes / unique content bytes. */
  storedOverUnique: 1.05,
} as const;

export interface MeteredRun {
  reading: MeterReading;
  items: number;
  mailboxes: number;
  status: string;
}

export interface StorageUse {
  /** Objects and bytes by key prefix (`blobs/sha256`, `blobs/packs`, `catalog`, `jobs`, …). */
  byPrefix: Record<string, { objects: number; bytes: number }>;
  /** Bytes of the distinct message contents the archive holds (the ground truth's, uncompressed). */
  uniqueContentBytes: number;
  /**
   * The item bodies (packed and own objects): bytes as stored, and as they are uncompressed.
   * Absent in runs before compression.
   */
  bodies?: { storedBytes: number; uncompressedBytes: number };
}

export interface CostInput {
  full: MeteredRun;
  incremental: MeteredRun & { changedItems: number };
  unchanged: MeteredRun;
  /** Every sweep the runs made (priced as the deployment's schedule would run them). */
  sweeps: MeteredInvocation[];
  /** The reading over all runs (for the sweep's share). */
  total: MeterReading;
  storage: { afterFull: StorageUse; afterIncremental: StorageUse };
  deployment: DeploymentDefaults;
}

export interface PricedFigure {
  /** The run as measured: counted operations and their dollars. */
  measured: { operations: PricedOperations; breakdown: CostBreakdown; dollars: number };
  /** The same per unit of the figure (million items, million changed items, mailbox-month). */
  operations: PricedOperations;
  breakdown: CostBreakdown;
}

export interface StorageFigures {
  /** Bytes under `blobs/` (message content: own objects, packs, indexes). */
  contentBytes: number;
  contentObjects: number;
  /** Bytes of everything else (catalog, folder lists, manifests, reports). */
  otherBytes: number;
  uniqueContentBytes: number;
  /** contentBytes / uniqueContentBytes, the unique content uncompressed (target ≤ 1.05). */
  contentOverUnique: number;
  /**
   * What the bodies would take uncompressed (the rest of `blobs/` as it is) / uniqueContentBytes:
   * deduplication's overhead alone.
   */
  uncompressedOverUnique?: number;
  /** 1 − stored body bytes / uncompressed body bytes: the share compression saved. */
  compressionSaving?: number;
  /** (contentBytes + otherBytes) / uniqueContentBytes. */
  archiveOverUnique: number;
  byPrefix: StorageUse["byPrefix"];
}

export interface CostFigures {
  prices: { region: string; asOf: string };
  deployment: DeploymentDefaults;
  targets: typeof COST_TARGETS;
  full: PricedFigure & { items: number; dollarsPerMillionItems: number };
  /** Per million changed items: `dollarsPerMillionItems` counts the changed items (new, deleted, moved, flagged). */
  incremental: PricedFigure & { changedItems: number; dollarsPerMillionItems: number };
  unchanged: PricedFigure & {
    mailboxes: number;
    dollarsPerJob: number;
    dollarsPerMailboxPerMonth: number;
    /** With the fixed monthly cost shared by 1,000 mailboxes. */
    dollarsPerMailboxPerMonthAt1000: number;
  };
  fixed: {
    dollarsPerMonth: number;
    breakdown: { sweep: number; idlePolling: number; kmsKey: number };
    sweep: { measuredInvocations: number; averageSeconds: number; dollarsPerInvocation: number };
  };
  storage: {
    afterFull: StorageFigures;
    afterIncremental: StorageFigures;
    /** S3 Standard storage of the full backup's archive, per million items: dollars a month. */
    dollarsPerMonthPerMillionItems: number;
  };
}

function perUnit(run: PricedRun, units: number): PricedFigure {
  const scaled = scaleRun(run, units > 0 ? 1 / units : 0);
  return { measured: run, operations: scaled.operations, breakdown: scaled.breakdown };
}

function storageFigures(use: StorageUse): StorageFigures {
  let contentBytes = 0;
  let contentObjects = 0;
  let otherBytes = 0;
  for (const [prefix, { objects, bytes }] of Object.entries(use.byPrefix)) {
    if (prefix === "blobs" || prefix.startsWith("blobs/")) {
      contentBytes += bytes;
      contentObjects += objects;
    } else otherBytes += bytes;
  }
  const unique = Math.max(1, use.uniqueContentBytes);
  return {
    contentBytes,
    contentObjects,
    otherBytes,
    uniqueContentBytes: use.uniqueContentBytes,
    contentOverUnique: contentBytes / unique,
    ...(use.bodies
      ? {
          uncompressedOverUnique:
            (contentBytes - use.bodies.storedBytes + use.bodies.uncompressedBytes) / unique,
          compressionSaving: 1 - use.bodies.storedBytes / Math.max(1, use.bodies.uncompressedBytes),
        }
      : {}),
    archiveOverUnique: (contentBytes + otherBytes) / unique,
    byPrefix: use.byPrefix,
  };
}

/** Prices the dense runs. */
export function costFigures(input: CostInput): CostFigures {
  const { deployment } = input;
  const memory = deployment.memoryMb;
  const full = priceRun(input.full.reading, memory);
  const incremental = priceRun(input.incremental.reading, memory);
  const unchanged = priceRun(input.unchanged.reading, memory);
  const sweeps = priceRun(input.total, memory, { callers: ["sweep"], functions: ["sweep"] });
  const sweepCount = input.sweeps.length;
  const perSweep = sweepCount > 0 ? sweeps.dollars / sweepCount : 0;
  const fixedBreakdown = {
    sweep: perSweep * deployment.sweepsPerMonth,
    idlePolling: (IDLE_POLLING_REQUESTS_PER_MONTH * PRICES.sqs.perMillionRequests) / 1e6,
    kmsKey: PRICES.kms.perKeyMonth,
  };
  const fixed = fixedBreakdown.sweep + fixedBreakdown.idlePolling + fixedBreakdown.kmsKey;
  const mailboxMonths = input.unchanged.mailboxes / deployment.jobsPerMonth;
  const unchangedPerMailboxMonth =
    input.unchanged.mailboxes > 0
      ? (unchanged.dollars / input.unchanged.mailboxes) * deployment.jobsPerMonth
      : 0;
  const afterFull = storageFigures(input.storage.afterFull);
  return {
    prices: { region: PRICES.region, asOf: PRICES.asOf },
    deployment,
    targets: COST_TARGETS,
    full: {
      items: input.full.items,
      dollarsPerMillionItems: input.full.items > 0 ? (full.dollars / input.full.items) * 1e6 : 0,
      ...perUnit(full, input.full.items / 1e6),
    },
    incremental: {
      changedItems: input.incremental.changedItems,
      dollarsPerMillionItems:
        input.incremental.changedItems > 0 ? (incremental.dollars / input.incremental.changedItems) * 1e6 : 0,
      ...perUnit(incremental, input.incremental.changedItems / 1e6),
    },
    unchanged: {
      mailboxes: input.unchanged.mailboxes,
      dollarsPerJob: unchanged.dollars,
      dollarsPerMailboxPerMonth: unchangedPerMailboxMonth,
      dollarsPerMailboxPerMonthAt1000: unchangedPerMailboxMonth + fixed / 1000,
      ...perUnit(unchanged, mailboxMonths),
    },
    fixed: {
      dollarsPerMonth: fixed,
      breakdown: fixedBreakdown,
      sweep: {
        measuredInvocations: sweepCount,
        averageSeconds:
          sweepCount > 0 ? input.sweeps.reduce((s, i) => s + i.durationMs, 0) / sweepCount / 1000 : 0,
        dollarsPerInvocation: perSweep,
      },
    },
    storage: {
      afterFull,
      afterIncremental: storageFigures(input.storage.afterIncremental),
      dollarsPerMonthPerMillionItems:
        input.full.items > 0
          ? (standardStorageDollarsPerMonth(afterFull.contentBytes + afterFull.otherBytes) /
              input.full.items) *
            1e6
          : 0,
    },
  };
}
