/**
 * The Graph gateway of the configured tenant: token provider (MSAL with the credential from the
 * environment or Secrets Manager), throttling policy, per-mailbox concurrency and retry budget
 * from the configuration. The backup app and the CLI's restore build it here, the same way.
 */
import { X509Certificate } from "node:crypto";
import { createAwsClients } from "../aws/clients.js";
import { awsEndpointsFromConfig } from "../config/aws-endpoints.js";
import { type ClientCredential, resolveClientCredential } from "../config/client-credential.js";
import { loadConfig, type MailstreamConfig, type StateConfigData } from "../config/index.js";
import {
  createGraphGateway,
  createTokenProvider,
  type GraphGateway,
  type ClientCredential as MsalCredential,
  type RequestPolicyOptions,
} from "../graph/index.js";

/** Graph retry and stream settings beyond the configuration's (tests, benchmarks). Defaults in lib/graph. */
export type GraphPolicyOverrides = Omit<RequestPolicyOptions, "traffic" | "tokens">;

/** MSAL wants the certificate's thumbprint and key; the secret stores the PEM pair. */
export function msalCredential(credential: ClientCredential): MsalCredential {
  if (credential.kind === "secret") return { clientSecret: credential.clientSecret };
  const cert = new X509Certificate(credential.certificatePem);
  return {
    clientCertificate: {
      thumbprintSha256: cert.fingerprint256.replaceAll(":", "").toLowerCase(),
      privateKey: credential.privateKeyPem,
      x5c: credential.certificatePem,
    },
  };
}

/** The configured retry budget (controller.retryBudgetSeconds), ms. */
export function retryBudgetMs(config: Pick<StateConfigData, "controller">): number {
  return config.controller.retryBudgetSeconds * 1000;
}

/** The Graph gateway the configuration describes (tenant, authority, credential, concurrency). */
export function createGatewayFromConfig(
  config: MailstreamConfig,
  credential: ClientCredential,
  policy?: GraphPolicyOverrides,
): GraphGateway {
  const tokens = createTokenProvider({
    tenantId: config.tenant.tenantId,
    clientId: config.tenant.clientId,
    credential: msalCredential(credential),
    authority: config.tenant.authority,
    ...(config.tenant.knownAuthorities ? { knownAuthorities: config.tenant.knownAuthorities } : {}),
    ...(config.tenant.authorityMetadata ? { authorityMetadata: config.tenant.authorityMetadata } : {}),
  });
  return createGraphGateway({
    tokens,
    baseUrl: config.tenant.graphBaseUrl,
    mailboxConcurrency: config.streams.perMailboxConcurrency,
    mailboxRequestsPerWindow: config.streams.perMailboxBudget,
    mailboxBudgetWindowMs: config.streams.budgetWindowSeconds * 1000 + config.streams.budgetMarginMs,
    policy: { budgetMs: retryBudgetMs(config), ...policy },
  });
}

/**
 * The gateway of the configuration `configFile` and `env` describe, for the restore's writes. A
 * restore reads the archive named by --archive/--data; the configuration's archive setting is
 * not used, so it need not be given.
 */
export async function graphGatewayFromConfig(
  configFile?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<{ gateway: GraphGateway; close(): void }> {
  const config = loadConfig({
    ...(configFile ? { file: configFile } : {}),
    env: { MAILSTREAM_ARCHIVE: "local", MAILSTREAM_ARCHIVE_PATH: ".", ...env },
  });
  const clients = createAwsClients(awsEndpointsFromConfig(config));
  try {
    const credential = await resolveClientCredential(config.credentials, clients.secrets);
    return { gateway: createGatewayFromConfig(config, credential), close: () => clients.destroy() };
  } catch (error) {
    clients.destroy();
    throw error;
  }
}
