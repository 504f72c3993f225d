/**
 * The metrics contract between the functions and the dashboard/alarms. Defined once in
 * lib/app/metrics.ts (which writes them as CloudWatch Embedded Metric Format) and re-exported
 * here so that the stack and the code can never disagree on a name.
 */
export {
  METRIC,
  METRICS_NAMESPACE,
  type MetricName,
  STAGE_DIMENSION,
  STAGE_ENV,
} from "../lib/app/metrics.js";
