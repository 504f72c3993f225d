/**
 * Where the simulator is reached, and so where the links it hands out point.
 *
 * Every link (nextLink, deltaLink, `@odata.context`, `Location`) is built from the origin the
 * client used, read from the request's `Host` header: a client that reached the simulator as
 * `https://graph.microsoft.com` (through a hosts entry) gets `https://graph.microsoft.com/…`
 * links back, one that used `https://localhost:8443` gets those. Pre-authenticated URLs (upload
 * sessions, import sessions, report downloads) point to a *different* host, as Exchange's do
 * (`outlook.office.com`, `outlook.office365.com`, `reports.office.com`), so that a Graph client
 * sends no bearer token there.
 */
import { isIpLiteral } from "./ca.js";

/** Services whose URLs are pre-authenticated (a token in the URL, no `Authorization` header). */
export type PreauthenticatedService = "upload" | "import" | "report";

/** The real host names of each pre-authenticated service, in order of preference. */
const SERVICE_HOSTS: Record<PreauthenticatedService, readonly string[]> = {
  upload: ["outlook.office.com", "outlook.office365.com"],
  import: ["outlook.office365.com", "outlook.office.com"],
  report: ["reports.office.com"],
};

/** A host (name or IP literal, IPv6 in brackets) with an optional port: what a `Host` header may hold. */
const HOST_HEADER =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

function portSuffix(port: number): string {
  return port === 443 ? "" : `:${port}`;
}

export class Origins {
  /** `https://{first host name}[:port]`: the origin of links when a request names no usable host. */
  readonly default: string;
  private readonly served: Set<string>;

  /**
   * @param hostNames names the simulator serves (its certificate covers them), first = default
   * @param port the TCP port it listens on
   */
  constructor(
    readonly hostNames: readonly string[],
    readonly port: number,
  ) {
    const first = hostNames[0] ?? "localhost";
    this.default = `https://${bracketed(first)}${portSuffix(port)}`;
    this.served = new Set(hostNames.map((h) => h.toLowerCase()));
  }

  /** The origin the client used (`https://` + its `Host` header), or {@link default} without a usable one. */
  ofRequest(hostHeader: string | undefined): string {
    const host = hostHeader?.trim();
    return host && HOST_HEADER.test(host) ? `https://${host.toLowerCase()}` : this.default;
  }

  /**
   * Where the pre-authenticated URLs of `service` point, for a client that reached the simulator
   * at `requestOrigin`: the service's real host when the simulator serves it (e.g.
   * `outlook.office365.com`), else the loopback name the client did *not* use (`127.0.0.1` for
   * `localhost` and every other name, `localhost` for `127.0.0.1`). The port is the request's.
   */
  preauthenticated(service: PreauthenticatedService, requestOrigin: string): string {
    const url = new URL(requestOrigin);
    const port = url.port === "" ? 443 : Number(url.port);
    const real = SERVICE_HOSTS[service].find((h) => this.served.has(h));
    const host = real ?? (url.hostname === "127.0.0.1" ? "localhost" : "127.0.0.1");
    return `https://${host}${portSuffix(port)}`;
  }
}

function bracketed(host: string): string {
  return host.includes(":") && isIpLiteral(host) && !host.startsWith("[") ? `[${host}]` : host;
}
