/**
 * Access tokens for Microsoft Graph through MSAL client credentials (app-only).
 *
 * Everything MSAL would otherwise discover (authority metadata, trusted hosts) comes from
 * configuration, so that the only call that leaves the process is the token POST: this works
 * offline against the simulator and in national clouds alike.
 */
import { ConfidentialClientApplication, type Configuration } from "@azure/msal-node";
import { ConfigError, FatalError, RetryableError } from "../errors.js";

export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com";
/** MSAL renews a cached token this long before it expires (its default `tokenRenewalOffsetSeconds`). */
const RENEWAL_OFFSET_MS = 300_000;

export type ClientCredential =
  | { clientSecret: string }
  | {
      clientCertificate: {
        /** SHA-1 thumbprint, hex (older ADFS only; prefer `thumbprintSha256`). */
        thumbprint?: string;
        /** SHA-256 thumbprint of the certificate, hex. */
        thumbprintSha256?: string;
        /** PEM private key of the certificate. */
        privateKey: string;
        /** Public certificate chain (PEM) sent as `x5c`, for subject-name/issuer auth. Optional. */
        x5c?: string;
      };
    };

export interface TokenProviderOptions {
  /** Entra ID tenant: GUID or verified domain. Required. */
  tenantId: string;
  /** Application (client) id. Required. */
  clientId: string;
  credential: ClientCredential;
  /** Authority URL, https only. Default `https://login.microsoftonline.com/<tenantId>`. */
  authority?: string;
  /** Hosts (`host[:port]`) MSAL trusts without discovery. Default none (MSAL discovers). */
  knownAuthorities?: string[];
  /** OpenID metadata JSON string; with it MSAL skips the metadata call. Default none. */
  authorityMetadata?: string;
  /** Scope to request. Default `https://graph.microsoft.com/.default`. */
  scope?: string;
}

export interface TokenProvider {
  /** A valid access token; MSAL serves it from its cache until shortly before expiry. */
  getToken(): Promise<string>;
  /** Forget the cached token: the next {@link getToken} asks the token endpoint again (after a 401). */
  invalidate(): void;
}

/** MSAL errors for which asking again later may succeed (network, throttling, server). */
function isTransientMsalError(error: unknown): boolean {
  const e = error as { errorCode?: string; status?: number; name?: string };
  if (e?.status !== undefined && (e.status === 429 || e.status >= 500)) return true;
  return /network|timeout|fetch|ECONNRESET|ECONNREFUSED|ETIMEDOUT/i.test(String(e?.errorCode ?? ""));
}

/**
 * What to fix for the MSAL errors that mean the configuration is wrong (each names the setting),
 * so that a refused credential ends with one line saying where to look.
 */
const MSAL_HINTS: Record<string, { field: string; fix: string }> = {
  invalid_client: {
    field:
      "credentials (MAILSTREAM_CLIENT_SECRET, MAILSTREAM_CLIENT_CERT_PEM/KEY_PEM, or the Secrets Manager secret)",
    fix: "the client secret or certificate was refused; set the app registration's current one",
  },
  unauthorized_client: {
    field: "tenant.clientId (MAILSTREAM_CLIENT_ID)",
    fix: "no such application in the tenant; give the application (client) id of the app registration",
  },
  invalid_tenant: {
    field: "tenant.tenantId (MAILSTREAM_TENANT_ID)",
    fix: "the tenant is unknown to the authority; give the directory (tenant) id",
  },
  endpoints_resolution_error: {
    field: "tenant.knownAuthorities (MAILSTREAM_KNOWN_AUTHORITIES)",
    fix: "MSAL could not resolve the authority's endpoints; for a non-default authority list its host in MAILSTREAM_KNOWN_AUTHORITIES or give MAILSTREAM_AUTHORITY_METADATA",
  },
};

export function createTokenProvider(opts: TokenProviderOptions): TokenProvider {
  const authority = (opts.authority ?? `${DEFAULT_AUTHORITY_HOST}/${opts.tenantId}`).replace(/\/+$/, "");
  if (!authority.startsWith("https://")) {
    throw new ConfigError("tenant.authority", `expected an https:// URL, found ${authority}`);
  }
  const config: Configuration = {
    auth: {
      clientId: opts.clientId,
      authority,
      ...(opts.knownAuthorities ? { knownAuthorities: opts.knownAuthorities } : {}),
      ...(opts.authorityMetadata ? { authorityMetadata: opts.authorityMetadata } : {}),
      ...("clientSecret" in opts.credential
        ? { clientSecret: opts.credential.clientSecret }
        : { clientCertificate: opts.credential.clientCertificate }),
    },
  };
  const app = new ConfidentialClientApplication(config);
  const scopes = [opts.scope ?? GRAPH_SCOPE];
  // After a 401 the cached token is known bad: the next request must bypass the cache once.
  let skipCache = false;
  // Every Graph request asks for a token; MSAL's cache lookup costs measurable CPU at hundreds
  // of requests per second, so a token far from expiry is handed out directly. Near expiry
  // (within MSAL's own renewal offset) MSAL decides, as before.
  let held: { token: string; expiresOnMs: number } | undefined;

  // Concurrent callers share one acquisition: MSAL does not merge them, and a burst of first
  // requests would otherwise send a burst of token POSTs.
  let inFlight: Promise<string> | undefined;

  async function acquire(): Promise<string> {
    const bypass = skipCache;
    skipCache = false;
    let result: Awaited<ReturnType<typeof app.acquireTokenByClientCredential>>;
    try {
      result = await app.acquireTokenByClientCredential({ scopes, skipCache: bypass });
    } catch (error) {
      const code = (error as { errorCode?: string }).errorCode ?? (error as Error).name;
      if (isTransientMsalError(error)) {
        throw new RetryableError(`expected an access token from ${authority}, found error ${code}`, {
          cause: error,
        });
      }
      const hint = MSAL_HINTS[code];
      if (hint) {
        const failure = new ConfigError(
          hint.field,
          `expected an access token from ${authority} for client ${opts.clientId}, found error ${code}: ${hint.fix}`,
        );
        failure.cause = error;
        throw failure;
      }
      throw new FatalError(
        `expected an access token from ${authority} for client ${opts.clientId}, found error ${code}`,
        {
          cause: error,
        },
      );
    }
    if (!result?.accessToken) {
      throw new FatalError(`expected an access token from ${authority}, found an answer without one`);
    }
    held = result.expiresOn
      ? { token: result.accessToken, expiresOnMs: result.expiresOn.getTime() }
      : undefined;
    return result.accessToken;
  }

  return {
    getToken() {
      if (held && !skipCache && held.expiresOnMs - Date.now() > RENEWAL_OFFSET_MS)
        return Promise.resolve(held.token);
      inFlight ??= acquire().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    invalidate() {
      skipCache = true;
      held = undefined;
    },
  };
}
