/**
 * The Graph gateway of the configured tenant, built by the same code as the backup app's (same
 * token provider, throttling policy and per-mailbox concurrency), for the restore's writes.
 */
import { createGatewayFromConfig } from "../app/backup-app.js";
import { createAwsClients } from "../aws/clients.js";
import { awsEndpointsFromConfig } from "../config/aws-endpoints.js";
import { resolveClientCredential } from "../config/client-credential.js";
import { loadConfig } from "../config/index.js";
import type { GraphGateway } from "../graph/client.js";

export async function graphGatewayFromConfig(
  configFile?: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<{ gateway: GraphGateway; close(): void }> {
  // A restore reads the archive named by --archive/--data; the configuration's archive setting
  // is not used, so it need not be given.
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
