/**
 * The archive's key layout as far as the deployment needs it (lifecycle rules, IAM scopes, the
 * Athena table). It mirrors lib/archive (see docs/archive-format.md); keep the two in step.
 */
export const ARCHIVE_LAYOUT = {
  /** Content-addressed MIME blobs: `blobs/sha256/<aa>/<bb>/<sha256>.eml`. */
  blobs: "blobs/",
  /** Temporary upload keys of large blobs, before they are copied to their content address. */
  staging: "staging/",
  /** JSON Lines catalog, Hive-style: `catalog/mailbox=<id>/job=<id>/folder=<id>/part-<u>-<p>.jsonl`. */
  catalog: "catalog/",
  /** Compacted mailbox views: `snapshots/mailbox=<id>/job=<id>.jsonl`. */
  snapshots: "snapshots/",
  /** Job manifests: `jobs/<jobId>/manifest.json`. */
  jobs: "jobs/",
  /** Job reports: `reports/<jobId>/report.json`. */
  reports: "reports/",
  /** The search index: `index/search/job=<jobId>.json` and its segments under `index/search/segments/`. */
  searchIndex: "index/search/",
} as const;
