import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { type ConfigValidationError, loadConfig, loadStateConfig } from "../../../lib/config/index.js";
import { ConfigError } from "../../../lib/errors.js";

const TENANT_GUID = "0f0e0d0c-0b0a-4908-8706-050403020100";
const CLIENT_ID = "11111111-2222-4333-8444-555555555555";
const SECRET = "sup3r-s3cret-value";

const minimalEnv = {
  MAILSTREAM_TENANT_ID: TENANT_GUID,
  MAILSTREAM_CLIENT_ID: CLIENT_ID,
  MAILSTREAM_CLIENT_SECRET: SECRET,
  MAILSTREAM_ARCHIVE_PATH: "/var/backup/mail",
};

function writeConfigFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "mailstream-config-"));
  const path = join(dir, "config.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function errorOf(run: () => unknown): ConfigValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigValidationError;
  }
  throw new Error("expected loadConfig to throw, it returned");
}

describe("loadConfig defaults", () => {
  it("fills every default from a minimal environment", () => {
    const config = loadConfig({ env: minimalEnv });
    expect(config.tenant).toEqual({
      tenantId: TENANT_GUID,
      clientId: CLIENT_ID,
      graphBaseUrl: "https://graph.microsoft.com/v1.0",
      authority: `https://login.microsoftonline.com/${TENANT_GUID}`,
    });
    expect(config.credentials).toEqual({ source: "env", clientSecret: SECRET });
    expect(config.archive).toEqual({
      kind: "local",
      path: "/var/backup/mail",
      packThresholdBytes: 0,
      compression: "none",
      compressionMinSavingPercent: 10,
    });
    expect(config.stateTable).toBe("mailstream-state");
    expect(config.streamQueueUrl).toBeUndefined();
    expect(config.aws).toEqual({ region: "us-east-1", endpoints: {} });
    expect(config.schedule).toBe("rate(1 day)");
    expect(config.streams).toEqual({
      max: 16,
      perMailboxConcurrency: 4,
      unitsPerStream: 1,
      perMailboxBudget: 10_000,
      budgetWindowSeconds: 600,
      budgetMarginMs: 1_000,
    });
    expect(config.pageSize).toBe(100);
    expect(config.retention).toEqual({ jobRecordDays: 90 });
    expect(config.mailboxes).toEqual({ include: [], exclude: [] });
    expect(config.controller).toEqual({
      deadlineMarginMs: 60_000,
      heartbeatStaleSeconds: 900,
      planningStaleSeconds: 1_200,
      retryBudgetSeconds: 300,
      syncStateRefreshHours: 24,
      pageHoldSeconds: 20,
      firstPageBatch: 4,
      largeItemsAtOnce: 1,
    });
    expect(config.discovery).toEqual({ pieceMailboxes: 999, batchSize: 20, streamWaitSeconds: 5 });
    expect(config.logLevel).toBe("info");
  });

  it("infers an S3 archive from a bucket and Secrets Manager from a secret ARN", () => {
    const config = loadConfig({
      env: {
        MAILSTREAM_TENANT_ID: "contoso.onmicrosoft.com",
        MAILSTREAM_CLIENT_ID: CLIENT_ID,
        MAILSTREAM_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mailstream-AbCdEf",
        MAILSTREAM_ARCHIVE_BUCKET: "acme-mail-archive",
        MAILSTREAM_ARCHIVE_PREFIX: "prod/",
        AWS_REGION: "eu-west-1",
        AWS_LAMBDA_FUNCTION_NAME: "mailstream-controller",
      },
    });
    expect(config.credentials).toEqual({
      source: "secretsManager",
      secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mailstream-AbCdEf",
    });
    expect(config.archive).toEqual({
      kind: "s3",
      bucket: "acme-mail-archive",
      prefix: "prod",
      packThresholdBytes: 131072,
      compression: "gzip",
      compressionMinSavingPercent: 10,
    });
    expect(config.aws.region).toBe("eu-west-1");
  });
});

describe("loadConfig environment parsing", () => {
  it("reads numbers, lists, endpoints and the simulator's MSAL settings", () => {
    const metadata = {
      authorization_endpoint: "https://localhost:8443/t/oauth2/v2.0/authorize",
      token_endpoint: "https://localhost:8443/t/oauth2/v2.0/token",
      issuer: "https://localhost:8443/t/v2.0",
      jwks_uri: "https://localhost:8443/t/discovery/v2.0/keys",
    };
    const config = loadConfig({
      env: {
        ...minimalEnv,
        MAILSTREAM_STREAMS_MAX: "64",
        MAILSTREAM_UNITS_PER_STREAM: "2",
        MAILSTREAM_PER_MAILBOX_CONCURRENCY: "3",
        MAILSTREAM_PAGE_SIZE: "250",
        MAILSTREAM_JOB_RECORD_TTL_DAYS: "30",
        MAILSTREAM_DEADLINE_MARGIN_MS: "45000",
        MAILSTREAM_HEARTBEAT_STALE_SECONDS: "300",
        MAILSTREAM_PLANNING_STALE_SECONDS: "900",
        MAILSTREAM_RETRY_BUDGET_SECONDS: "600",
        MAILSTREAM_SYNC_STATE_REFRESH_HOURS: "6",
        MAILSTREAM_PAGE_HOLD_SECONDS: "5",
        MAILSTREAM_FIRST_PAGE_BATCH: "1",
        MAILSTREAM_LARGE_ITEMS_AT_ONCE: "2",
        MAILSTREAM_INCLUDE: "@contoso.com, group:Finance",
        MAILSTREAM_EXCLUDE: "ceo@contoso.com",
        MAILSTREAM_GRAPH_BASE_URL: "https://localhost:8443/v1.0/",
        MAILSTREAM_AUTHORITY: "https://localhost:8443/t",
        MAILSTREAM_AUTHORITY_METADATA: JSON.stringify(metadata),
        MAILSTREAM_KNOWN_AUTHORITIES: "localhost:8443",
        MAILSTREAM_S3_ENDPOINT: "http://127.0.0.1:4566",
        MAILSTREAM_SQS_ENDPOINT: "http://127.0.0.1:4566",
        MAILSTREAM_DYNAMODB_ENDPOINT: "http://127.0.0.1:8000",
        MAILSTREAM_STREAM_QUEUE_URL: "http://sqs.us-east-1.localhost:4566/000000000000/streams",
        MAILSTREAM_SCHEDULE: "cron(0 2 * * ? *)",
        MAILSTREAM_LOG_LEVEL: "debug",
      },
    });
    expect(config.streams).toEqual({
      max: 64,
      perMailboxConcurrency: 3,
      unitsPerStream: 2,
      perMailboxBudget: 10_000,
      budgetWindowSeconds: 600,
      budgetMarginMs: 1_000,
    });
    expect(config.pageSize).toBe(250);
    expect(config.retention.jobRecordDays).toBe(30);
    expect(config.controller).toEqual({
      deadlineMarginMs: 45_000,
      heartbeatStaleSeconds: 300,
      planningStaleSeconds: 900,
      retryBudgetSeconds: 600,
      syncStateRefreshHours: 6,
      pageHoldSeconds: 5,
      firstPageBatch: 1,
      largeItemsAtOnce: 2,
    });
    expect(config.mailboxes).toEqual({
      include: ["@contoso.com", "group:Finance"],
      exclude: ["ceo@contoso.com"],
    });
    expect(config.tenant.graphBaseUrl).toBe("https://localhost:8443/v1.0");
    expect(config.tenant.authority).toBe("https://localhost:8443/t");
    expect(JSON.parse(config.tenant.authorityMetadata!)).toEqual(metadata);
    expect(config.tenant.knownAuthorities).toEqual(["localhost:8443"]);
    expect(config.aws.endpoints).toEqual({
      s3: "http://127.0.0.1:4566",
      sqs: "http://127.0.0.1:4566",
      dynamodb: "http://127.0.0.1:8000",
    });
    expect(config.schedule).toBe("cron(0 2 * * ? *)");
    expect(config.logLevel).toBe("debug");
  });

  it("accepts a certificate instead of a client secret", () => {
    const config = loadConfig({
      env: {
        ...minimalEnv,
        MAILSTREAM_CLIENT_SECRET: undefined,
        MAILSTREAM_CLIENT_CERT_PEM: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----",
        MAILSTREAM_CLIENT_KEY_PEM: "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----",
      },
    });
    expect(config.credentials).toEqual({
      source: "env",
      certificatePem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
      privateKeyPem: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
    });
  });
});

describe("loadConfig file and environment", () => {
  const file = {
    tenant: { tenantId: "fabrikam.onmicrosoft.com", clientId: CLIENT_ID },
    credentials: { source: "env", clientSecret: "from-file" },
    archive: { kind: "s3", bucket: "file-bucket" },
    streams: { max: 8, perMailboxConcurrency: 2 },
    mailboxes: { include: ["@fabrikam.com"] },
  };

  it("reads the file named by MAILSTREAM_CONFIG_FILE, and env values win field by field", () => {
    const path = writeConfigFile(file);
    const config = loadConfig({
      env: {
        MAILSTREAM_CONFIG_FILE: path,
        MAILSTREAM_STREAMS_MAX: "100",
        MAILSTREAM_ARCHIVE_BUCKET: "env-bucket",
      },
    });
    expect(config.tenant.tenantId).toBe("fabrikam.onmicrosoft.com");
    expect(config.streams).toEqual({
      max: 100,
      perMailboxConcurrency: 2,
      unitsPerStream: 1,
      perMailboxBudget: 10_000,
      budgetWindowSeconds: 600,
      budgetMarginMs: 1_000,
    });
    expect(config.archive).toEqual({
      kind: "s3",
      bucket: "env-bucket",
      packThresholdBytes: 131072,
      compression: "gzip",
      compressionMinSavingPercent: 10,
    });
    expect(config.mailboxes.include).toEqual(["@fabrikam.com"]);
  });

  it("prefers an explicit file path over MAILSTREAM_CONFIG_FILE", () => {
    const named = writeConfigFile({ ...file, pageSize: 500 });
    const other = writeConfigFile({ ...file, pageSize: 20 });
    expect(loadConfig({ env: { MAILSTREAM_CONFIG_FILE: other }, file: named }).pageSize).toBe(500);
  });

  it("accepts authorityMetadata as an object in a file and hands MSAL a string", () => {
    const metadata = { authorization_endpoint: "a", token_endpoint: "t", issuer: "i", jwks_uri: "j" };
    const path = writeConfigFile({ ...file, tenant: { ...file.tenant, authorityMetadata: metadata } });
    const config = loadConfig({ env: {}, file: path });
    expect(typeof config.tenant.authorityMetadata).toBe("string");
    expect(JSON.parse(config.tenant.authorityMetadata!)).toEqual(metadata);
  });

  it("names a misspelt field in the file", () => {
    const path = writeConfigFile({ ...file, streams: { maxx: 4 } });
    expect(errorOf(() => loadConfig({ env: {}, file: path })).message).toBe(
      "configuration streams.maxx: expected no such field (misspelt?), found 4",
    );
  });

  it("says which file is missing or not JSON", () => {
    expect(errorOf(() => loadConfig({ env: {}, file: "/nonexistent/mailstream.json" })).message).toBe(
      'configuration file (MAILSTREAM_CONFIG_FILE): expected a readable JSON file, found "/nonexistent/mailstream.json" (ENOENT)',
    );
    const broken = writeConfigFile("{ not json");
    expect(errorOf(() => loadConfig({ env: {}, file: broken })).message).toMatch(
      /^configuration file \(MAILSTREAM_CONFIG_FILE\): expected JSON in ".*config\.json", found a syntax error/,
    );
  });
});

describe("loadConfig errors", () => {
  it.each([
    [
      { MAILSTREAM_STREAMS_MAX: "abc" },
      'configuration streams.max (MAILSTREAM_STREAMS_MAX): expected an integer from 1 to 1000, found "abc"',
    ],
    [
      { MAILSTREAM_STREAMS_MAX: "1001" },
      "configuration streams.max (MAILSTREAM_STREAMS_MAX): expected an integer from 1 to 1000, found 1001",
    ],
    [
      { MAILSTREAM_PER_MAILBOX_CONCURRENCY: "5" },
      "configuration streams.perMailboxConcurrency (MAILSTREAM_PER_MAILBOX_CONCURRENCY): expected an integer from 1 to 4, found 5",
    ],
    [
      { MAILSTREAM_DISCOVERY_BATCH_SIZE: "21" },
      "configuration discovery.batchSize (MAILSTREAM_DISCOVERY_BATCH_SIZE): expected an integer from 1 to 20, found 21",
    ],
    [
      { MAILSTREAM_PAGE_SIZE: "9" },
      "configuration pageSize (MAILSTREAM_PAGE_SIZE): expected an integer from 10 to 1000, found 9",
    ],
    [
      { MAILSTREAM_TENANT_ID: "not a tenant" },
      'configuration tenant.tenantId (MAILSTREAM_TENANT_ID): expected a tenant GUID or domain name, found "not a tenant"',
    ],
    [
      { MAILSTREAM_CLIENT_ID: "contoso" },
      'configuration tenant.clientId (MAILSTREAM_CLIENT_ID): expected an application (client) id GUID, found "contoso"',
    ],
    [
      { MAILSTREAM_GRAPH_BASE_URL: "http://graph.microsoft.com/v1.0" },
      'configuration tenant.graphBaseUrl (MAILSTREAM_GRAPH_BASE_URL): expected an https:// URL, found "http://graph.microsoft.com/v1.0"',
    ],
    [
      { MAILSTREAM_AUTHORITY_METADATA: '{"issuer":"x"}' },
      'configuration tenant.authorityMetadata (MAILSTREAM_AUTHORITY_METADATA): expected a JSON object naming authorization_endpoint, token_endpoint, issuer, jwks_uri, found "{\\"issuer\\":\\"x\\"}"',
    ],
    [
      { MAILSTREAM_SCHEDULE: "every day" },
      'configuration schedule (MAILSTREAM_SCHEDULE): expected an EventBridge rate(…) or cron(…) expression, found "every day"',
    ],
    [
      { MAILSTREAM_INCLUDE: "@contoso.com,bob" },
      'configuration mailboxes.include.1 (MAILSTREAM_INCLUDE): expected a mailbox rule (an address, @domain or group:<name>), found "bob"',
    ],
    [
      { MAILSTREAM_LOG_LEVEL: "verbose" },
      'configuration logLevel (MAILSTREAM_LOG_LEVEL): expected one of debug, info, warn, error, found "verbose"',
    ],
    [
      { MAILSTREAM_ARCHIVE: "ftp" },
      'configuration archive.kind (MAILSTREAM_ARCHIVE): expected kind "s3" or "local", found "ftp"',
    ],
    [
      { MAILSTREAM_ARCHIVE_PATH: undefined },
      'configuration archive.kind (MAILSTREAM_ARCHIVE): expected kind "s3" or "local", found nothing',
    ],
    [
      { MAILSTREAM_CREDENTIALS_SOURCE: "vault" },
      'configuration credentials.source (MAILSTREAM_CREDENTIALS_SOURCE): expected source "secretsManager" or "env", found "vault"',
    ],
    [
      { MAILSTREAM_DYNAMODB_ENDPOINT: "localhost:8000" },
      'configuration aws.endpoints.dynamodb (MAILSTREAM_DYNAMODB_ENDPOINT): expected an http:// or https:// URL, found "localhost:8000"',
    ],
    [
      { MAILSTREAM_DEADLINE_MARGIN_MS: "1000" },
      "configuration controller.deadlineMarginMs (MAILSTREAM_DEADLINE_MARGIN_MS): expected an integer from 5000 to 600000, found 1000",
    ],
    [
      { MAILSTREAM_HEARTBEAT_STALE_SECONDS: "10" },
      "configuration controller.heartbeatStaleSeconds (MAILSTREAM_HEARTBEAT_STALE_SECONDS): expected an integer from 60 to 86400, found 10",
    ],
    [
      { MAILSTREAM_JOB_RECORD_TTL_DAYS: "0" },
      "configuration retention.jobRecordDays (MAILSTREAM_JOB_RECORD_TTL_DAYS): expected an integer from 1 to 3650, found 0",
    ],
  ])("%j", (override, message) => {
    const error = errorOf(() => loadConfig({ env: { ...minimalEnv, ...override } }));
    expect(error.message).toBe(message);
    expect(error.problems).toHaveLength(1);
  });

  it("reports every bad field at once, each on its own line", () => {
    const error = errorOf(() =>
      loadConfig({
        env: {
          ...minimalEnv,
          MAILSTREAM_STREAMS_MAX: "0",
          MAILSTREAM_PAGE_SIZE: "x",
          MAILSTREAM_CLIENT_ID: undefined,
        },
      }),
    );
    expect(error.problems.map((p) => p.path).sort()).toEqual(["pageSize", "streams.max", "tenant.clientId"]);
    expect(error.message.split("\n")).toHaveLength(3);
    expect(error.message).toContain(
      "configuration tenant.clientId (MAILSTREAM_CLIENT_ID): expected an application (client) id GUID, found nothing",
    );
    expect(error.field).toBe(`${error.problems[0]!.path} (${error.problems[0]!.envVariable})`);
  });

  it("refuses secrets from the environment on AWS Lambda", () => {
    const error = errorOf(() =>
      loadConfig({ env: { ...minimalEnv, AWS_LAMBDA_FUNCTION_NAME: "mailstream-coordinator" } }),
    );
    expect(error.message).toMatch(
      /^configuration credentials\.source \(MAILSTREAM_CREDENTIALS_SOURCE\): expected "secretsManager" on AWS/,
    );
  });

  it("asks for a secret or a complete certificate when credentials come from the environment", () => {
    const none = errorOf(() => loadConfig({ env: { ...minimalEnv, MAILSTREAM_CLIENT_SECRET: undefined } }));
    expect(none.message).toBe(
      "configuration credentials.clientSecret (MAILSTREAM_CLIENT_SECRET): expected a client secret, or a certificate and its private key, found nothing",
    );
    const half = errorOf(() =>
      loadConfig({
        env: {
          ...minimalEnv,
          MAILSTREAM_CLIENT_SECRET: undefined,
          MAILSTREAM_CLIENT_KEY_PEM: "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
        },
      }),
    );
    expect(half.message).toBe(
      "configuration credentials.certificatePem (MAILSTREAM_CLIENT_CERT_PEM): expected both a certificate and its private key, found nothing",
    );
  });
});

describe("secrets never shown", () => {
  it("redacts a bad secret's value in the error message", () => {
    const leaky = "-----BEGIN NOT A KEY----- my-private-material";
    const error = errorOf(() =>
      loadConfig({
        env: {
          ...minimalEnv,
          MAILSTREAM_CLIENT_SECRET: undefined,
          MAILSTREAM_CLIENT_CERT_PEM: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----",
          MAILSTREAM_CLIENT_KEY_PEM: leaky,
        },
      }),
    );
    expect(error.message).toBe(
      "configuration credentials.privateKeyPem (MAILSTREAM_CLIENT_KEY_PEM): expected a PEM private key, found [redacted] (a string)",
    );
    expect(error.message).not.toContain("my-private-material");
    expect(JSON.stringify(error.problems)).not.toContain("my-private-material");
  });

  it("redacts a secret even when another field's error shows the credentials object", () => {
    const path = writeConfigFile({
      tenant: { tenantId: TENANT_GUID, clientId: CLIENT_ID },
      credentials: { source: "env", clientSecret: SECRET, extra: 1 },
      archive: { kind: "local", path: "/x" },
    });
    const error = errorOf(() => loadConfig({ env: {}, file: path }));
    expect(error.message).toBe(
      "configuration credentials.extra: expected no such field (misspelt?), found 1",
    );
    expect(error.message).not.toContain(SECRET);
  });

  it("masks secrets in JSON, in redacted() and in console output, but keeps them readable in code", () => {
    const config = loadConfig({ env: minimalEnv });
    expect(config.credentials.source === "env" && config.credentials.clientSecret).toBe(SECRET);
    for (const shown of [
      JSON.stringify(config),
      JSON.stringify(config.redacted()),
      JSON.stringify(config.credentials),
      inspect(config, { depth: 10 }),
      inspect(config.credentials),
    ]) {
      expect(shown).not.toContain(SECRET);
      expect(shown).toContain("[redacted]");
    }
    expect(config.redacted().streams.max).toBe(16);
    expect(Object.keys(config)).not.toContain("redacted");
  });
});

describe("loadStateConfig (the sweep: no Graph)", () => {
  const stateEnv = {
    MAILSTREAM_ARCHIVE_BUCKET: "archive-bucket",
    MAILSTREAM_STATE_TABLE: "state-table",
    MAILSTREAM_STREAM_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/111122223333/tasks",
    MAILSTREAM_HEARTBEAT_STALE_SECONDS: "420",
  };

  it("reads state, archive and queue without a tenant or a credential", () => {
    const config = loadStateConfig({ env: stateEnv });
    expect(config).toMatchObject({
      archive: { kind: "s3", bucket: "archive-bucket" },
      stateTable: "state-table",
      streamQueueUrl: stateEnv.MAILSTREAM_STREAM_QUEUE_URL,
      controller: { heartbeatStaleSeconds: 420 },
    });
    expect(config).not.toHaveProperty("tenant");
    expect(config).not.toHaveProperty("credentials");
    // The full loader needs the tenant it does not have.
    expect(() => loadConfig({ env: stateEnv })).toThrow(/tenant\.tenantId \(MAILSTREAM_TENANT_ID\)/);
  });

  it("ignores tenant and credential settings if they are there, and still names a bad field", () => {
    const config = loadStateConfig({
      env: { ...stateEnv, MAILSTREAM_TENANT_ID: "not a tenant", MAILSTREAM_CLIENT_SECRET: "s3cret" },
    });
    expect(JSON.stringify(config)).not.toContain("s3cret");
    expect(() => loadStateConfig({ env: { ...stateEnv, MAILSTREAM_STREAMS_MAX: "0" } })).toThrow(
      /streams\.max \(MAILSTREAM_STREAMS_MAX\): expected an integer from 1 to 1000, found 0/,
    );
  });

  it("reads the staging bucket of an S3 archive", () => {
    expect(
      loadStateConfig({ env: { ...stateEnv, MAILSTREAM_ARCHIVE_STAGING_BUCKET: "staging-bucket" } }).archive,
    ).toMatchObject({ kind: "s3", stagingBucket: "staging-bucket" });
  });
});
