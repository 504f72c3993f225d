/**
 * The metrics contract between the functions and the dashboard/alarms. The functions write them
 * in CloudWatch Embedded Metric Format (one JSON log line with an `_aws` block) with namespace
 * {@link METRICS_NAMESPACE} and one dimension `Stage` = the `MAILSTREAM_STAGE` environment
 * variable, so that side-by-side deployments never mix their numbers.
 */
export const METRICS_NAMESPACE = "Mailstream";
export const STAGE_DIMENSION = "Stage";
/** Environment variable holding the stage name (the `Stage` dimension value). */
export const STAGE_ENV = "MAILSTREAM_STAGE";

export const METRIC = {
  /** Messages stored (new or changed), Count, emitted by the controller per page. */
  itemsStored: "ItemsStored",
  /** MIME bytes stored, Bytes, emitted by the controller per page. */
  bytesStored: "BytesStored",
  /** Graph answers 429/503 (throttled), Count, emitted by the controller. */
  throttled: "Throttled",
  /** Streams of running jobs, Count (gauge), emitted by the sweep. */
  activeStreams: "ActiveStreams",
  /** Units or items that failed and were recorded in the job report, Count. */
  errors: "Errors",
  /** Jobs finalized as succeeded, Count, emitted by whoever finalizes (controller or sweep). */
  jobsSucceeded: "JobsSucceeded",
  /** Jobs finalized as failed (or partially failed), Count. */
  jobsFailed: "JobsFailed",
} as const;
