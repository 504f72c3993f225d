/**
 * The AWS prices the benchmark's cost figures use: one table, one region, one date. Every dollar
 * figure of bench/results/latest.json, the README's benchmark table and docs/deploy.md's estimate
 * comes from these numbers times counted operations (bench/cost/price-run.ts). When AWS changes a
 * price, change it here, run `npm run bench` and `npx tsx bench/cost/deploy-estimate.ts --write`.
 *
 * Region us-east-1 (N. Virginia), on-demand, list prices without free tiers or volume tiers beyond
 * the first, as published on the AWS pricing pages below on {@link PRICES.asOf}.
 */
export const PRICES = {
  region: "us-east-1",
  asOf: "2026-12-06",
  sources: {
    lambda: "https://aws.amazon.com/lambda/pricing/",
    s3: "https://aws.amazon.com/s3/pricing/",
    dynamodb: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    sqs: "https://aws.amazon.com/sqs/pricing/",
    kms: "https://aws.amazon.com/kms/pricing/",
  },
  lambda: {
    /** Arm64 (Graviton) duration, first tier: dollars per GB-second (memory in GB × seconds). */
    perGbSecondArm64: 0.0000133334,
    /** Dollars per million invocations. */
    perMillionRequests: 0.2,
  },
  s3: {
    /** PUT, COPY, POST, LIST requests (and UploadPart, CreateMultipartUpload, CompleteMultipartUpload): dollars per 1,000. */
    perThousandPutClass: 0.005,
    /** GET, HEAD and all other requests that are not free: dollars per 1,000. */
    perThousandGetClass: 0.0004,
    /** S3 Standard storage, first 50 TB: dollars per GB-month. */
    standardPerGbMonth: 0.023,
    /** S3 Standard-Infrequent Access storage (128 KiB minimum billable object size): dollars per GB-month. */
    standardIaPerGbMonth: 0.0125,
    /** S3 Glacier Instant Retrieval storage (128 KiB minimum): dollars per GB-month. */
    glacierIrPerGbMonth: 0.004,
    /** Lifecycle transition into Standard-IA: dollars per 1,000 objects. */
    perThousandTransitionsToIa: 0.01,
    /** Lifecycle transition into Glacier Instant Retrieval: dollars per 1,000 objects. */
    perThousandTransitionsToGlacierIr: 0.02,
  },
  dynamodb: {
    /** On-demand write request units: dollars per million. */
    perMillionWriteUnits: 0.625,
    /** On-demand read request units: dollars per million. */
    perMillionReadUnits: 0.125,
  },
  sqs: {
    /** Standard queue requests (each 64 KiB of payload is one request): dollars per million. */
    perMillionRequests: 0.4,
  },
  kms: {
    /** Symmetric key requests (GenerateDataKey, Decrypt, …): dollars per 10,000. */
    perTenThousandRequests: 0.03,
    /** One customer managed key: dollars per month. */
    perKeyMonth: 1,
  },
} as const;

export type Prices = typeof PRICES;

/**
 * S3 operations by billing class. DELETE and abort requests are free; anything not listed is
 * billed as a GET-class request (the cheaper class), and reported by name so that a new operation
 * shows up.
 */
export const S3_PUT_CLASS = new Set([
  "PutObject",
  "CopyObject",
  "CreateMultipartUpload",
  "UploadPart",
  "UploadPartCopy",
  "CompleteMultipartUpload",
  "ListObjectsV2",
  "ListObjects",
  "ListObjectVersions",
  "ListMultipartUploads",
  "ListParts",
  "CreateBucket",
]);
export const S3_FREE = new Set(["DeleteObject", "DeleteObjects", "AbortMultipartUpload"]);

/**
 * How the deployed stack's encryption turns into KMS requests, which S3, DynamoDB and SQS make on
 * the functions' behalf and which are therefore not counted at the SDK: modeled per invocation
 * from the operations it made (bench/cost/price-run.ts `kmsRequests`). Upper bounds: each cache
 * below lives at least as long as an invocation (≤ 15 minutes) and is often reused by the next.
 *
 * - **S3 (SSE-KMS with an S3 Bucket Key)**: S3 derives object keys from a bucket-level key that it
 *   obtains from KMS once per bucket-key lifetime and requester, not per object. Modeled: one
 *   `GenerateDataKey` per invocation that writes to S3 (PutObject, CreateMultipartUpload,
 *   CopyObject) and one `Decrypt` per invocation that reads object data or continues an encrypted
 *   upload (GetObject, CopyObject, UploadPart); a HEAD decrypts nothing.
 * - **DynamoDB (customer managed key)**: DynamoDB caches the table key for up to 5 minutes per
 *   caller. Modeled: one `Decrypt` per invocation that touches the table, per started 5 minutes
 *   of the invocation.
 * - **SQS (customer managed key, data key reuse 1 hour on the stream queue)**: a producer asks for
 *   a data key once per reuse period, a consumer decrypts it once per reuse period. Modeled: one
 *   `GenerateDataKey` per invocation that sends, one `Decrypt` per controller invocation (the batch
 *   Lambda's poller received for it).
 */
export const KMS_MODEL = {
  dynamodbKeyCacheSeconds: 300,
} as const;

/** Jobs and sweeps a month at the stack's default schedules (`rate(4 hours)`, `rate(5 minutes)`), 30-day month. */
export const MONTH_SECONDS = 30 * 24 * 3600;

/**
 * Lambda's SQS event source mapping polls an empty queue with long polls (20 s) from at least 5
 * pollers whatever the traffic: 5 × 3 per minute × 43,200 minutes = 648,000 requests a month, a
 * fixed cost of the deployment (the local event source's polling pattern is not AWS's, so its
 * empty receives are counted but not priced).
 */
export const IDLE_POLLING_REQUESTS_PER_MONTH = 5 * 3 * 60 * 24 * 30;
