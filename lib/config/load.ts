import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { CONFIG_FILE_VARIABLE, configFromEnv, envVariableFor } from "./env.js";
import { isSecretPath, REDACTED, redactSecrets } from "./redact.js";
import {
  configSchema,
  type MailstreamConfigData,
  type StateConfigData,
  stateConfigSchema,
} from "./schema.js";

/** The validated configuration, plus views that never show a secret. */
export type MailstreamConfig = MailstreamConfigData & {
  /** A deep copy with secrets replaced by `[redacted]`: safe to log. */
  redacted(): MailstreamConfigData;
  /** `JSON.stringify(config)` gives the redacted view. */
  toJSON(): MailstreamConfigData;
};

export interface ConfigSource {
  /** Environment to read `MAILSTREAM_*` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file. Default: the env's MAILSTREAM_CONFIG_FILE, else no file. */
  file?: string;
}

/** One bad field: where it is, how to set it, what was found and what was expected. */
export interface ConfigProblem {
  /** Dotted path, e.g. `streams.max`. */
  path: string;
  /** The environment variable that sets it, when there is one. */
  envVariable?: string;
  /** The value found, as shown in messages (secrets redacted). */
  found: string;
  /** What was expected, starting with "expected". */
  expected: string;
}

/** Invalid configuration; `problems` lists every bad field, the message names each one. */
export class ConfigValidationError extends ConfigError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const [first, ...rest] = problems.map(describeProblem);
    super(
      first!.field,
      [first!.message, ...rest.map((r) => `configuration ${r.field}: ${r.message}`)].join("\n"),
    );
    this.problems = problems;
  }
}

function describeProblem(problem: ConfigProblem): { field: string; message: string } {
  const field = problem.envVariable ? `${problem.path} (${problem.envVariable})` : problem.path;
  return { field, message: `${problem.expected}, found ${problem.found}` };
}

const MAX_SHOWN_CHARS = 80;

/** How a found value is shown: JSON text, cut short; secrets never. */
export function showValue(path: string, value: unknown): string {
  if (value === undefined) return "nothing";
  if (isSecretPath(path)) return `${REDACTED} (a ${typeof value})`;
  const text = JSON.stringify(redactSecrets(value, path)) ?? String(value);
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge where `over` wins; arrays and scalars are replaced, not merged. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isRecord(current) && isRecord(value) ? merge(current, value) : value;
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(
      `file (${CONFIG_FILE_VARIABLE})`,
      `expected a readable JSON file, found ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `file (${CONFIG_FILE_VARIABLE})`,
      `expected JSON in ${JSON.stringify(path)}, found a syntax error: ${(error as Error).message}`,
    );
  }
  if (!isRecord(parsed)) {
    throw new ConfigError(
      `file (${CONFIG_FILE_VARIABLE})`,
      `expected a JSON object in ${JSON.stringify(path)}, found ${Array.isArray(parsed) ? "an array" : typeof parsed}`,
    );
  }
  return parsed;
}

/**
 * Fills in the union discriminators when only their payload is given (a bucket means an S3
 * archive, a secret ARN means Secrets Manager), so a minimal environment stays minimal.
 */
function inferDiscriminators(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  if (isRecord(out.archive) && out.archive.kind === undefined) {
    if (out.archive.bucket !== undefined) out.archive = { kind: "s3", ...out.archive };
    else if (out.archive.path !== undefined) out.archive = { kind: "local", ...out.archive };
  }
  if (isRecord(out.credentials) && out.credentials.source === undefined) {
    out.credentials = {
      source: out.credentials.secretArn !== undefined ? "secretsManager" : "env",
      ...out.credentials,
    };
  }
  if (out.credentials === undefined) out.credentials = { source: "env" };
  // A missing tenant is reported field by field (tenant id, client id), each with its variable.
  if (out.tenant === undefined) out.tenant = {};
  return out;
}

/** Union-valued fields, and the field that chooses the variant. */
const DISCRIMINATORS: Readonly<Record<string, string>> = { archive: "kind", credentials: "source" };

/** An error about a whole union (e.g. `archive` missing) is reported on its discriminator. */
function pointAtDiscriminator(path: readonly PropertyKey[]): PropertyKey[] {
  const discriminator = DISCRIMINATORS[path.map(String).join(".")];
  return discriminator ? [...path, discriminator] : [...path];
}

function toProblems(issues: readonly z.core.$ZodIssue[], input: unknown): ConfigProblem[] {
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const keys =
      issue.code === "unrecognized_keys"
        ? issue.keys.map((k) => [...issue.path, k])
        : [pointAtDiscriminator(issue.path)];
    for (const keyPath of keys) {
      const path = keyPath.map(String).join(".") || "(root)";
      const expected =
        issue.code === "unrecognized_keys"
          ? "expected no such field (misspelt?)"
          : issue.message.startsWith("expected")
            ? issue.message
            : `expected ${issue.message}`;
      if (seen.has(path)) continue;
      seen.add(path);
      const envVariable = envVariableFor(path)?.name;
      problems.push({
        path,
        ...(envVariable ? { envVariable } : {}),
        found: showValue(path, valueAt(input, keyPath)),
        expected,
      });
    }
  }
  return problems;
}

function isLambda(env: Readonly<Record<string, string | undefined>>): boolean {
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
}

function withRedaction(data: MailstreamConfigData): MailstreamConfig {
  const config = data as MailstreamConfig;
  const redacted = () => redactSecrets(data);
  // Non-enumerable: spreading or iterating the config sees only the data.
  Object.defineProperties(config, {
    redacted: { value: redacted },
    toJSON: { value: redacted },
    [inspect.custom]: { value: () => redacted() },
  });
  // `console.log(config.credentials)` must not show the secret either.
  Object.defineProperties(config.credentials, {
    toJSON: { value: () => redactSecrets(config.credentials, "credentials") },
    [inspect.custom]: { value: () => redactSecrets(config.credentials, "credentials") },
  });
  return config;
}

/**
 * Reads and validates the configuration: the JSON file (if any) first, environment variables
 * over it. Throws {@link ConfigValidationError} (a ConfigError) naming every bad field, its
 * environment variable, the value found (secrets redacted) and what was expected.
 */
export function loadConfig(source: ConfigSource = {}): MailstreamConfig {
  const env = source.env ?? process.env;
  const input = inferDiscriminators(readInput(source));
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(toProblems(result.error.issues, input));
  if (result.data.credentials.source === "env" && isLambda(env)) {
    throw new ConfigValidationError([
      {
        path: "credentials.source",
        envVariable: "MAILSTREAM_CREDENTIALS_SOURCE",
        found: '"env" on AWS Lambda',
        expected: 'expected "secretsManager" on AWS (secrets in the environment are for local runs only)',
      },
    ]);
  }
  return withRedaction(result.data);
}

/** The file (if any) with the environment over it, before validation. */
function readInput(source: ConfigSource): Record<string, unknown> {
  const env = source.env ?? process.env;
  const filePath = source.file ?? env[CONFIG_FILE_VARIABLE];
  const fromFile = filePath ? readConfigFile(filePath) : {};
  return merge(fromFile, configFromEnv(env));
}

/**
 * Reads and validates the configuration of a process that never calls Microsoft Graph (the
 * sweep): as {@link loadConfig}, but without the tenant and the credential, so it needs no secret.
 * Tenant and credential settings, if present, are ignored. It holds no secret to redact.
 */
export function loadStateConfig(source: ConfigSource = {}): StateConfigData {
  const { tenant: _tenant, credentials: _credentials, ...input } = inferDiscriminators(readInput(source));
  const result = stateConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(toProblems(result.error.issues, input));
  return result.data;
}
