/**
 * The real client libraries, configured the way mailstream configures them, pointed at a
 * running simulator: MSAL with `knownAuthorities` + `authorityMetadata` (so that it only ever
 * POSTs to the token endpoint) and the Graph client with `customHosts: ["localhost"]`.
 */
import { ConfidentialClientApplication } from "@azure/msal-node";
import { Client, GraphError } from "@microsoft/microsoft-graph-client";
import {
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from "../../../lib/dev/sim/server/index.js";
import { loadTestCa } from "../../support/sim-ca.js";

export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
export const PREFER_IMMUTABLE = 'IdType="ImmutableId"';

export async function startTestSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  return startSimulator({ ca: await loadTestCa(), latency: { baseMs: 1 }, ...options });
}

export type Credential =
  | { clientSecret: string }
  | { clientCertificate: { thumbprintSha256: string; privateKey: string; x5c?: string } };

export function msalFor(
  sim: RunningSimulator,
  credential: Credential,
  clientId = sim.clientId,
): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: {
      clientId,
      authority: sim.authority,
      knownAuthorities: sim.knownAuthorities,
      authorityMetadata: sim.msalAuthorityMetadata,
      ...credential,
    },
  });
}

export async function tokenFrom(msal: ConfidentialClientApplication, skipCache = false): Promise<string> {
  const result = await msal.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE], skipCache });
  if (!result?.accessToken) throw new Error("expected an access token from MSAL, found none");
  return result.accessToken;
}

/** A Graph client whose tokens come from MSAL (cached by MSAL, as in production). */
export function graphFor(sim: RunningSimulator, msal: ConfidentialClientApplication): Client {
  return Client.initWithMiddleware({
    baseUrl: sim.baseUrl.replace(/\/v1\.0$/, ""),
    customHosts: new Set(["localhost"]),
    authProvider: { getAccessToken: () => tokenFrom(msal) },
  });
}

export function secretGraph(sim: RunningSimulator): Client {
  return graphFor(sim, msalFor(sim, { clientSecret: sim.clientSecret ?? "" }));
}

/** Runs `call` and returns the GraphError it throws (fails the test when it does not throw one). */
export async function graphErrorOf(call: Promise<unknown>): Promise<GraphError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof GraphError) return error;
    throw error;
  }
  throw new Error("expected the Graph call to fail, it succeeded");
}

/** An access token straight from the simulator's token endpoint (client credentials, no MSAL). */
export async function clientCredentialToken(sim: RunningSimulator): Promise<string> {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: sim.clientId,
    client_secret: sim.clientSecret ?? "",
    scope: GRAPH_SCOPE,
  });
  const response = await fetch(sim.tokenEndpoint, { method: "POST", body: form });
  return ((await response.json()) as { access_token: string }).access_token;
}
