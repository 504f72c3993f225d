import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/** Where the AWS clients send their requests. All fields optional: the SDK defaults apply on AWS. */
export interface AwsEndpoints {
  /** AWS region, e.g. `eu-west-1`. Default: the SDK's (AWS_REGION), else `us-east-1`. */
  region?: string;
  /** S3 endpoint URL for a local emulator; path-style addressing is used when set. */
  s3?: string;
  /** SQS endpoint URL for a local emulator. */
  sqs?: string;
  /** DynamoDB endpoint URL for DynamoDB Local. */
  dynamodb?: string;
  /** Secrets Manager endpoint URL (tests only). */
  secretsManager?: string;
  /** Static credentials for emulators, which accept any. On AWS leave unset (role credentials). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  /** Document client over {@link dynamodb}: plain JS objects in and out. */
  ddb: DynamoDBDocumentClient;
  secrets: SecretsManagerClient;
  destroy(): void;
}

/** Credentials that local emulators accept; never used when no endpoint is configured. */
export const EMULATOR_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" } as const;

/**
 * The one place where AWS SDK v3 clients are built. Every part of mailstream (Lambda handlers,
 * local runtime, CLI, tests) goes through here so that a local endpoint is a configuration
 * value and nothing else.
 */
export function createAwsClients(endpoints: AwsEndpoints = {}): AwsClients {
  const region = endpoints.region ?? process.env.AWS_REGION ?? "us-east-1";
  const local = Boolean(endpoints.s3 || endpoints.sqs || endpoints.dynamodb);
  const credentials = endpoints.credentials ?? (local ? EMULATOR_CREDENTIALS : undefined);
  const common = { region, ...(credentials ? { credentials } : {}), maxAttempts: 5 };
  const s3 = new S3Client({
    ...common,
    ...(endpoints.s3 ? { endpoint: endpoints.s3, forcePathStyle: true } : {}),
  });
  const sqs = new SQSClient({ ...common, ...(endpoints.sqs ? { endpoint: endpoints.sqs } : {}) });
  const dynamodb = new DynamoDBClient({
    ...common,
    ...(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}),
  });
  const ddb = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  const secrets = new SecretsManagerClient({
    ...common,
    ...(endpoints.secretsManager ? { endpoint: endpoints.secretsManager } : {}),
  });
  return {
    s3,
    sqs,
    dynamodb,
    ddb,
    secrets,
    destroy() {
      s3.destroy();
      sqs.destroy();
      ddb.destroy();
      dynamodb.destroy();
      secrets.destroy();
    },
  };
}
