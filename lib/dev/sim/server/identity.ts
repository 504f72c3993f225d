/**
 * The Entra ID side of the simulator: the token endpoint, the tenant's OpenID configuration and
 * MSAL's instance discovery, each answered for the origin the client used. A client whose
 * authority is `https://login.microsoftonline.com/<tenant>` (reaching the simulator through a
 * hosts entry) gets endpoints on that host; one using `https://localhost:PORT/<tenant>` gets those.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TokenService } from "./auth.js";
import { readBody, sendJson } from "./http-io.js";
import { type LatencyOptions, waitResponseDelay } from "./latency.js";

/** The OpenID configuration of `tenantId` as Entra ID publishes it, with endpoints on `origin`. */
export function openIdConfiguration(origin: string, tenantId: string): Record<string, unknown> {
  const authority = `${origin}/${tenantId}`;
  const host = new URL(origin).host;
  return {
    token_endpoint: `${authority}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${authority}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${authority}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${authority}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf", "tid"],
    tenant_region_scope: "EU",
    cloud_instance_name: new URL(origin).hostname,
    cloud_graph_host_name: new URL(origin).hostname,
    msgraph_host: host,
  };
}

/**
 * MSAL's instance discovery answer (`/common/discovery/instance`): the host the client used is
 * its own only alias, and its tenant discovery endpoint is the OpenID configuration above.
 */
function instanceDiscovery(
  origin: string,
  query: URLSearchParams,
  tenantId: string,
): Record<string, unknown> {
  const host = new URL(origin).host;
  return {
    tenant_discovery_endpoint: `${origin}/${tenantId}/v2.0/.well-known/openid-configuration`,
    "api-version": query.get("api-version") ?? "1.1",
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

/** Requests the identity endpoints answered, and anything else a client asked outside Graph. */
export interface IdentityCounters {
  tokenRequests: number;
  tokensIssued: number;
  tokenRefusals: number;
  /** OpenID configuration and instance discovery requests. */
  metadataRequests: number;
  /** Any other request outside `/v1.0` and `/_admin` ("METHOD /path"): MSAL should make none. */
  otherRequests: string[];
}

export interface IdentityDeps {
  tokens: TokenService;
  tenantId: string;
  latency: LatencyOptions | undefined;
  counters: () => IdentityCounters;
}

/** Answers a request to the token endpoint, the metadata endpoints, or 404 for anything else. */
export async function handleIdentityRequest(
  deps: IdentityDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  origin: string,
): Promise<void> {
  const path = url.pathname;
  const counters = deps.counters();
  const tokenMatch = /^\/([^/]+)\/oauth2\/v2\.0\/token$/i.exec(path);
  if (tokenMatch && req.method === "POST") {
    counters.tokenRequests++;
    const form = new URLSearchParams((await readBody(req)).toString("utf8"));
    const answer = deps.tokens.issue(decodeURIComponent(tokenMatch[1] ?? ""), form, `${origin}${path}`);
    if (answer.status === 200) counters.tokensIssued++;
    else counters.tokenRefusals++;
    await waitResponseDelay(deps.latency);
    sendJson(res, answer.status, answer.body, { "cache-control": "no-store, no-cache", pragma: "no-cache" });
    return;
  }
  if (req.method === "GET" && /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i.test(path)) {
    counters.metadataRequests++;
    sendJson(res, 200, openIdConfiguration(origin, deps.tenantId));
    return;
  }
  if (req.method === "GET" && /^\/common\/discovery\/instance$/i.test(path)) {
    counters.metadataRequests++;
    sendJson(res, 200, instanceDiscovery(origin, url.searchParams, deps.tenantId));
    return;
  }
  counters.otherRequests.push(`${req.method} ${path}`);
  sendJson(res, 404, {
    error: "not_found",
    error_description: `No endpoint ${req.method} ${path} in the simulator.`,
  });
}
