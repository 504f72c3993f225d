import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import type { CredentialsConfig } from "./schema.js";

/**
 * The app's proof of identity for MSAL client credentials, wherever it came from. Secrets
 * Manager holds it as JSON: `{"clientSecret":"…"}` or
 * `{"certificatePem":"…","privateKeyPem":"…","thumbprint"?:"…"}`.
 */
export type ClientCredential =
  | { kind: "secret"; clientSecret: string }
  | { kind: "certificate"; certificatePem: string; privateKeyPem: string; thumbprint?: string };

const secretJsonSchema = z.union([
  z.strictObject({ clientSecret: z.string().min(1) }),
  z.strictObject({
    certificatePem: z.string().includes("-----BEGIN CERTIFICATE-----"),
    privateKeyPem: z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    thumbprint: z
      .string()
      .regex(/^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$/)
      .optional(),
  }),
]);

const EXPECTED_SECRET =
  'expected JSON {"clientSecret":"…"} or {"certificatePem":"…","privateKeyPem":"…","thumbprint"?:"<hex SHA-1 or SHA-256>"}';

/**
 * Parses the Secrets Manager secret text. The message on failure names the secret and the JSON
 * fields found, never their values.
 */
export function parseClientCredentialSecret(text: string, secretArn: string): ClientCredential {
  const field = `credentials.secretArn (MAILSTREAM_SECRET_ARN) ${secretArn}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(field, `${EXPECTED_SECRET}, found text that is not JSON`);
  }
  const result = secretJsonSchema.safeParse(parsed);
  if (!result.success) {
    const keys =
      typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
        ? `an object with fields ${JSON.stringify(Object.keys(parsed))}`
        : `a JSON ${Array.isArray(parsed) ? "array" : typeof parsed}`;
    throw new ConfigError(field, `${EXPECTED_SECRET}, found ${keys} (values not shown)`);
  }
  const value = result.data;
  if ("clientSecret" in value) return { kind: "secret", clientSecret: value.clientSecret };
  return {
    kind: "certificate",
    certificatePem: value.certificatePem,
    privateKeyPem: value.privateKeyPem,
    ...(value.thumbprint ? { thumbprint: value.thumbprint } : {}),
  };
}

/**
 * The client credential the configuration points at: read from the environment values already
 * validated by loadConfig, or fetched from Secrets Manager (once per call; callers cache).
 */
export async function resolveClientCredential(
  credentials: CredentialsConfig,
  secrets: SecretsManagerClient,
): Promise<ClientCredential> {
  if (credentials.source === "env") {
    if (credentials.clientSecret !== undefined)
      return { kind: "secret", clientSecret: credentials.clientSecret };
    // loadConfig guarantees both halves of a certificate when there is no client secret.
    return {
      kind: "certificate",
      certificatePem: credentials.certificatePem!,
      privateKeyPem: credentials.privateKeyPem!,
    };
  }
  const answer = await secrets.send(new GetSecretValueCommand({ SecretId: credentials.secretArn }));
  if (answer.SecretString === undefined) {
    throw new ConfigError(
      `credentials.secretArn (MAILSTREAM_SECRET_ARN) ${credentials.secretArn}`,
      "expected a secret stored as a string (SecretString), found a binary secret or none",
    );
  }
  return parseClientCredentialSecret(answer.SecretString, credentials.secretArn);
}
