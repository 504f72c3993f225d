/**
 * How long the search index's objects live (the deployment's lifecycle rule and the build agree
 * on it; a module of its own so that the CDK app imports two numbers, not the index).
 */

/**
 * The age, in days, after which the archive's lifecycle rule expires every object of the search
 * index (infra/constructs/archive.ts `expire-search-index`): superseded segments and manifests of
 * older jobs go; the bucket policy refuses DeleteObject to every function, so nothing else can.
 */
export const SEARCH_INDEX_EXPIRY_DAYS = 60;
/**
 * A build rewrites the live mailboxes of every segment older than this many days into new
 * segments, so that the manifest it writes names only segments at least
 * SEARCH_INDEX_EXPIRY_DAYS − this = 20 days from expiry: while a job runs (and its index task)
 * at least every 20 days, no segment an index needs expires. If none runs for longer, the expired
 * parts of the index are found missing, search scans, and the next build starts afresh.
 */
export const SEGMENT_REWRITE_AFTER_DAYS = 40;
