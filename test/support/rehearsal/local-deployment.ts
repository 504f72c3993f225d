/**
 * "Deploys" a synthesized template to the local emulators, as CloudFormation would to an account:
 * every bucket, table and queue of the template is created (with the template's key schema, queue
 * attributes and redrive policy), every other resource gets the physical name and ARN AWS would
 * give it, and every intrinsic function is resolved against those names. What comes out is what a
 * rehearsal needs: each function as the template defines it (bundle, handler, memory, timeout,
 * environment, role), each role's policies, and the bucket, key and queue policies.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type AttributeDefinition,
  CreateTableCommand,
  type KeySchemaElement,
} from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { AwsClients } from "../../../lib/aws/clients.js";
import {
  type CfnTemplate,
  type PhysicalResource,
  type Pseudo,
  referencedId,
  resolveIntrinsics,
  resourcesOfType,
} from "./template.js";

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface DeployedRole {
  logicalId: string;
  name: string;
  arn: string;
  /** Inline policies attached to the role (the stack attaches no managed policy). */
  policies: Array<{ logicalId: string; document: PolicyDocument }>;
}

export interface DeployedFunction {
  logicalId: string;
  /** The construct id (`Coordinator`, `Controller`, `Sweep`). */
  name: string;
  functionName: string;
  arn: string;
  /** The bundle file and its export, from `Handler` (e.g. `index.handler`). */
  handlerFile: string;
  handlerExport: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** The template's environment, every reference resolved. */
  environment: Record<string, string>;
  role: DeployedRole;
  logGroupArn: string;
  tracing: boolean;
  /** Asynchronous invocation settings (EventInvokeConfig), when the template has them. */
  async?: { retryAttempts: number; onFailureArn?: string };
  reservedConcurrency?: number;
}

export interface DeployedBucket {
  logicalId: string;
  name: string;
  arn: string;
  kmsKeyArn?: string;
  bucketKey: boolean;
  policy?: PolicyDocument;
}

export interface DeployedQueue {
  logicalId: string;
  name: string;
  url: string;
  arn: string;
  kmsKeyArn?: string;
  policy?: PolicyDocument;
  visibilityTimeoutSeconds: number;
  maxReceiveCount?: number;
}

export interface DeployedTable {
  logicalId: string;
  name: string;
  arn: string;
  kmsKeyArn?: string;
}

export interface DeployedKey {
  logicalId: string;
  arn: string;
  policy: PolicyDocument;
}

export interface EventSourceMapping {
  logicalId: string;
  functionLogicalId: string;
  queueArn: string;
  batchSize: number;
  maxConcurrency: number;
  reportBatchItemFailures: boolean;
}

export interface LocalDeployment {
  stackName: string;
  pseudo: Pseudo;
  template: CfnTemplate;
  functions: Map<string, DeployedFunction>;
  roles: Map<string, DeployedRole>;
  buckets: Map<string, DeployedBucket>;
  queues: Map<string, DeployedQueue>;
  tables: Map<string, DeployedTable>;
  keys: Map<string, DeployedKey>;
  eventSourceMappings: EventSourceMapping[];
  /** Resolves intrinsic functions of this deployment. */
  resolve<T = unknown>(value: unknown): T;
  /** The function of a construct id (`Controller`). */
  fn(name: string): DeployedFunction;
  bucketByName(name: string): DeployedBucket | undefined;
  queueByUrl(url: string): DeployedQueue | undefined;
  queueByArn(arn: string): DeployedQueue | undefined;
  tableByName(name: string): DeployedTable | undefined;
}

const short = (text: string, max: number) =>
  text.length <= max
    ? text
    : `${text.slice(0, max - 9)}-${createHash("sha256").update(text).digest("hex").slice(0, 8)}`;

/** A GUID derived from a logical id, as KMS would generate one. */
function guid(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function constructName(template: CfnTemplate, logicalId: string): string {
  const path = String(template.Resources[logicalId]?.Metadata?.["aws:cdk:path"] ?? logicalId);
  return path.split("/")[1] ?? logicalId;
}

/**
 * The physical names and ARNs AWS would give the template's resources in `pseudo`'s account and
 * region (queue URLs are filled in by whoever creates the queues).
 */
export function nameResources(
  template: CfnTemplate,
  stackName: string,
  pseudo: Pseudo,
): Map<string, PhysicalResource> {
  const { account, region, partition } = pseudo;
  const physical = new Map<string, PhysicalResource>();
  const name = (logicalId: string, max = 64) => short(`${stackName}-${logicalId}`, max);
  for (const [id, r] of Object.entries(template.Resources)) {
    switch (r.Type) {
      case "AWS::S3::Bucket": {
        const bucket = short(`${stackName}-${id}`.toLowerCase(), 63);
        physical.set(id, {
          ref: bucket,
          attributes: { Arn: `arn:${partition}:s3:::${bucket}`, DomainName: `${bucket}.s3.amazonaws.com` },
        });
        break;
      }
      case "AWS::DynamoDB::Table": {
        const table = name(id, 255);
        physical.set(id, {
          ref: table,
          attributes: { Arn: `arn:${partition}:dynamodb:${region}:${account}:table/${table}` },
        });
        break;
      }
      case "AWS::KMS::Key": {
        const keyId = guid(`${stackName}/${id}`);
        physical.set(id, {
          ref: keyId,
          attributes: { Arn: `arn:${partition}:kms:${region}:${account}:key/${keyId}`, KeyId: keyId },
        });
        break;
      }
      case "AWS::IAM::Role": {
        const role = name(id);
        physical.set(id, {
          ref: role,
          attributes: { Arn: `arn:${partition}:iam::${account}:role/${role}`, RoleId: guid(role) },
        });
        break;
      }
      case "AWS::Lambda::Function": {
        const fn = name(id);
        physical.set(id, {
          ref: fn,
          attributes: { Arn: `arn:${partition}:lambda:${region}:${account}:function:${fn}` },
        });
        break;
      }
      case "AWS::Logs::LogGroup": {
        const group = `/aws/lambda/${name(id)}`;
        physical.set(id, {
          ref: group,
          attributes: { Arn: `arn:${partition}:logs:${region}:${account}:log-group:${group}:*` },
        });
        break;
      }
      case "AWS::SNS::Topic": {
        const topic = name(id, 256);
        physical.set(id, {
          ref: `arn:${partition}:sns:${region}:${account}:${topic}`,
          attributes: { TopicName: topic, TopicArn: `arn:${partition}:sns:${region}:${account}:${topic}` },
        });
        break;
      }
      case "AWS::Events::Rule": {
        const rule = name(id);
        physical.set(id, {
          ref: rule,
          attributes: { Arn: `arn:${partition}:events:${region}:${account}:rule/${rule}` },
        });
        break;
      }
      case "AWS::SQS::Queue": {
        const queue = name(id, 80);
        // The URL comes from the emulator below.
        physical.set(id, {
          ref: "",
          attributes: { Arn: `arn:${partition}:sqs:${region}:${account}:${queue}`, QueueName: queue },
        });
        break;
      }
      case "AWS::Athena::WorkGroup":
      case "AWS::Glue::Database":
      case "AWS::Glue::Table":
      case "AWS::IAM::ManagedPolicy":
        physical.set(id, { ref: name(id), attributes: {} });
        break;
    }
  }

  return physical;
}

export async function deployLocally(opts: {
  template: CfnTemplate;
  assemblyDir: string;
  stackName: string;
  pseudo: Pseudo;
  clients: AwsClients;
}): Promise<LocalDeployment> {
  const { template, pseudo, stackName, clients } = opts;
  const { account, region, partition } = pseudo;
  // Names first: policies and environments refer to one another.
  const physical = nameResources(template, stackName, pseudo);
  const resolve = <T>(value: unknown) => resolveIntrinsics(value, pseudo, (id) => physical.get(id)) as T;

  // The queues, dead-letter queues first (a redrive policy names one).
  const queueIds = resourcesOfType(template, "AWS::SQS::Queue").sort((a, b) => {
    const redrive = (id: string) => (template.Resources[id]?.Properties?.RedrivePolicy ? 1 : 0);
    return redrive(a) - redrive(b);
  });
  const emulatorArns = new Map<string, string>();
  const queues = new Map<string, DeployedQueue>();
  for (const id of queueIds) {
    const props = template.Resources[id]!.Properties ?? {};
    const queueName = physical.get(id)!.attributes.QueueName!;
    const attributes: Record<string, string> = {};
    if (props.VisibilityTimeout !== undefined) attributes.VisibilityTimeout = String(props.VisibilityTimeout);
    if (props.MessageRetentionPeriod !== undefined) {
      attributes.MessageRetentionPeriod = String(props.MessageRetentionPeriod);
    }
    const redrive = props.RedrivePolicy as
      | { deadLetterTargetArn: unknown; maxReceiveCount: number }
      | undefined;
    if (redrive) {
      const dlq = referencedId(redrive.deadLetterTargetArn)!;
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: emulatorArns.get(dlq),
        maxReceiveCount: redrive.maxReceiveCount,
      });
    }
    const created = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }),
    );
    const url = created.QueueUrl!;
    const arnAnswer = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
    );
    emulatorArns.set(id, arnAnswer.Attributes!.QueueArn!);
    physical.get(id)!.ref = url;
    queues.set(id, {
      logicalId: id,
      name: queueName,
      url,
      arn: physical.get(id)!.attributes.Arn!,
      ...(props.KmsMasterKeyId ? { kmsKeyArn: resolve<string>(props.KmsMasterKeyId) } : {}),
      visibilityTimeoutSeconds: Number(props.VisibilityTimeout ?? 30),
      ...(redrive ? { maxReceiveCount: redrive.maxReceiveCount } : {}),
    });
  }

  const buckets = new Map<string, DeployedBucket>();
  for (const id of resourcesOfType(template, "AWS::S3::Bucket")) {
    const props = template.Resources[id]!.Properties ?? {};
    const bucketName = physical.get(id)!.ref;
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    const sse = (
      props.BucketEncryption as
        | {
            ServerSideEncryptionConfiguration: Array<{
              BucketKeyEnabled?: boolean;
              ServerSideEncryptionByDefault: { SSEAlgorithm: string; KMSMasterKeyID?: unknown };
            }>;
          }
        | undefined
    )?.ServerSideEncryptionConfiguration[0];
    const kms = sse?.ServerSideEncryptionByDefault.KMSMasterKeyID;
    buckets.set(id, {
      logicalId: id,
      name: bucketName,
      arn: physical.get(id)!.attributes.Arn!,
      ...(kms ? { kmsKeyArn: resolve<string>(kms) } : {}),
      bucketKey: sse?.BucketKeyEnabled === true,
    });
  }

  const tables = new Map<string, DeployedTable>();
  for (const id of resourcesOfType(template, "AWS::DynamoDB::Table")) {
    const props = template.Resources[id]!.Properties ?? {};
    const tableName = physical.get(id)!.ref;
    // The template's own key schema: a table the code cannot use fails here, not on AWS.
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: props.KeySchema as KeySchemaElement[],
        AttributeDefinitions: props.AttributeDefinitions as AttributeDefinition[],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const sse = props.SSESpecification as { KMSMasterKeyId?: unknown } | undefined;
    tables.set(id, {
      logicalId: id,
      name: tableName,
      arn: physical.get(id)!.attributes.Arn!,
      ...(sse?.KMSMasterKeyId ? { kmsKeyArn: resolve<string>(sse.KMSMasterKeyId) } : {}),
    });
  }

  const keys = new Map<string, DeployedKey>();
  for (const id of resourcesOfType(template, "AWS::KMS::Key")) {
    keys.set(id, {
      logicalId: id,
      arn: physical.get(id)!.attributes.Arn!,
      policy: resolve<PolicyDocument>(template.Resources[id]!.Properties!.KeyPolicy),
    });
  }

  for (const id of resourcesOfType(template, "AWS::S3::BucketPolicy")) {
    const props = template.Resources[id]!.Properties!;
    const bucket = buckets.get(referencedId(props.Bucket)!);
    if (bucket) bucket.policy = resolve<PolicyDocument>(props.PolicyDocument);
  }
  for (const id of resourcesOfType(template, "AWS::SQS::QueuePolicy")) {
    const props = template.Resources[id]!.Properties!;
    const document = resolve<PolicyDocument>(props.PolicyDocument);
    for (const queue of props.Queues as unknown[]) {
      const q = queues.get(referencedId(queue)!);
      if (q) q.policy = { Statement: [...(q.policy?.Statement ?? []), ...document.Statement] };
    }
  }

  const roles = new Map<string, DeployedRole>();
  for (const id of resourcesOfType(template, "AWS::IAM::Role")) {
    roles.set(id, {
      logicalId: id,
      name: physical.get(id)!.ref,
      arn: physical.get(id)!.attributes.Arn!,
      policies: [],
    });
  }
  for (const id of resourcesOfType(template, "AWS::IAM::Policy")) {
    const props = template.Resources[id]!.Properties!;
    for (const role of (props.Roles as unknown[]) ?? []) {
      roles
        .get(referencedId(role)!)
        ?.policies.push({ logicalId: id, document: resolve(props.PolicyDocument) });
    }
  }

  const asyncConfigs = new Map<string, DeployedFunction["async"]>();
  for (const id of resourcesOfType(template, "AWS::Lambda::EventInvokeConfig")) {
    const props = template.Resources[id]!.Properties!;
    const destination = (props.DestinationConfig as { OnFailure?: { Destination: unknown } } | undefined)
      ?.OnFailure;
    asyncConfigs.set(referencedId(props.FunctionName)!, {
      retryAttempts: Number(props.MaximumRetryAttempts ?? 2),
      ...(destination ? { onFailureArn: resolve<string>(destination.Destination) } : {}),
    });
  }

  const functions = new Map<string, DeployedFunction>();
  for (const id of resourcesOfType(template, "AWS::Lambda::Function")) {
    const props = template.Resources[id]!.Properties!;
    const code = props.Code as { S3Key?: string };
    const assetDir = join(opts.assemblyDir, `asset.${String(code.S3Key).replace(/\.zip$/, "")}`);
    const [file, handlerExport] = String(props.Handler).split(".") as [string, string];
    const handlerFile = [".mjs", ".js"]
      .map((ext) => join(assetDir, `${file}${ext}`))
      .find((f) => existsSync(f));
    if (!handlerFile) throw new Error(`function ${id}: no bundle ${file}.mjs or .js in ${assetDir}`);
    const role = roles.get(referencedId(props.Role)!)!;
    const logGroup = referencedId((props.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup);
    const asyncConfig = asyncConfigs.get(id);
    functions.set(id, {
      logicalId: id,
      name: constructName(template, id),
      functionName: physical.get(id)!.ref,
      arn: physical.get(id)!.attributes.Arn!,
      handlerFile,
      handlerExport,
      memoryMb: Number(props.MemorySize ?? 128),
      timeoutSeconds: Number(props.Timeout ?? 3),
      environment: resolve<Record<string, string>>(
        (props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
      ),
      role,
      logGroupArn: logGroup
        ? physical.get(logGroup)!.attributes.Arn!
        : `arn:${partition}:logs:${region}:${account}:log-group:/aws/lambda/${physical.get(id)!.ref}:*`,
      tracing: (props.TracingConfig as { Mode?: string } | undefined)?.Mode === "Active",
      ...(asyncConfig ? { async: asyncConfig } : {}),
      ...(props.ReservedConcurrentExecutions !== undefined
        ? { reservedConcurrency: Number(props.ReservedConcurrentExecutions) }
        : {}),
    });
  }

  const eventSourceMappings = resourcesOfType(template, "AWS::Lambda::EventSourceMapping").map((id) => {
    const props = template.Resources[id]!.Properties!;
    return {
      logicalId: id,
      functionLogicalId: referencedId(props.FunctionName)!,
      queueArn: resolve<string>(props.EventSourceArn),
      batchSize: Number(props.BatchSize ?? 10),
      maxConcurrency: Number(
        (props.ScalingConfig as { MaximumConcurrency?: number } | undefined)?.MaximumConcurrency ?? 1000,
      ),
      reportBatchItemFailures: ((props.FunctionResponseTypes as string[] | undefined) ?? []).includes(
        "ReportBatchItemFailures",
      ),
    };
  });

  const byName = <T extends { name: string }>(m: Map<string, T>, n: string) =>
    [...m.values()].find((x) => x.name === n);
  return {
    stackName,
    pseudo,
    template,
    functions,
    roles,
    buckets,
    queues,
    tables,
    keys,
    eventSourceMappings,
    resolve,
    fn(constructId) {
      const found = [...functions.values()].find((f) => f.name === constructId);
      if (!found) throw new Error(`no function ${constructId} in the template`);
      return found;
    },
    bucketByName: (n) => byName(buckets, n),
    queueByUrl: (url) => [...queues.values()].find((q) => q.url === url),
    queueByArn: (arn) => [...queues.values()].find((q) => q.arn === arn),
    tableByName: (n) => byName(tables, n),
  };
}
