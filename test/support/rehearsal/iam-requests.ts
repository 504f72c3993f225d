/**
 * What IAM authorizes for each recorded AWS call: the action, the resource ARN as AWS forms it,
 * the condition keys the request carries (encryption headers, If-None-Match, the copy source, the
 * listed prefix), and the KMS requests the service makes with the caller's permissions (S3, SQS,
 * DynamoDB and Secrets Manager each decrypt or generate data keys "via" themselves, which is what
 * `kms:ViaService` conditions see). A call the table does not know fails loudly, so a new kind of
 * call cannot slip past the rehearsal.
 */
import type { RecordedCall } from "./lambda-emulator.js";
import type { LocalDeployment, PolicyDocument } from "./local-deployment.js";

export type ContextValue = string | string[];

export interface IamRequest {
  call: RecordedCall;
  /** The service that makes this request for the caller (`s3.amazonaws.com` for S3's KMS calls). */
  via?: string;
  action: string;
  resource: string;
  context: Record<string, ContextValue>;
  /** The resource's own policy: the bucket, queue or key policy of the template, or a stand-in. */
  resourcePolicy?: PolicyDocument;
  resourceAccount: string;
}

export class UnknownCallError extends Error {
  override name = "UnknownCallError";
}

export interface RequestMappingOptions {
  deployment: LocalDeployment;
  /** KMS key of each Secrets Manager secret that has its own (outside the stack). */
  secretKeys?: Record<string, string>;
}

/**
 * The policy AWS gives a key created without one: the account decides through IAM. Stands in for
 * keys outside the stack (the key of a secret), whose policies the rehearsal cannot see.
 */
export function defaultKeyPolicy(account: string, partition: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Enable IAM User Permissions",
        Effect: "Allow",
        Principal: { AWS: `arn:${partition}:iam::${account}:root` },
        Action: "kms:*",
        Resource: "*",
      },
    ],
  };
}

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

export function iamRequestsFor(call: RecordedCall, opts: RequestMappingOptions): IamRequest[] {
  const dep = opts.deployment;
  const { account, region, partition } = dep.pseudo;
  const base = { call, resourceAccount: account };
  const unknown = (what: string): never => {
    throw new UnknownCallError(
      `${call.fn}: ${call.service} ${call.command}: ${what} (test/support/rehearsal/iam-requests.ts maps the calls the rehearsal knows)`,
    );
  };
  const keyPolicy = (keyArn: string) =>
    [...dep.keys.values()].find((k) => k.arn === keyArn)?.policy ?? defaultKeyPolicy(account, partition);
  const kms = (
    service: string,
    serviceRegion: string,
    keyArn: string | undefined,
    actions: string[],
    encryptionContext: Record<string, string>,
  ): IamRequest[] =>
    keyArn
      ? actions.map((action) => ({
          ...base,
          via: `${service}.amazonaws.com`,
          action,
          resource: keyArn,
          context: {
            "kms:ViaService": `${service}.${serviceRegion}.amazonaws.com`,
            "kms:CallerAccount": account,
            "aws:ViaAWSService": "true",
            "aws:CalledVia": [`${service}.amazonaws.com`],
            ...Object.fromEntries(
              Object.entries(encryptionContext).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]),
            ),
          },
          resourcePolicy: keyPolicy(keyArn),
        }))
      : [];
  const input = call.input;

  switch (call.service) {
    case "S3": {
      const bucketName = str(input.Bucket) ?? unknown("no bucket");
      const bucket = dep.bucketByName(bucketName) ?? unknown(`bucket ${bucketName} is not in the stack`);
      const objectArn = (key: string) => `${bucket.arn}/${key}`;
      const key = str(input.Key);
      const s3 = (
        action: string,
        resource: string,
        context: Record<string, ContextValue> = {},
      ): IamRequest => ({
        ...base,
        action,
        resource,
        context,
        ...(bucket.policy ? { resourcePolicy: bucket.policy } : {}),
      });
      // Headers S3 turns into condition keys, on the requests that carry them.
      const sseHeaders = (): Record<string, string> => ({
        ...(str(input.ServerSideEncryption)
          ? { "s3:x-amz-server-side-encryption": str(input.ServerSideEncryption)! }
          : {}),
        ...(str(input.SSEKMSKeyId)
          ? { "s3:x-amz-server-side-encryption-aws-kms-key-id": str(input.SSEKMSKeyId)! }
          : {}),
        ...(str(input.SSECustomerAlgorithm)
          ? { "s3:x-amz-server-side-encryption-customer-algorithm": str(input.SSECustomerAlgorithm)! }
          : {}),
      });
      const conditional = (): Record<string, string> =>
        str(input.IfNoneMatch) ? { "s3:if-none-match": str(input.IfNoneMatch)! } : {};
      const writeKey = () =>
        str(input.SSECustomerAlgorithm) ? undefined : (str(input.SSEKMSKeyId) ?? bucket.kmsKeyArn);
      const s3Kms = (keyArn: string | undefined, actions: string[], objectKey: string, inBucket = bucket) =>
        kms("s3", region, keyArn, actions, {
          // With an S3 Bucket Key the encryption context is the bucket's ARN.
          "aws:s3:arn": inBucket.bucketKey ? inBucket.arn : `${inBucket.arn}/${objectKey}`,
        });
      const ok = call.outcome?.ok !== false;
      switch (call.command) {
        case "PutObjectCommand":
          return [
            s3("s3:PutObject", objectArn(key!), {
              ...sseHeaders(),
              ...conditional(),
              "s3:ObjectCreationOperation": "true",
            }),
            ...s3Kms(writeKey(), ["kms:GenerateDataKey"], key!),
          ];
        case "CreateMultipartUploadCommand":
          return [
            s3("s3:PutObject", objectArn(key!), { ...sseHeaders(), "s3:ObjectCreationOperation": "false" }),
            ...s3Kms(writeKey(), ["kms:GenerateDataKey"], key!),
          ];
        case "UploadPartCommand":
          return [
            s3("s3:PutObject", objectArn(key!), { "s3:ObjectCreationOperation": "false" }),
            ...s3Kms(bucket.kmsKeyArn, ["kms:GenerateDataKey"], key!),
          ];
        case "CompleteMultipartUploadCommand":
          // S3 reads the encrypted parts back to assemble the object.
          return [
            s3("s3:PutObject", objectArn(key!), { ...conditional(), "s3:ObjectCreationOperation": "true" }),
            ...s3Kms(bucket.kmsKeyArn, ["kms:Decrypt"], key!),
          ];
        case "AbortMultipartUploadCommand":
          return [s3("s3:AbortMultipartUpload", objectArn(key!))];
        case "CopyObjectCommand": {
          const source = decodeURIComponent(str(input.CopySource) ?? unknown("no copy source")).replace(
            /^\//,
            "",
          );
          const slash = source.indexOf("/");
          const sourceBucket =
            dep.bucketByName(source.slice(0, slash)) ?? unknown(`copy source ${source} is not in the stack`);
          const sourceKey = source.slice(slash + 1);
          return [
            s3("s3:PutObject", objectArn(key!), {
              ...sseHeaders(),
              ...conditional(),
              "s3:x-amz-copy-source": str(input.CopySource)!,
              "s3:ObjectCreationOperation": "true",
            }),
            {
              ...base,
              action: "s3:GetObject",
              resource: `${sourceBucket.arn}/${sourceKey}`,
              context: {},
              ...(sourceBucket.policy ? { resourcePolicy: sourceBucket.policy } : {}),
            },
            ...s3Kms(sourceBucket.kmsKeyArn, ["kms:Decrypt"], sourceKey, sourceBucket),
            ...s3Kms(writeKey(), ["kms:GenerateDataKey"], key!),
          ];
        }
        case "GetObjectCommand":
          return [
            s3("s3:GetObject", objectArn(key!)),
            ...(ok ? s3Kms(bucket.kmsKeyArn, ["kms:Decrypt"], key!) : []),
          ];
        case "HeadObjectCommand":
          // A HEAD of a missing key answers 404 only with ListBucket on the bucket (else 403).
          return [
            s3("s3:GetObject", objectArn(key!)),
            ...(call.outcome?.status === 404 ? [s3("s3:ListBucket", bucket.arn)] : []),
          ];
        case "ListObjectsV2Command":
          return [
            s3(
              "s3:ListBucket",
              bucket.arn,
              str(input.Prefix) !== undefined ? { "s3:prefix": str(input.Prefix)! } : {},
            ),
          ];
        case "DeleteObjectCommand":
          return [s3("s3:DeleteObject", objectArn(key!))];
      }
      return unknown("no IAM mapping for this S3 command");
    }
    case "SQS": {
      const url = str(input.QueueUrl) ?? unknown("no queue URL");
      const queue = dep.queueByUrl(url) ?? unknown(`queue ${url} is not in the stack`);
      const sqs = (action: string): IamRequest => ({
        ...base,
        action,
        resource: queue.arn,
        context: {},
        ...(queue.policy ? { resourcePolicy: queue.policy } : {}),
      });
      const sqsKms = (actions: string[]) =>
        kms("sqs", region, queue.kmsKeyArn, actions, { "aws:sqs:arn": queue.arn });
      switch (call.command) {
        case "SendMessageCommand":
        case "SendMessageBatchCommand":
          return [sqs("sqs:SendMessage"), ...sqsKms(["kms:GenerateDataKey", "kms:Decrypt"])];
        case "ReceiveMessageCommand":
          return [
            sqs("sqs:ReceiveMessage"),
            ...((call.outcome?.messages ?? 0) > 0 ? sqsKms(["kms:Decrypt"]) : []),
          ];
        case "DeleteMessageCommand":
        case "DeleteMessageBatchCommand":
          return [sqs("sqs:DeleteMessage")];
        case "ChangeMessageVisibilityCommand":
        case "ChangeMessageVisibilityBatchCommand":
          return [sqs("sqs:ChangeMessageVisibility")];
        case "GetQueueAttributesCommand":
          return [sqs("sqs:GetQueueAttributes")];
      }
      return unknown("no IAM mapping for this SQS command");
    }
    case "DynamoDB": {
      const tableRequests = (tableName: string, actions: string[]): IamRequest[] => {
        const table = dep.tableByName(tableName) ?? unknown(`table ${tableName} is not in the stack`);
        const resource = str(input.IndexName) ? `${table.arn}/index/${str(input.IndexName)}` : table.arn;
        return [
          ...actions.map((action) => ({ ...base, action, resource, context: {} })),
          // DynamoDB decrypts the table key with the caller's permission.
          ...kms("dynamodb", region, table.kmsKeyArn, ["kms:Decrypt"], {
            "aws:dynamodb:tableName": table.name,
            "aws:dynamodb:subscriberId": account,
          }),
        ];
      };
      const single: Record<string, string> = {
        GetItemCommand: "dynamodb:GetItem",
        GetCommand: "dynamodb:GetItem",
        PutItemCommand: "dynamodb:PutItem",
        PutCommand: "dynamodb:PutItem",
        UpdateItemCommand: "dynamodb:UpdateItem",
        UpdateCommand: "dynamodb:UpdateItem",
        DeleteItemCommand: "dynamodb:DeleteItem",
        DeleteCommand: "dynamodb:DeleteItem",
        QueryCommand: "dynamodb:Query",
        ScanCommand: "dynamodb:Scan",
        DescribeTableCommand: "dynamodb:DescribeTable",
      };
      const batch: Record<string, string> = {
        BatchWriteItemCommand: "dynamodb:BatchWriteItem",
        BatchWriteCommand: "dynamodb:BatchWriteItem",
        BatchGetItemCommand: "dynamodb:BatchGetItem",
        BatchGetCommand: "dynamodb:BatchGetItem",
      };
      const perItem: Record<string, string> = {
        Put: "dynamodb:PutItem",
        Update: "dynamodb:UpdateItem",
        Delete: "dynamodb:DeleteItem",
        ConditionCheck: "dynamodb:ConditionCheckItem",
        Get: "dynamodb:GetItem",
      };
      if (single[call.command]) return tableRequests(str(input.TableName)!, [single[call.command]!]);
      if (batch[call.command]) {
        return (input.RequestTables as string[]).flatMap((t) => tableRequests(t, [batch[call.command]!]));
      }
      if (/^Transact(Write|Get)(Items)?Command$/.test(call.command)) {
        // IAM authorizes a transaction item by item, each as the operation it holds.
        const items = input.TransactItems as Array<{ kind: string; TableName: string }>;
        const byTable = new Map<string, Set<string>>();
        for (const item of items) {
          const action = perItem[item.kind] ?? unknown(`transaction item ${item.kind}`);
          byTable.set(item.TableName, (byTable.get(item.TableName) ?? new Set()).add(action));
        }
        return [...byTable].flatMap(([t, actions]) => tableRequests(t, [...actions]));
      }
      return unknown("no IAM mapping for this DynamoDB command");
    }
    case "Secrets Manager": {
      if (call.command !== "GetSecretValueCommand")
        return unknown("no IAM mapping for this Secrets Manager command");
      const secretArn = str(input.SecretId)!;
      const secretRegion = secretArn.split(":")[3]!;
      return [
        { ...base, action: "secretsmanager:GetSecretValue", resource: secretArn, context: {} },
        ...kms("secretsmanager", secretRegion, opts.secretKeys?.[secretArn], ["kms:Decrypt"], {
          SecretARN: secretArn,
          SecretVersionId: "00000000-0000-0000-0000-000000000001",
        }),
      ];
    }
    case "CloudWatch Logs": {
      const group = str(input.logGroupArn)!.replace(/:\*$/, "");
      const action = call.command === "CreateLogStreamCommand" ? "logs:CreateLogStream" : "logs:PutLogEvents";
      return [
        { ...base, action, resource: `${group}:log-stream:2026/01/01/[$LATEST]rehearsal`, context: {} },
      ];
    }
    case "XRay":
      return ["xray:PutTraceSegments", "xray:PutTelemetryRecords"].map((action) => ({
        ...base,
        action,
        resource: "*",
        context: {},
      }));
  }
  return unknown("a service the rehearsal does not know");
}
