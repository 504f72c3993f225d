/**
 * A deploy rehearsal: the stack synthesized as `cdk deploy` would (functions bundled by esbuild),
 * "deployed" to local emulators (test/support/rehearsal/local-deployment.ts), its three functions
 * run as the template defines them (lambda-emulator.ts) against a simulated tenant, fed by an
 * event source and schedules that behave like Lambda's, and every AWS call recorded, so it can be
 * decided against the template's policies (evaluate.ts).
 *
 * What the rehearsal adds to a function's environment is only what points it at this machine
 * instead of AWS and Microsoft: the emulator endpoints (MAILSTREAM_S3/SQS/DYNAMODB_ENDPOINT,
 * AWS_ENDPOINT_URL_SECRETS_MANAGER), the simulated tenant's Graph and login URLs (for functions
 * that call Graph) and its CA (NODE_EXTRA_CA_CERTS). Everything else is the template's.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { App } from "aws-cdk-lib";
import { buildMailstream } from "../../../infra/app.js";
import {
  type DeploymentConfig,
  type DeploymentConfigInput,
  parseDeploymentConfig,
} from "../../../infra/config.js";
import { cdkFeatureFlags } from "../../../infra/feature-flags.js";
import { type AwsClients, createAwsClients } from "../../../lib/aws/clients.js";
import { environmentForAwsEndpoints } from "../../../lib/config/aws-endpoints.js";
import { type RunningEmulators, startEmulators } from "../../../lib/dev/local/emulators.js";
import { simulatorTenantEnv } from "../../../lib/dev/local/simulator-env.js";
import { LocalSqsEventSource } from "../../../lib/dev/local/sqs-event-source.js";
import {
  generateTenant,
  type RunningSimulator,
  startSimulator,
  type TenantSpec,
} from "../../../lib/dev/sim/index.js";
import type { SQSBatchResponse, SQSEvent } from "../../../lib/queue/lambda-events.js";
import { StateStore } from "../../../lib/state/index.js";
import { loadTestCa } from "../sim-ca.js";
import { type IamRequest, iamRequestsFor } from "./iam-requests.js";
import {
  CallLog,
  type InvocationResult,
  type InvokeOptions,
  LambdaEmulator,
  type RecordedCommandResult,
  runRecordedCommand,
} from "./lambda-emulator.js";
import { deployLocally, type LocalDeployment } from "./local-deployment.js";
import { replicationRequests } from "./replication.js";
import { type LocalSecretsManager, startLocalSecretsManager } from "./secrets-manager.js";
import type { CfnTemplate } from "./template.js";

const REPO_ROOT = new URL("../../..", import.meta.url).pathname;

export interface SynthesizedStack {
  config: DeploymentConfig;
  stackName: string;
  template: CfnTemplate;
  /** The cloud assembly directory (bundles in `asset.<hash>/`), inside the repository so the
   * bundles resolve `@aws-sdk/*` from its node_modules, as the Lambda runtime provides them. */
  assemblyDir: string;
}

/** Synthesizes the stack of `input` with bundling, as `cdk deploy` does. */
export function synthesizeForDeploy(input: DeploymentConfigInput): SynthesizedStack {
  const config = parseDeploymentConfig(input);
  const root = join(REPO_ROOT, ".mailstream");
  mkdirSync(root, { recursive: true });
  const assemblyDir = mkdtempSync(join(root, "rehearsal-"));
  const app = new App({
    outdir: assemblyDir,
    // Path metadata names each resource's construct (Mailstream-dev/Controller/Function/Resource).
    context: { ...cdkFeatureFlags(), "aws:cdk:enable-path-metadata": true },
    builtinCloudFormationValidation: false,
  });
  const stack = buildMailstream(app, config);
  const assembly = app.synth();
  return {
    config,
    stackName: stack.stackName,
    template: assembly.getStackByName(stack.stackName).template as CfnTemplate,
    assemblyDir,
  };
}

export interface RehearsalOptions {
  tenant: TenantSpec;
}

export interface Rehearsal {
  synthesized: SynthesizedStack;
  deployment: LocalDeployment;
  log: CallLog;
  coordinator: LambdaEmulator;
  controller: LambdaEmulator;
  sweep: LambdaEmulator;
  sim: RunningSimulator;
  secrets: LocalSecretsManager;
  clients: AwsClients;
  state: StateStore;
  tenant: ReturnType<typeof generateTenant>;
  /**
   * Starts the controller's event source mapping as the template defines it (batch size, maximum
   * concurrency, partial batch responses). `budgetMs`: what an invocation's context reports as
   * its remaining time at the start (default: the function's timeout).
   */
  startEventSource(budgetMs?: (event: SQSEvent, fnTimeoutMs: number) => number): Promise<LocalSqsEventSource>;
  /**
   * An asynchronous invocation as Lambda runs one for EventBridge: retried as the function's
   * EventInvokeConfig says, then sent to its on-failure destination (with the function's role).
   */
  invokeAsync(fn: LambdaEmulator, event: unknown, options?: InvokeOptions): Promise<InvocationResult>;
  /** An EventBridge "Scheduled Event" of a rule. */
  scheduledEvent(time?: Date, id?: string): Record<string, unknown>;
  /** Visible messages in a queue of the stack (by logical id prefix, e.g. `StreamQueueTasks`). */
  visibleMessages(queueLogicalIdPrefix: string): Promise<number>;
  /**
   * Runs `mailstream <args>` as an operator who assumed the restore role, with the restore app's
   * identity (the configuration's `restore`): its calls are recorded as the restore role's.
   */
  runAsRestoreRole(args: string[]): Promise<RecordedCommandResult>;
  /** Every recorded call as IAM requests. */
  requests(): IamRequest[];
  stop(): Promise<void>;
}

export async function startRehearsal(
  synthesized: SynthesizedStack,
  options: RehearsalOptions,
): Promise<Rehearsal> {
  const { config } = synthesized;
  const [, , , region, account] = config.secretArn.split(":") as [string, string, string, string, string];
  const pseudo = { account: account!, region: region!, partition: "aws" };
  const cleanup: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const emulators: RunningEmulators = await startEmulators();
    cleanup.push(() => emulators.stop());
    const endpoints = { ...emulators.endpoints, region: pseudo.region };
    const clients = createAwsClients(endpoints);
    cleanup.push(async () => clients.destroy());
    const deployment = await deployLocally({
      template: synthesized.template,
      assemblyDir: synthesized.assemblyDir,
      stackName: synthesized.stackName,
      pseudo,
      clients,
    });

    const clientSecret = randomBytes(24).toString("base64url");
    const restoreSecret = randomBytes(24).toString("base64url");
    const tenant = generateTenant(options.tenant);
    const sim = await startSimulator({
      store: tenant,
      ca: await loadTestCa(),
      clients: [
        { clientId: config.clientId, clientSecret },
        ...(config.restore ? [{ clientId: config.restore.clientId, clientSecret: restoreSecret }] : []),
      ],
    });
    cleanup.push(() => sim.close());
    const secrets = await startLocalSecretsManager({
      [config.secretArn]: JSON.stringify({ clientSecret }),
      ...(config.restore
        ? { [config.restore.secretArn]: JSON.stringify({ clientSecret: restoreSecret }) }
        : {}),
    });
    cleanup.push(() => secrets.stop());

    const { AWS_REGION: _region, ...emulatorEnv } = environmentForAwsEndpoints(endpoints);
    const tenantEnv = simulatorTenantEnv(sim);
    const extraEnv = (environment: Record<string, string>): Record<string, string> => ({
      ...emulatorEnv,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      NODE_EXTRA_CA_CERTS: sim.caCertPath,
      // Only a function that talks to Graph is pointed at the simulated tenant.
      ...(environment.MAILSTREAM_TENANT_ID
        ? {
            MAILSTREAM_GRAPH_BASE_URL: tenantEnv.MAILSTREAM_GRAPH_BASE_URL!,
            MAILSTREAM_AUTHORITY: tenantEnv.MAILSTREAM_AUTHORITY!,
            MAILSTREAM_AUTHORITY_METADATA: tenantEnv.MAILSTREAM_AUTHORITY_METADATA!,
            MAILSTREAM_KNOWN_AUTHORITIES: tenantEnv.MAILSTREAM_KNOWN_AUTHORITIES!,
          }
        : {}),
    });
    const log = new CallLog();
    const emulate = (name: string) => {
      const fn = deployment.fn(name);
      const emulator = new LambdaEmulator(fn, {
        log,
        extraEnv: extraEnv(fn.environment),
        region: pseudo.region,
      });
      cleanup.push(() => emulator.stop());
      return emulator;
    };
    const coordinator = emulate("Coordinator");
    const controller = emulate("Controller");
    const sweep = emulate("Sweep");

    // What Lambda does with a function's role (event source mapping, failure destinations) goes
    // through a client whose calls are recorded as that role's.
    const roleClient = (
      emulator: LambdaEmulator,
      by: "event source mapping" | "async failure destination",
    ) => {
      const sqs = new SQSClient({
        region: pseudo.region,
        endpoint: endpoints.sqs!,
        credentials: endpoints.credentials!,
      });
      sqs.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { QueueUrl?: string };
          const recorded = log.add({
            fn: emulator.fn.name,
            roleArn: emulator.fn.role.arn,
            by,
            service: "SQS",
            command: String(context.commandName),
            input: { QueueUrl: input.QueueUrl },
          });
          try {
            const out = await next(args);
            const output = out.output as { Messages?: unknown[] };
            recorded.outcome = { ok: true, messages: output.Messages?.length ?? 0 };
            return out;
          } catch (error) {
            recorded.outcome = { ok: false, error: (error as Error).name };
            throw error;
          }
        },
        { step: "initialize", name: "rehearsalRecorder" },
      );
      cleanup.push(async () => sqs.destroy());
      return sqs;
    };

    const state = new StateStore({
      ddb: clients.ddb,
      tableName: [...deployment.tables.values()][0]!.name,
      jobTtlDays: config.retention.jobRecordDays,
    });

    const rehearsal: Rehearsal = {
      synthesized,
      deployment,
      log,
      coordinator,
      controller,
      sweep,
      sim,
      secrets,
      clients,
      state,
      tenant,
      async startEventSource(budgetMs) {
        const mapping = deployment.eventSourceMappings.find(
          (m) => m.functionLogicalId === controller.fn.logicalId,
        );
        if (!mapping) throw new Error("the template has no event source mapping for the controller");
        const queue = deployment.queueByArn(mapping.queueArn)!;
        const sqs = roleClient(controller, "event source mapping");
        // Creating the mapping, Lambda checks the queue's attributes with the function's role.
        await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ["All"] }));
        const timeoutMs = controller.fn.timeoutSeconds * 1000;
        const source = new LocalSqsEventSource({
          sqs,
          queueUrl: queue.url,
          queueArn: queue.arn,
          region: pseudo.region,
          batchSize: mapping.batchSize,
          maxConcurrency: mapping.maxConcurrency,
          functionTimeoutMs: timeoutMs,
          functionName: controller.fn.functionName,
          handler: async (event: SQSEvent) => {
            const result = await controller.invoke(
              event,
              budgetMs ? { budgetMs: budgetMs(event, timeoutMs) } : {},
            );
            if (result.status === "ok") return result.value as SQSBatchResponse;
            throw new Error(`controller invocation ${result.status}`);
          },
        });
        source.start();
        cleanup.push(() => source.stop());
        return source;
      },
      async invokeAsync(fn, event, invokeOptions) {
        const attempts = 1 + (fn.fn.async?.retryAttempts ?? 2);
        let result: InvocationResult = { status: "timeout" };
        for (let attempt = 0; attempt < attempts; attempt++) {
          result = await fn.invoke(event, invokeOptions);
          if (result.status === "ok") return result;
        }
        const destination = fn.fn.async?.onFailureArn;
        if (destination) {
          const queue = deployment.queueByArn(destination);
          if (!queue) throw new Error(`on-failure destination ${destination} is not a queue of the stack`);
          await roleClient(fn, "async failure destination").send(
            new SendMessageCommand({
              QueueUrl: queue.url,
              MessageBody: JSON.stringify({
                requestContext: {
                  functionArn: fn.fn.arn,
                  condition: "RetriesExhausted",
                  approximateInvokeCount: attempts,
                },
                requestPayload: event,
                responseContext: { functionError: "Unhandled" },
                responsePayload: result.status === "error" ? result.error : { errorMessage: result.status },
              }),
            }),
          );
        }
        return result;
      },
      scheduledEvent(time = new Date(), id = randomUUID()) {
        return {
          version: "0",
          id,
          "detail-type": "Scheduled Event",
          source: "aws.events",
          account: pseudo.account,
          time: time.toISOString().replace(/\.\d{3}Z$/, "Z"),
          region: pseudo.region,
          resources: [`arn:aws:events:${pseudo.region}:${pseudo.account}:rule/backup-schedule`],
          detail: {},
        };
      },
      async visibleMessages(prefix) {
        const queue = [...deployment.queues.values()].find((q) => q.logicalId.startsWith(prefix));
        if (!queue) throw new Error(`no queue ${prefix}* in the stack`);
        const out = await clients.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: queue.url,
            AttributeNames: ["ApproximateNumberOfMessages"],
          }),
        );
        return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
      },
      async runAsRestoreRole(args) {
        const restore = config.restore;
        if (!restore) throw new Error("the configuration has no restore role");
        const role = [...deployment.roles.values()].find((x) => x.logicalId.startsWith("RestoreRole"));
        if (!role) throw new Error("the template has no restore role");
        return runRecordedCommand(args, {
          name: "RestoreRole",
          roleArn: role.arn,
          log,
          cwd: REPO_ROOT,
          env: {
            AWS_REGION: pseudo.region,
            ...emulatorEnv,
            AWS_ACCESS_KEY_ID: endpoints.credentials!.accessKeyId,
            AWS_SECRET_ACCESS_KEY: endpoints.credentials!.secretAccessKey,
            AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
            NODE_EXTRA_CA_CERTS: sim.caCertPath,
            ...tenantEnv,
            MAILSTREAM_CLIENT_ID: restore.clientId,
            MAILSTREAM_CREDENTIALS_SOURCE: "secretsManager",
            MAILSTREAM_SECRET_ARN: restore.secretArn,
            MAILSTREAM_CLIENT_SECRET: "",
          },
        });
      },
      requests() {
        const secretKeys = {
          ...(config.secretKmsKeyArn ? { [config.secretArn]: config.secretKmsKeyArn } : {}),
          ...(config.restore?.secretKmsKeyArn
            ? { [config.restore.secretArn]: config.restore.secretKmsKeyArn }
            : {}),
        };
        return [
          ...log.calls.flatMap((call) => iamRequestsFor(call, { deployment, secretKeys })),
          ...replicationRequests(deployment, config, log.calls),
        ];
      },
      async stop() {
        await stop();
        rmSync(synthesized.assemblyDir, { recursive: true, force: true });
      },
    };
    return rehearsal;
  } catch (error) {
    await stop();
    rmSync(synthesized.assemblyDir, { recursive: true, force: true });
    throw error;
  }
}
