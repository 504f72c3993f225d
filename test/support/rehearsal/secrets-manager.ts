/**
 * A local Secrets Manager endpoint that answers GetSecretValue (the one call mailstream makes) for
 * the secrets it was given, in the service's JSON protocol, so the real SecretsManagerClient reads
 * them. fauxqs and DynamoDB Local have no Secrets Manager; functions reach this one through
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`, the SDK's own endpoint setting.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface LocalSecretsManager {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** GetSecretValue requests answered, by secret id. */
  reads: Map<string, number>;
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Serves `secrets` (full secret ARN → secret string). */
export async function startLocalSecretsManager(
  secrets: Record<string, string>,
): Promise<LocalSecretsManager> {
  const reads = new Map<string, number>();
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      const answer = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(json));
      };
      const target = req.headers["x-amz-target"];
      if (target !== "secretsmanager.GetSecretValue") {
        answer(400, { __type: "InvalidRequestException", message: `not served here: ${String(target)}` });
        return;
      }
      const { SecretId } = JSON.parse(text) as { SecretId?: string };
      const value = SecretId === undefined ? undefined : secrets[SecretId];
      if (SecretId === undefined || value === undefined) {
        answer(400, {
          __type: "ResourceNotFoundException",
          message: `Secrets Manager can't find the specified secret: ${SecretId}`,
        });
        return;
      }
      reads.set(SecretId, (reads.get(SecretId) ?? 0) + 1);
      answer(200, {
        ARN: SecretId,
        Name: SecretId.split(":secret:")[1]?.replace(/-[A-Za-z0-9]{6}$/, ""),
        SecretString: value,
        VersionId: "00000000-0000-0000-0000-000000000001",
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 1_700_000_000,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
