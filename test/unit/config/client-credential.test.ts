import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import {
  parseClientCredentialSecret,
  resolveClientCredential,
} from "../../../lib/config/client-credential.js";
import { ConfigError } from "../../../lib/errors.js";

const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mailstream-AbCdEf";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";

/** A narrow stand-in for the one Secrets Manager call made here. */
function secretsAnswering(answer: { SecretString?: string }): SecretsManagerClient {
  return { send: async () => answer } as unknown as SecretsManagerClient;
}

describe("parseClientCredentialSecret", () => {
  it("reads a client secret", () => {
    expect(parseClientCredentialSecret('{"clientSecret":"abc"}', ARN)).toEqual({
      kind: "secret",
      clientSecret: "abc",
    });
  });

  it("reads a certificate with its key and thumbprint", () => {
    const thumbprint = "a".repeat(40);
    expect(
      parseClientCredentialSecret(
        JSON.stringify({ certificatePem: CERT, privateKeyPem: KEY, thumbprint }),
        ARN,
      ),
    ).toEqual({ kind: "certificate", certificatePem: CERT, privateKeyPem: KEY, thumbprint });
  });

  it("names the secret and the fields found, never the values", () => {
    const run = () => parseClientCredentialSecret('{"client_secret":"leaked-value"}', ARN);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(`configuration credentials.secretArn (MAILSTREAM_SECRET_ARN) ${ARN}: expected JSON`);
    expect(run).toThrow('found an object with fields ["client_secret"] (values not shown)');
    try {
      run();
    } catch (error) {
      expect((error as Error).message).not.toContain("leaked-value");
    }
  });

  it("rejects text that is not JSON without echoing it", () => {
    const run = () => parseClientCredentialSecret("plain-secret-text", ARN);
    expect(run).toThrow("found text that is not JSON");
    try {
      run();
    } catch (error) {
      expect((error as Error).message).not.toContain("plain-secret-text");
    }
  });
});

describe("resolveClientCredential", () => {
  it("uses the environment's secret without calling Secrets Manager", async () => {
    const noCall = {
      send: async () => {
        throw new Error("Secrets Manager must not be called");
      },
    } as unknown as SecretsManagerClient;
    await expect(resolveClientCredential({ source: "env", clientSecret: "s" }, noCall)).resolves.toEqual({
      kind: "secret",
      clientSecret: "s",
    });
    await expect(
      resolveClientCredential({ source: "env", certificatePem: CERT, privateKeyPem: KEY }, noCall),
    ).resolves.toEqual({ kind: "certificate", certificatePem: CERT, privateKeyPem: KEY });
  });

  it("fetches and parses the Secrets Manager secret", async () => {
    const secrets = secretsAnswering({ SecretString: '{"clientSecret":"from-aws"}' });
    await expect(
      resolveClientCredential({ source: "secretsManager", secretArn: ARN }, secrets),
    ).resolves.toEqual({
      kind: "secret",
      clientSecret: "from-aws",
    });
  });

  it("refuses a binary secret", async () => {
    await expect(
      resolveClientCredential({ source: "secretsManager", secretArn: ARN }, secretsAnswering({})),
    ).rejects.toThrow("expected a secret stored as a string (SecretString)");
  });
});
