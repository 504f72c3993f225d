/**
 * The dense tenant (hundreds of items per folder, as real mailboxes hold them): requests per item
 * of a full backup, and what its runs cost in AWS, measured. The stack archives to the S3
 * emulator with every AWS request counted at the SDK (lib/dev/local/aws-meter.ts) and priced
 * (bench/cost): a full backup, a mutation round and an incremental backup, then a run with nothing
 * changed; the simulated service has the benchmark's realistic latency, so that the controllers'
 * Lambda time is what a real Graph would make it.
 */
import { randomUUID } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { JobReport } from "../lib/backup/report.js";
import { AwsMeter, difference, type MeterReading } from "../lib/dev/local/aws-meter.js";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import type { GroundTruth } from "../lib/dev/sim/index.js";
import { deploymentDefaults } from "./cost/deployment.js";
import { type CostFigures, costFigures, type StorageUse } from "./cost/figures.js";
import { realContent } from "./figures.js";
import { DENSE, LATENCY, LIMITS, planLimitsFor, SERVICE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess } from "./sim-process.js";

/** Stream count of the dense runs (the stack's `streams`). */
const DENSE_STREAMS = 4;

/** Requests per item of a full backup and of a run with nothing changed, and the measured cost of the runs. */
export async function benchDense(
  ca: { certPem: string; keyPem: string },
  caDir: string,
): Promise<DenseFigures> {
  const sim = await startSimProcess({ tenant: DENSE, latency: LATENCY, limits: LIMITS, ca, certDir: caDir });
  const meter = new AwsMeter();
  const bucket = `mailstream-dense-${randomUUID().slice(0, 8)}`;
  let services: LocalServices | undefined;
  try {
    const truthBefore = await sim.groundTruth();
    const content = realContent(truthBefore, SERVICE);
    services = await startLocalServices(
      {
        archive: { kind: "s3", bucket },
        streams: DENSE_STREAMS,
        planLimits: planLimitsFor(DENSE_STREAMS),
        meter,
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    const run = async () => {
      const c0 = await counters(sim);
      const m0 = meter.reading();
      const { report } = await stack.runJob({ refreshMs: 500 });
      const c1 = await counters(sim);
      return { report, requests: c1.requests - c0.requests, reading: difference(meter.reading(), m0) };
    };
    const full = await run();
    const storedAfterFull = await storageUse(stack.clients.s3, bucket);
    const mutation = await sim.mutate({ seed: DENSE.seed * 7, intensity: 0.05 });
    const changedItems = mutation.newMessages + mutation.deletes + mutation.moves + mutation.propertyChanges;
    const incremental = await run();
    const unchanged = await run();
    const truthAfter = await sim.groundTruth();
    const stored = await storageUse(stack.clients.s3, bucket);
    return {
      mailboxes: content.works.length,
      folders: content.folders,
      items: full.report.totals.items,
      fullRequests: full.requests,
      requestsPerItem: full.requests / Math.max(1, full.report.totals.items),
      unchangedRequests: unchanged.requests,
      changedItems,
      cost: costFigures({
        full: runOf(full),
        incremental: { ...runOf(incremental), changedItems },
        unchanged: runOf(unchanged),
        sweeps: meter.reading().invocations.filter((i) => i.fn === "sweep"),
        total: meter.reading(),
        storage: {
          afterFull: { ...storedAfterFull, uniqueContentBytes: uniqueContentBytes([truthBefore]) },
          afterIncremental: { ...stored, uniqueContentBytes: uniqueContentBytes([truthBefore, truthAfter]) },
        },
        deployment: deploymentDefaults(),
      }),
    };
  } finally {
    await services?.stop();
    await sim.close();
  }
}

function runOf(run: { report: JobReport; reading: MeterReading }) {
  return {
    reading: run.reading,
    items: run.report.totals.items,
    mailboxes: run.report.mailboxes.length,
    status: run.report.status,
  };
}

/** Bytes of the distinct message contents of the ground truths (what the archive must hold at least). */
export function uniqueContentBytes(truths: readonly GroundTruth[]): number {
  const sizes = new Map<string, number>();
  for (const truth of truths)
    for (const mailbox of truth.mailboxes)
      for (const folder of mailbox.folders) {
        if (folder.isSearchFolder) continue;
        for (const m of folder.messages) sizes.set(m.sha256, m.size);
      }
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

/** What the bucket holds, by the first segment of the key (`blobs`, `catalog`, `jobs`, …). */
async function storageUse(s3: S3Client, bucket: string): Promise<Omit<StorageUse, "uniqueContentBytes">> {
  const byPrefix: Record<string, { objects: number; bytes: number }> = {};
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of out.Contents ?? []) {
      const top = (o.Key ?? "")
        .split("/")
        .slice(0, (o.Key ?? "").startsWith("blobs/") ? 2 : 1)
        .join("/");
      const entry = byPrefix[top] ?? { objects: 0, bytes: 0 };
      byPrefix[top] = entry;
      entry.objects++;
      entry.bytes += o.Size ?? 0;
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return { byPrefix };
}

export interface DenseFigures {
  mailboxes: number;
  folders: number;
  items: number;
  fullRequests: number;
  requestsPerItem: number;
  unchangedRequests: number;
  /** Changes the mutation round made (new + deleted + moved + property-changed messages). */
  changedItems: number;
  cost: CostFigures;
}
