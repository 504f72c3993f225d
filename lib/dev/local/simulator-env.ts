/**
 * The configuration that points mailstream at a running simulator, in its own small module so
 * that a process serving the simulator need not load the local stack.
 */
import type { RunningSimulator } from "../sim/server/index.js";

/** The MAILSTREAM_* tenant and credential values that point mailstream at a running simulator. */
export function simulatorTenantEnv(
  sim: Pick<
    RunningSimulator,
    | "tenantId"
    | "clientId"
    | "baseUrl"
    | "authority"
    | "msalAuthorityMetadata"
    | "knownAuthorities"
    | "clientSecret"
  >,
): Record<string, string> {
  return {
    MAILSTREAM_TENANT_ID: sim.tenantId,
    MAILSTREAM_CLIENT_ID: sim.clientId,
    MAILSTREAM_GRAPH_BASE_URL: sim.baseUrl,
    MAILSTREAM_AUTHORITY: sim.authority,
    MAILSTREAM_AUTHORITY_METADATA: sim.msalAuthorityMetadata,
    MAILSTREAM_KNOWN_AUTHORITIES: sim.knownAuthorities.join(","),
    MAILSTREAM_CREDENTIALS_SOURCE: "env",
    MAILSTREAM_CLIENT_SECRET: sim.clientSecret ?? "",
  };
}
