/**
 * The metrics the deployed stack's dashboard and alarms read, written as CloudWatch Embedded
 * Metric Format: one JSON line on stdout with an `_aws` block, which CloudWatch Logs turns into
 * metrics without any API call (no extra IAM, no latency on the hot path). Namespace
 * {@link METRICS_NAMESPACE}, one dimension `Stage`, so side-by-side deployments never mix.
 */
import type { UnitProgress, UnitResult } from "../backup/ports.js";
import type { JobReport } from "../backup/report.js";

export const METRICS_NAMESPACE = "Mailstream";
export const STAGE_DIMENSION = "Stage";
/** Environment variable holding the stage name (the `Stage` dimension value). */
export const STAGE_ENV = "MAILSTREAM_STAGE";

export const METRIC = {
  /** Messages stored (new or changed), Count, emitted by the controller per stored page. */
  itemsStored: "ItemsStored",
  /** MIME bytes stored, Bytes, emitted by the controller per stored page. */
  bytesStored: "BytesStored",
  /** Graph answers 429 (throttled), Count, emitted by the controller per stored page. */
  throttled: "Throttled",
  /** Unfinished streams of running jobs, Count (gauge), emitted by every sweep. */
  activeStreams: "ActiveStreams",
  /** Units or items that failed and were recorded in the job report, Count, per finished unit. */
  errors: "Errors",
  /** Jobs finalized as complete, Count, emitted by whoever finalizes. */
  jobsSucceeded: "JobsSucceeded",
  /** Jobs finalized as partial or failed, Count. */
  jobsFailed: "JobsFailed",
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

const UNITS: Record<MetricName, "Count" | "Bytes"> = {
  ItemsStored: "Count",
  BytesStored: "Bytes",
  Throttled: "Count",
  ActiveStreams: "Count",
  Errors: "Count",
  JobsSucceeded: "Count",
  JobsFailed: "Count",
};

export type MetricValues = Partial<Record<MetricName, number>>;

/** Where the pipeline reports its numbers. */
export interface Metrics {
  /** Records the values (zero values included: a 0 keeps a graph continuous); `properties` are searchable log fields, not dimensions. */
  put(values: MetricValues, properties?: Record<string, unknown>): void;
}

export const noMetrics: Metrics = { put: () => {} };

export interface EmfMetricsOptions {
  /** The `Stage` dimension value. */
  stage: string;
  /** Receives each EMF line (no newline). Default: stdout. */
  write?: (line: string) => void;
  /** Clock for the `_aws.Timestamp` field, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** One EMF document: the `_aws` metadata, the dimension value, the metric values, the properties. */
export function emfDocument(
  stage: string,
  values: MetricValues,
  timestamp: number,
  properties: Record<string, unknown> = {},
): Record<string, unknown> {
  const names = (Object.keys(values) as MetricName[]).filter((n) => Number.isFinite(values[n]));
  return {
    ...properties,
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [[STAGE_DIMENSION]],
          Metrics: names.map((Name) => ({ Name, Unit: UNITS[Name] })),
        },
      ],
    },
    [STAGE_DIMENSION]: stage,
    ...Object.fromEntries(names.map((n) => [n, values[n]])),
  };
}

export function createEmfMetrics(options: EmfMetricsOptions): Metrics {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  return {
    put(values, properties) {
      const document = emfDocument(options.stage, values, now(), properties);
      const metrics = (document._aws as { CloudWatchMetrics: Array<{ Metrics: unknown[] }> })
        .CloudWatchMetrics[0]!.Metrics;
      if (metrics.length > 0) write(JSON.stringify(document));
    },
  };
}

/**
 * What a stored page contributes (the checkpoint's delta): stored items and bytes and throttled
 * answers. Counted per checkpoint, as the job report counts them, so a unit continued across
 * invocations is counted whole and once.
 */
export function pageMetrics(delta: Pick<UnitProgress, "items" | "bytes" | "throttled">): MetricValues {
  return {
    [METRIC.itemsStored]: delta.items,
    [METRIC.bytesStored]: delta.bytes,
    [METRIC.throttled]: delta.throttled,
  };
}

/** What a finished unit contributes: its recorded errors, or one error for a unit that failed without any. */
export function unitErrorMetrics(result: Pick<UnitResult, "status" | "errors">): MetricValues {
  const failedUnit = result.status === "failed" && result.errors.length === 0 ? 1 : 0;
  return { [METRIC.errors]: result.errors.length + failedUnit };
}

/** A finalized job counts as succeeded only when complete; partial and failed jobs alarm. */
export function jobMetrics(report: Pick<JobReport, "status">): MetricValues {
  const succeeded = report.status === "complete";
  return { [METRIC.jobsSucceeded]: succeeded ? 1 : 0, [METRIC.jobsFailed]: succeeded ? 0 : 1 };
}
