/**
 * What a local run (`mailstream run`) takes from the configuration: the same MAILSTREAM_*
 * variables and MAILSTREAM_CONFIG_FILE as everything else (lib/config's loadConfig), checked
 * before anything starts, so that `MAILSTREAM_STREAMS_MAX=abc` or a missing config file stops the
 * run with the field's name instead of being ignored. The local stack owns the archive, state
 * table, queue and AWS endpoints; a simulated run also owns the tenant and credentials.
 */
import { readFileSync } from "node:fs";
import type { LogLevel } from "../../app/logger.js";
import {
  CONFIG_FILE_VARIABLE,
  ENV_VARIABLES,
  loadConfig,
  type MailstreamConfig,
} from "../../config/index.js";
import { ConfigError } from "../../errors.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface RunSettingsRequest {
  env: Env;
  /** `--tenant-config`: a config file given on the command line (wins over MAILSTREAM_CONFIG_FILE). */
  configFile?: string;
  /** A real tenant (its settings come from the user) rather than the simulator. */
  realTenant: boolean;
  /** `--streams`, when given. */
  streams?: number;
  /** The data folder's archive path (the local archive the run writes). */
  archivePath: string;
}

export interface RunSettings {
  /** The user's MAILSTREAM_* values the stack passes on (under the values it sets itself). */
  userEnv: Record<string, string>;
  configFile?: string;
  /** Streams at most: `--streams`, else MAILSTREAM_STREAMS_MAX (or the file's streams.max), else 8. */
  streams: number;
  logLevel: LogLevel;
  /** The validated configuration as the run will see it (with placeholders for what the stack sets). */
  config: MailstreamConfig;
}

/** Streams of a local run when nothing says otherwise: fits a laptop. */
export const LOCAL_DEFAULT_STREAMS = 8;

/** Configuration paths the local stack sets itself: where state, queue and archive live. */
const STACK_PATHS = ["archive", "stateTable", "streamQueueUrl", "aws"];
/** Paths a simulated run takes from the simulator. */
const SIMULATOR_PATHS = ["tenant", "credentials"];

/**
 * Microsoft's sign-in hosts, which MSAL trusts without `knownAuthorities` (its built-in cloud
 * list). Any other authority host must be listed in MAILSTREAM_KNOWN_AUTHORITIES, or MSAL fails
 * at the first token with `endpoints_resolution_error`.
 */
const MICROSOFT_AUTHORITY_HOSTS = new Set([
  "login.microsoftonline.com",
  "login.microsoft.com",
  "login.windows.net",
  "sts.windows.net",
  "login.microsoftonline.us",
  "login-us.microsoftonline.com",
  "login.usgovcloudapi.net",
  "login.chinacloudapi.cn",
  "login.partner.microsoftonline.cn",
  "login.microsoftonline.de",
]);

function owned(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => path === p || path.startsWith(`${p}.`));
}

/** Placeholders for what the stack (and for a simulated run, the simulator) sets once it runs. */
function placeholders(request: RunSettingsRequest): Record<string, string> {
  return {
    MAILSTREAM_ARCHIVE: "local",
    MAILSTREAM_ARCHIVE_PATH: request.archivePath,
    MAILSTREAM_STREAM_QUEUE_URL: "http://127.0.0.1/local-stream-queue",
    ...(request.realTenant
      ? {}
      : {
          MAILSTREAM_TENANT_ID: "00000000-0000-4000-8000-000000000000",
          MAILSTREAM_CLIENT_ID: "00000000-0000-4000-8000-000000000001",
          MAILSTREAM_CREDENTIALS_SOURCE: "env",
          MAILSTREAM_CLIENT_SECRET: "set-by-the-simulator",
        }),
  };
}

function fileSetsStreams(file: string | undefined): boolean {
  if (!file) return false;
  // loadConfig has read and validated the file already: it is a JSON object.
  const data = JSON.parse(readFileSync(file, "utf8")) as { streams?: { max?: unknown } };
  return data.streams?.max !== undefined;
}

/**
 * A non-default authority needs its host in `knownAuthorities`: stop with a line that names the
 * variable instead of MSAL's `endpoints_resolution_error` at the first token request.
 */
function checkAuthority(config: MailstreamConfig): void {
  const host = new URL(config.tenant.authority).host.toLowerCase();
  if (MICROSOFT_AUTHORITY_HOSTS.has(host)) return;
  const known = (config.tenant.knownAuthorities ?? []).map((h) => h.toLowerCase());
  if (known.includes(host)) return;
  throw new ConfigError(
    "tenant.knownAuthorities (MAILSTREAM_KNOWN_AUTHORITIES)",
    `expected the host of the authority ${config.tenant.authority} (${host}) in the list, found ${known.length ? known.join(", ") : "nothing"} (MSAL trusts only Microsoft's sign-in hosts without it; set MAILSTREAM_KNOWN_AUTHORITIES=${host})`,
  );
}

/** Reads and checks the run's configuration. Throws ConfigError naming the first bad field. */
export function resolveRunSettings(request: RunSettingsRequest): RunSettings {
  const skip = request.realTenant ? STACK_PATHS : [...STACK_PATHS, ...SIMULATOR_PATHS];
  const userEnv: Record<string, string> = {};
  for (const variable of ENV_VARIABLES) {
    const value = request.env[variable.name];
    if (value !== undefined && !owned(variable.path, skip)) userEnv[variable.name] = value;
  }
  const configFile = request.configFile ?? (request.env[CONFIG_FILE_VARIABLE] || undefined);
  const config = loadConfig({
    ...(configFile ? { file: configFile } : {}),
    env: { ...userEnv, ...placeholders(request) },
  });
  if (request.realTenant) checkAuthority(config);
  const userSetStreams = Boolean(userEnv.MAILSTREAM_STREAMS_MAX?.trim()) || fileSetsStreams(configFile);
  return {
    userEnv,
    ...(configFile ? { configFile } : {}),
    streams: request.streams ?? (userSetStreams ? config.streams.max : LOCAL_DEFAULT_STREAMS),
    logLevel: config.logLevel,
    config,
  };
}
