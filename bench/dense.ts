/**
 * The dense tenant (hundreds of items per folder, as real mailboxes hold them): requests per item
 * of a full backup, and what its runs cost in AWS, measured. The stack archives to the S3
 * emulator with every AWS request counted at the SDK (lib/dev/local/aws-meter.ts) and priced
 * (bench/cost): a full backup, a mutation round and an incremental backup, then a run with nothing
 * changed; the simulated service has the benchmark's realistic latency, so that the controllers'
 * Lambda time is what a real Graph would make it.
 */
import { randomUUID } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { S3Client } from "@aws-sdk/client-s3";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import type { JobReport } from "../lib/backup/report.js";
import { AwsMeter, difference, type MeterReading } from "../lib/dev/local/aws-meter.js";
import type { RunningEmulators } from "../lib/dev/local/emulators.js";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import type { GroundTruth } from "../lib/dev/sim/index.js";
import { kindOfItemClass, OVERHEAD } from "../lib/dev/sim/server/request-kinds.js";
import { deploymentDefaults } from "./cost/deployment.js";
import { type CostFigures, costFigures, type StorageUse } from "./cost/figures.js";
import { realContent } from "./figures.js";
import { DENSE, LATENCY, LIMITS, planLimitsFor, SERVICE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess } from "./sim-process.js";

/** Stream count of the dense runs (the stack's `streams`). */
const DENSE_STREAMS = 4;

/**
 * Requests per item of a full backup and of a run with nothing changed, and the measured cost of
 * the runs, on mailboxes of realistic density (every item kind, archives included), in a content
 * mode for mail (default: the configuration's default, `fidelity`).
 */
export async function benchDense(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  mailContent?: "mime" | "fidelity" | "both",
  options: {
    /**
     * The full backup only (requests per item, makespan): no mutation round, incremental run, run
     * with nothing changed or cost. Default false.
     */
    fullOnly?: boolean;
    /** AWS emulators already running, shared with other runs (left running). Default: a pair of its own. */
    emulators?: RunningEmulators;
  } = {},
): Promise<DenseFigures> {
  const sim = await startSimProcess({ tenant: DENSE, latency: LATENCY, limits: LIMITS, ca, certDir: caDir });
  const meter = new AwsMeter();
  const bucket = `mailstream-dense-${randomUUID().slice(0, 8)}`;
  let services: LocalServices | undefined;
  try {
    const mode = mailContent ?? "fidelity";
    const truthBefore = await sim.groundTruth();
    const content = realContent(truthBefore, SERVICE);
    services = await startLocalServices(
      {
        archive: { kind: "s3", bucket },
        ...(options.emulators
          ? { emulators: options.emulators, resourceSuffix: `-dense-${mode}-${randomUUID().slice(0, 8)}` }
          : {}),
        streams: DENSE_STREAMS,
        planLimits: planLimitsFor(DENSE_STREAMS),
        meter,
        ...(mailContent ? { env: { MAILSTREAM_MAIL_CONTENT: mailContent } } : {}),
      },
      sim.info.tenantEnv,
    );
    const stack = services;
    const run = async () => {
      const c0 = await counters(sim);
      const k0 = (await sim.stats()).graph.byKind;
      const m0 = meter.reading();
      const { report } = await stack.runJob({ refreshMs: 500 });
      const c1 = await counters(sim);
      const k1 = (await sim.stats()).graph.byKind;
      // Graph's count, as the shapes' figures (bench/figures.ts): a `$batch` is its inner requests;
      // the simulator counts each envelope once more, as the tenant's overhead.
      const envelopes = (c1.batches ?? 0) - (c0.batches ?? 0);
      const byKind = differenceByKind(k1, k0);
      byKind[OVERHEAD] = (byKind[OVERHEAD] ?? 0) - envelopes;
      return {
        report,
        requests: c1.requests - c0.requests - envelopes,
        requestsByKind: byKind,
        reading: difference(meter.reading(), m0),
      };
    };
    const full = await run();
    const fullFigures = {
      mailboxes: content.works.length,
      folders: content.folders,
      items: full.report.totals.items,
      fullRequests: full.requests,
      requestsPerItem: full.requests / Math.max(1, full.report.totals.items),
      byKind: requestsPerItemByKind(full.requestsByKind, itemsByKind(truthBefore)),
      makespanSeconds: full.report.makespanSeconds,
      ...(mailContent ? { mailContent } : {}),
    };
    if (options.fullOnly) return fullFigures;
    const storedAfterFull = await storageUse(stack.clients.s3, bucket);
    const mutation = await sim.mutate({ seed: DENSE.seed * 7, intensity: 0.05 });
    const changedItems = mutation.newMessages + mutation.deletes + mutation.moves + mutation.propertyChanges;
    const incremental = await run();
    const unchanged = await run();
    const truthAfter = await sim.groundTruth();
    const stored = await storageUse(stack.clients.s3, bucket);
    return {
      ...fullFigures,
      unchangedRequests: unchanged.requests,
      changedItems,
      cost: costFigures({
        full: runOf(full),
        incremental: { ...runOf(incremental), changedItems },
        unchanged: runOf(unchanged),
        sweeps: meter.reading().invocations.filter((i) => i.fn === "sweep"),
        total: meter.reading(),
        storage: {
          afterFull: { ...storedAfterFull, uniqueContentBytes: uniqueContentBytes([truthBefore], mode) },
          afterIncremental: {
            ...stored,
            uniqueContentBytes: uniqueContentBytes([truthBefore, truthAfter], mode),
          },
        },
        deployment: deploymentDefaults(),
      }),
    };
  } finally {
    await services?.stop();
    await sim.close();
  }
}

/** The requests one run made for each item kind (and as tenant overhead): `after − before`. */
function differenceByKind(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(after)) out[key] = (after[key] ?? 0) - (before[key] ?? 0);
  return out;
}

/** The tenant's items of each kind (mail, event, contact, …), every folder of every mailbox, each item once. */
export function itemsByKind(truth: GroundTruth): Record<string, number> {
  const seen = new Set<string>();
  const out: Record<string, number> = {};
  for (const mailbox of truth.mailboxes)
    for (const folder of mailbox.mailboxFolders)
      for (const item of folder.items) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        const kind = kindOfItemClass(item.type);
        out[kind] = (out[kind] ?? 0) + 1;
      }
  return out;
}

/**
 * Requests per item of each kind: the requests attributed to a kind over the items of that kind;
 * the tenant's overhead (folder listings, mailbox discovery, …) per item of every kind.
 */
export function requestsPerItemByKind(
  requests: Record<string, number>,
  items: Record<string, number>,
): Record<string, KindFigures> {
  const out: Record<string, KindFigures> = {};
  const allItems = Object.values(items).reduce((n, v) => n + v, 0);
  for (const kind of new Set([...Object.keys(items), ...Object.keys(requests)])) {
    const n = kind === OVERHEAD ? allItems : (items[kind] ?? 0);
    const r = requests[kind] ?? 0;
    out[kind] = { items: n, requests: r, requestsPerItem: n > 0 ? r / n : null };
  }
  return out;
}

/** One row of requests per item by kind; `overhead`'s items are all of the tenant's. */
export interface KindFigures {
  items: number;
  /** Requests made for items of this kind (export requests split by their items' kinds). */
  requests: number;
  requestsPerItem: number | null;
}

function runOf(run: { report: JobReport; reading: MeterReading }) {
  return {
    reading: run.reading,
    items: run.report.totals.items,
    mailboxes: run.report.mailboxes.length,
    status: run.report.status,
  };
}

/**
 * Bytes of the distinct contents the archive must hold at least in a content mode: the messages'
 * MIME (mime, both) and every item's export stream (fidelity, both), each kind by its own hash.
 */
export function uniqueContentBytes(
  truths: readonly GroundTruth[],
  mode: "mime" | "fidelity" | "both" = "mime",
): number {
  const sizes = new Map<string, number>();
  for (const truth of truths)
    for (const mailbox of truth.mailboxes) {
      if (mode !== "fidelity")
        for (const folder of mailbox.folders) {
          if (folder.isSearchFolder) continue;
          for (const m of folder.messages) sizes.set(`mime:${m.sha256}`, m.size);
        }
      if (mode !== "mime")
        for (const folder of mailbox.mailboxFolders)
          for (const item of folder.items) {
            // Mail in mode both: its export stream besides its MIME; every other kind: the stream alone.
            sizes.set(`export:${item.sha256}`, item.size);
          }
    }
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}

/**
 * What the bucket holds, by the first segment of the key (`blobs`, `catalog`, `jobs`, …), and its
 * item bodies' bytes as stored and as they would be uncompressed (pack index entries' `size`,
 * `.gz` objects decompressed), so that compression's saving shows beside deduplication's overhead.
 */
async function storageUse(s3: S3Client, bucket: string): Promise<Omit<StorageUse, "uniqueContentBytes">> {
  const byPrefix: Record<string, { objects: number; bytes: number }> = {};
  const bodies = { storedBytes: 0, uncompressedBytes: 0 };
  const bytesOf = async (key: string) =>
    Buffer.from(
      await ((
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      ).Body?.transformToByteArray() ?? new Uint8Array()),
    );
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of out.Contents ?? []) {
      const key = o.Key ?? "";
      if (key.startsWith("blobs/packs/") && key.endsWith(".index.json") && !key.includes("/merged-")) {
        const index = JSON.parse((await bytesOf(key)).toString("utf8")) as {
          entries: Array<{ length: number; size?: number }>;
        };
        for (const e of index.entries) {
          bodies.storedBytes += e.length;
          bodies.uncompressedBytes += e.size ?? e.length;
        }
      } else if (key.startsWith("blobs/sha256/")) {
        bodies.storedBytes += o.Size ?? 0;
        bodies.uncompressedBytes += key.endsWith(".gz")
          ? gunzipSync(await bytesOf(key)).length
          : (o.Size ?? 0);
      }
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
  return { byPrefix, bodies };
}

export interface DenseFigures {
  mailboxes: number;
  folders: number;
  items: number;
  fullRequests: number;
  requestsPerItem: number;
  /**
   * The full backup's requests per item by item kind (mail, event, contact, …, and `overhead`:
   * requests made for no kind, over all items), as the simulator attributes them.
   */
  byKind: Record<string, KindFigures>;
  /** The full backup's makespan, s. */
  makespanSeconds: number;
  mailContent?: "mime" | "fidelity" | "both";
  /** Requests of the run with nothing changed (absent: full backup only). */
  unchangedRequests?: number;
  /** Changes the mutation round made (new + deleted + moved + property-changed messages; absent: full backup only). */
  changedItems?: number;
  /** What the runs cost (absent: full backup only). */
  cost?: CostFigures;
  /**
   * The steps that ran at the same time as this one (bench/beside.ts): its makespan shared the
   * machine with them; its counts did not (a simulator of its own). Absent: it ran alone.
   */
  ranBeside?: string[];
}

/**
 * The content modes of the dense step: the default (`fidelity`, whose figures are targets:
 * requests per item, cost) gets every run, alone; `mime` and `both` the full backup only
 * (requests per item and makespan by mode, for comparison), beside each other (bench/run.ts):
 * a simulator each, so that their requests are counted apart.
 */
export const DENSE_OTHER_MODES = ["mime", "both"] as const;
