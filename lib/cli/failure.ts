/**
 * How a command line ends when something goes wrong: one line on stderr (`mailstream: …`) and an
 * exit code from {@link EXIT}, chosen by what the error is (its class; for errors of Node, the AWS
 * SDK and MSAL, their documented codes). No stack trace unless `--debug` or MAILSTREAM_DEBUG=1.
 * A reader that goes away (`mailstream ls … | head`) ends the program quietly.
 */
import { CommanderError } from "commander";
import { CatalogDamageError, DamagedArchiveError, ObjectNotFoundError } from "../archive/errors.js";
import { AmbiguousNameError, ArchiveLookupError } from "../catalog-index/errors.js";
import { ConfigError, isMailstreamError, RetryableError } from "../errors.js";
import { OutputError } from "../export/errors.js";
import { BusyError, UsageError } from "./errors.js";
import { EXIT, type ExitCode } from "./exit-codes.js";

export type { ExitCode } from "./exit-codes.js";

/** A failure as the user sees it. */
export interface Outcome {
  code: ExitCode;
  /** One line, without the `mailstream: ` prefix. */
  message: string;
}

/** Node's error codes for a service that could not be reached. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);
/** Node's error codes for an output that cannot be created or written. */
const CANNOT_CREATE = new Set([
  "EEXIST",
  "EISDIR",
  "ENOTDIR",
  "ENOSPC",
  "EROFS",
  "EACCES",
  "EPERM",
  "EDQUOT",
]);
/** AWS error names (the SDK's documented `name` of its service exceptions) per outcome. */
const AWS_DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
]);
const AWS_NOT_FOUND = new Set(["NoSuchBucket", "ResourceNotFoundException"]);
/** MSAL error codes (`errorCode`) per outcome. */
const MSAL_DENIED = new Set(["invalid_client", "unauthorized_client", "invalid_grant"]);
const MSAL_CONFIG = new Set([
  "endpoints_resolution_error",
  "untrusted_authority",
  "url_parse_error",
  "invalid_authority_type",
  "authority_uri_insecure",
  "invalid_tenant",
  "invalid_request",
]);

interface Coded {
  statusCode?: unknown;
  requestId?: unknown;
  code?: unknown;
  errno?: unknown;
  errorCode?: unknown;
  name?: unknown;
  $metadata?: unknown;
  cause?: unknown;
  message?: unknown;
}

/** The error and its causes, outermost first (a wrapped ECONNREFUSED is still unreachable). */
function chain(error: unknown): Coded[] {
  const out: Coded[] = [];
  let e: unknown = error;
  while (typeof e === "object" && e !== null && out.length < 8) {
    out.push(e as Coded);
    e = (e as Coded).cause;
  }
  return out;
}

/** One line: inner line breaks (a list of configuration problems) become `; `. */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .join("; ");
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/**
 * Commander's parse errors, shortened: an option value refused by our parser already says which
 * option and what was expected; a suggestion goes in parentheses.
 */
function commanderMessage(message: string): string {
  return message
    .replace(/^error: /, "")
    .replace(/^option '[^']*' argument '[^']*' is invalid\. /, "")
    .replace(/; \(Did you mean (.*)\?\)$/, " (did you mean $1?)");
}

/** The exit code and line for an error thrown out of a command. */
export function classify(error: unknown): Outcome {
  const message = oneLine(messageOf(error));
  if (error instanceof CommanderError) return { code: EXIT.usage, message: commanderMessage(message) };
  if (error instanceof UsageError || error instanceof AmbiguousNameError)
    return { code: EXIT.usage, message };
  if (error instanceof ConfigError) return { code: EXIT.config, message };
  if (error instanceof ArchiveLookupError) return { code: EXIT.notFound, message };
  if (error instanceof DamagedArchiveError || error instanceof CatalogDamageError) {
    return { code: EXIT.damaged, message };
  }
  // A blob or part the catalog names is gone: the archive is damaged, not the request wrong.
  if (error instanceof ObjectNotFoundError) return { code: EXIT.damaged, message };
  if (error instanceof OutputError) return { code: EXIT.cannotCreate, message };
  if (error instanceof BusyError) return { code: EXIT.busy, message };
  for (const e of chain(error)) {
    const code = typeof e.code === "string" ? e.code : undefined;
    const errorCode = typeof e.errorCode === "string" ? e.errorCode : undefined;
    const name = typeof e.name === "string" ? e.name : undefined;
    if (errorCode && MSAL_DENIED.has(errorCode)) {
      return { code: EXIT.denied, message: `${message} (the sign-in refused the credentials: ${errorCode})` };
    }
    if (errorCode && MSAL_CONFIG.has(errorCode)) {
      return {
        code: EXIT.config,
        message: `${message} (${errorCode}: check MAILSTREAM_AUTHORITY, MAILSTREAM_KNOWN_AUTHORITIES and MAILSTREAM_AUTHORITY_METADATA)`,
      };
    }
    if (e.$metadata !== undefined && name) {
      if (AWS_DENIED.has(name)) return { code: EXIT.denied, message };
      if (AWS_NOT_FOUND.has(name)) return { code: EXIT.notFound, message };
    }
    // The Graph client's GraphError (it wraps whatever a request threw, even our token errors):
    // its HTTP status, -1 when no answer came.
    if (typeof e.statusCode === "number" && "requestId" in e) {
      if (e.statusCode === 401 || e.statusCode === 403) return { code: EXIT.denied, message };
      if (e.statusCode === 404) return { code: EXIT.notFound, message };
      if (e.statusCode === -1 || e.statusCode === 429 || e.statusCode >= 500) {
        return { code: EXIT.unavailable, message };
      }
    }
    if (name === "CredentialsProviderError") {
      return {
        code: EXIT.config,
        message: `${message} (set AWS credentials: AWS_PROFILE or AWS_ACCESS_KEY_ID)`,
      };
    }
    if (code && UNREACHABLE.has(code)) return { code: EXIT.unavailable, message };
    if (code && CANNOT_CREATE.has(code)) return { code: EXIT.cannotCreate, message };
    if (code === "ENOENT") return { code: EXIT.notFound, message };
  }
  // Retries ran out: the service kept failing or throttling.
  if (error instanceof RetryableError) return { code: EXIT.unavailable, message };
  if (isMailstreamError(error)) return { code: EXIT.failed, message };
  return {
    code: EXIT.internal,
    message: `${message} (an internal error: run again with --debug for its stack trace, and report it)`,
  };
}

function debugging(): boolean {
  return process.argv.includes("--debug") || process.env.MAILSTREAM_DEBUG === "1";
}

/**
 * Reports an error thrown out of a command and sets the exit code. Help and version output
 * (which commander signals as an error with code 0) end quietly.
 */
export function handleFailure(error: unknown): void {
  if (isBrokenPipe(error)) {
    process.exitCode ??= 0;
    return;
  }
  if (error instanceof CommanderError && error.exitCode === 0) {
    process.exitCode = 0;
    return;
  }
  const outcome = classify(error);
  const hint = error instanceof CommanderError ? ` (see \`${commandLine(error)} --help\`)` : "";
  process.stderr.write(`mailstream: ${outcome.message}${hint}\n`);
  if (debugging() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exitCode = outcome.code;
}

/** `mailstream` and the subcommand typed, for hints. */
function commandLine(error: CommanderError): string {
  const sub = process.argv.slice(2).find((a) => !a.startsWith("-"));
  const known = error.code !== "commander.unknownCommand" && sub && /^[a-z]+$/.test(sub);
  return known ? `mailstream ${sub}` : "mailstream";
}

function isBrokenPipe(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "EPIPE";
}

/**
 * Process-wide guards: a closed stdout or stderr (`| head`) ends the program quietly with the
 * code it would have had; an error nothing caught (a stray rejection) still ends as one line.
 */
export function installProcessGuards(): void {
  const onStreamError = (error: unknown) => {
    if (isBrokenPipe(error)) process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
    throw error;
  };
  process.stdout.on("error", onStreamError);
  process.stderr.on("error", onStreamError);
  const fatal = (error: unknown) => {
    if (isBrokenPipe(error)) process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
    handleFailure(error);
    process.exit(process.exitCode);
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);
  if (debugging()) process.setSourceMapsEnabled(true);
}
