/**
 * The Graph gateway of the configured tenant, built the way the backup app builds it (same token
 * provider, same throttling policy and per-mailbox concurrency), for the restore's writes.
 */
import { msalCredential } from "../app/backup-app.js";
import { createAwsClients } from "../aws/clients.js";
import { awsEndpointsFromConfig } from "../config/aws-endpoints.js";
import { resolveClientCredential } from "../config/client-credential.js";
import { loadConfig } from "../config/index.js";
import { createTokenProvider } from "../graph/auth.js";
import { createGraphGateway, type GraphGateway } from "../graph/client.js";

export async function graphGatewayFromConfig(
  configFile?: string,
): Promise<{ gateway: GraphGateway; close(): void }> {
  const config = loadConfig(configFile ? { file: configFile } : {});
  const clients = createAwsClients(awsEndpointsFromConfig(config));
  try {
    const credential = await resolveClientCredential(config.credentials, clients.secrets);
    const tokens = createTokenProvider({
      tenantId: config.tenant.tenantId,
      clientId: config.tenant.clientId,
      credential: msalCredential(credential),
      authority: config.tenant.authority,
      ...(config.tenant.knownAuthorities ? { knownAuthorities: config.tenant.knownAuthorities } : {}),
      ...(config.tenant.authorityMetadata ? { authorityMetadata: config.tenant.authorityMetadata } : {}),
    });
    const gateway = createGraphGateway({
      tokens,
      baseUrl: config.tenant.graphBaseUrl,
      mailboxConcurrency: config.streams.perMailboxConcurrency,
    });
    return { gateway, close: () => clients.destroy() };
  } catch (error) {
    clients.destroy();
    throw error;
  }
}
