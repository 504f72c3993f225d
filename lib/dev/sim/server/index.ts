/**
 * The simulator's HTTPS server: an Entra ID token endpoint and a Microsoft Graph v1.0 subset for
 * Exchange Online, served from a {@link TenantStore}, with Outlook's limits, latency and
 * injectable faults. Built so that the real `@azure/msal-node` and
 * `@microsoft/microsoft-graph-client` run unchanged against it (see docs/simulator.md).
 *
 * This module wires the parts together and dispatches each request by path: `/v1.0` and `/beta`
 * to Graph ({@link handleGraphRequest}), pre-authenticated URLs to their services,
 * `/_admin` to the admin endpoints, everything else to the identity endpoints.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../errors.js";
import type { TenantStore } from "../model.js";
import { handleAdmin, type MutateHook } from "./admin.js";
import { type SimClientRegistration, TokenService } from "./auth.js";
import { type CertificatePair, createCa, issueServerCertificate } from "./ca.js";
import { type FaultControl, FaultState } from "./faults.js";
import { handleGraphRequest } from "./graph-endpoint.js";
import { parseBody, readBody, sendJson } from "./http-io.js";
import { handleIdentityRequest, openIdConfiguration } from "./identity.js";
import { ImportSessions } from "./import-sessions.js";
import type { LatencyOptions } from "./latency.js";
import { type LimitOptions, MailboxLimiter } from "./limits.js";
import { Origins } from "./origins.js";
import type { PipelineDeps } from "./pipeline.js";
import { handlePreauthenticatedRequest, isPreauthenticatedPath } from "./preauthenticated.js";
import { ReportDownloads } from "./report-downloads.js";
import { type ServedStats, StatsRecorder } from "./stats.js";
import { UploadSessions } from "./upload-sessions.js";

export type { MutateHook } from "./admin.js";
export { APPLICATION_PERMISSIONS, type SimClientRegistration } from "./auth.js";
export { type CertificatePair, ensureSimulatorCa, type SimulatorCa } from "./ca.js";
export type {
  DropConnectionFault,
  FaultCommand,
  FaultControl,
  FaultScope,
  ServerErrorFault,
  ServerErrorRateFault,
} from "./faults.js";
export type { LatencyOptions } from "./latency.js";
export type { LimitOptions, MailboxStats } from "./limits.js";
export type { ServedStats } from "./stats.js";

export interface SimulatorOptions {
  store: TenantStore;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /**
   * Host names the simulator answers as (e.g. `graph.microsoft.com`, `login.microsoftonline.com`,
   * `outlook.office365.com`): its certificate covers them, besides `localhost`, `127.0.0.1` and
   * `::1`. The first is the host of {@link RunningSimulator.baseUrl}. Links always follow the
   * host a request names. Default `["localhost"]`.
   */
  hostNames?: string[];
  /**
   * The server certificate and key (PEM) to serve instead of one issued by the simulator CA, for
   * users who trust their own certificates. Default: issued by {@link ca} for {@link hostNames}.
   */
  certificate?: CertificatePair;
  /** Outlook limits per app and mailbox. */
  limits?: LimitOptions;
  /** Service time model. Default: no added latency. */
  latency?: LatencyOptions;
  /** Lifetime of access tokens, seconds. Bounds ≥ 1. Default 3599 (as Entra ID). */
  tokenLifetimeSeconds?: number;
  /** Registered apps. Default: one app with a generated client id and secret. */
  clients?: SimClientRegistration[];
  /** CA that signs the server certificate (see `ensureSimulatorCa`). Default: a fresh CA. */
  ca?: { certPem: string; keyPem: string };
  /** Folder for the CA certificate file (`caCertPath`). Default: a new temporary folder. */
  certDir?: string;
  /** Hook for `POST /_admin/mutate` (tenant mutation lives with the tenant code). */
  onMutate?: MutateHook;
  /** Lifetime of an attachment upload session and its URL's token, seconds. Bounds ≥ 1. Default 3600. */
  uploadSessionLifetimeSeconds?: number;
  /** Lifetime of an item import session (its `importUrl`), seconds. Bounds ≥ 1. Default 3600. */
  importSessionLifetimeSeconds?: number;
}

export interface RunningSimulator {
  /** `https://{first host name}:PORT`: where the simulator is reached by default. */
  origin: string;
  /** `{origin}/v1.0`: the Graph base URL. */
  baseUrl: string;
  /** `{origin}/<tenantId>`: the MSAL authority. */
  authority: string;
  /** The host names served (the certificate's names besides the loopback ones). */
  hostNames: string[];
  tenantId: string;
  /** The first registered app. */
  clientId: string;
  /** Secret of the first registered app (`undefined` if it only has a certificate). */
  clientSecret: string | undefined;
  /** All registered apps. */
  clients: Array<{ clientId: string; clientSecret: string | undefined }>;
  /**
   * File holding the certificate to trust (for `NODE_EXTRA_CA_CERTS`): the simulator CA's, or with
   * a certificate of the user's ({@link SimulatorOptions.certificate}) that certificate (enough
   * when it is self-signed; trust its CA when it has one).
   */
  caCertPath: string;
  caCertPem: string;
  port: number;
  /** The MSAL `authorityMetadata` JSON string (MSAL then contacts only the token endpoint). */
  msalAuthorityMetadata: string;
  /** The MSAL `knownAuthorities` value: `["{host}:PORT"]`. */
  knownAuthorities: string[];
  tokenEndpoint: string;
  faults: FaultControl;
  stats(): ServedStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** Server certificates by CA and names: RSA key generation is the slowest part of a start, and a test file starts several simulators. */
const serverCertificates = new Map<string, Promise<CertificatePair>>();

function serverCertificateFor(ca: CertificatePair, hostNames: readonly string[]): Promise<CertificatePair> {
  const key = `${ca.certPem}\u0000${hostNames.join(",")}`;
  let certificate = serverCertificates.get(key);
  if (!certificate) {
    certificate = issueServerCertificate(ca, hostNames);
    serverCertificates.set(key, certificate);
    certificate.catch(() => serverCertificates.delete(key));
  }
  return certificate;
}

/** Writes the certificate to trust where `NODE_EXTRA_CA_CERTS` can name it; returns the file. */
function writeCaFile(certDir: string, caCertPem: string, name: string): string {
  const caCertPath = join(certDir, name);
  // Another process may be reading this file (ensureSimulatorCa writes the same name): replace it atomically.
  if (!existsSync(caCertPath) || readFileSync(caCertPath, "utf8") !== caCertPem) {
    const tmp = `${caCertPath}.${randomUUID()}.tmp`;
    writeFileSync(tmp, caCertPem);
    renameSync(tmp, caCertPath);
  }
  return caCertPath;
}

/** Host names as given, lower case, without duplicates; refuses what cannot be a host name. */
function validHostNames(names: string[] | undefined): string[] {
  const out = [...new Set((names ?? ["localhost"]).map((n) => n.trim().toLowerCase()))];
  const bad = out.find(
    (n) =>
      !/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$|^[0-9a-f:.]+$/.test(n),
  );
  if (out.length === 0 || bad !== undefined) {
    throw new ConfigError(
      "hostNames",
      `expected one or more DNS names or IP addresses, found ${JSON.stringify(bad ?? names)}`,
    );
  }
  return out;
}

/** `/v1.0/…` and `/beta/…`: Graph. */
const GRAPH_PATH = /^\/(v1\.0|beta)(\/.*)?$/i;

/**
 * A request target whose path the URL parser would leave as it is (an absolute path of URL
 * code points that need no percent-encoding, no dot segment, no `\`, only printable ASCII and
 * no fragment), split at
 * its `?`; `undefined` for any other, which goes through `new URL`. Every Graph request of a
 * client is such a target, and parsing it as a URL (with the query a second time) was 3–5 % of
 * the simulator's CPU per request.
 */
export function plainTarget(target: string): { path: string; search: string } | undefined {
  const at = target.indexOf("?");
  const path = at < 0 ? target : target.slice(0, at);
  if (!PLAIN_PATH.test(path) || DOT_SEGMENT.test(path) || UNPARSED.test(target)) return undefined;
  return { path, search: at < 0 ? "" : target.slice(at) };
}

const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
/**
 * What the URL parser drops, cuts at or encodes: a fragment, spaces and controls (HTTP never
 * sends them), non-ASCII (clients percent-encode it): anything but printable ASCII, and `#`.
 */
const UNPARSED = /[^!-~]|#/;

/** Parsed query strings by their text (with its `?`), shared: no handler changes a request's query. */
const queries = new Map<string, URLSearchParams>();
/**
 * Distinct query strings kept. Bounds ≥ 1. Default 256: every folder's first item delta request
 * asks the same `$select` and `$expand` (1.8 KB), follow-ups carry tokens of their own (kept
 * until the map is full, then it starts again).
 */
const QUERIES_KEPT = 256;

function queryOf(search: string): URLSearchParams {
  let query = queries.get(search);
  if (query === undefined) {
    query = new URLSearchParams(search);
    if (queries.size >= QUERIES_KEPT) queries.clear();
    queries.set(search, query);
  }
  return query;
}

function failed(res: ServerResponse, error: unknown): void {
  if (!res.headersSent) sendJson(res, 500, { error: `simulator failure: ${String(error)}` });
  else res.destroy();
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { store } = options;
  const tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  if (!(tokenLifetimeSeconds >= 1))
    throw new ConfigError("tokenLifetimeSeconds", `expected ≥ 1 second, found ${tokenLifetimeSeconds}`);
  const hostNames = validHostNames(options.hostNames);
  let serverCert: CertificatePair;
  let ca: CertificatePair | undefined;
  if (options.certificate) {
    serverCert = options.certificate;
  } else {
    ca = options.ca ?? (await createCa());
    serverCert = await serverCertificateFor(ca, hostNames);
  }
  const trusted = ca?.certPem ?? serverCert.certPem;
  const caCertPath = writeCaFile(
    options.certDir ?? mkdtempSync(join(tmpdir(), "mailstream-sim-")),
    trusted,
    ca ? "simulator-ca.pem" : "simulator-certificate.pem",
  );

  const server = createServer({ key: serverCert.keyPem, cert: serverCert.certPem });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origins = new Origins(hostNames, port);
  const tenantId = store.tenantId;
  const authority = `${origins.default}/${tenantId}`;

  const tokens = new TokenService({ tenantId, tokenLifetimeSeconds, clients: options.clients ?? [] });
  const limiter = new MailboxLimiter(options.limits);
  const stats = new StatsRecorder(limiter);
  const faults = new FaultState(store, () => tokens.expireAll());
  const uploads = new UploadSessions({
    tenantId,
    ...(options.uploadSessionLifetimeSeconds !== undefined
      ? { lifetimeSeconds: options.uploadSessionLifetimeSeconds }
      : {}),
  });
  const reports = new ReportDownloads();
  const imports = new ImportSessions(options.importSessionLifetimeSeconds);
  const pipeline: PipelineDeps = {
    services: {
      uploads,
      reports,
      imports,
      noteExportBytes: (key, bytes) => limiter.noteExportBytes(key, bytes),
      store,
      origins,
      perMimeByteNs: options.latency?.perMimeByteNs ?? 0,
      takeForcedGone: (m, f) => faults.takeForcedGone(m, f),
      takeMalformedDeltaItem: (m, f) => faults.takeMalformedDeltaItem(m, f),
    },
    limiter,
    faults,
    latency: options.latency,
    requestKinds: stats.requestKinds,
  };
  const graphDeps = { tokens, tenantId, pipeline, faults, stats, latency: options.latency };
  const preauthDeps = {
    uploads: { uploads, store, limiter, faults, latency: options.latency },
    imports: { sessions: imports, store, limiter, faults, latency: options.latency },
    reports,
    stats,
  };
  const identityDeps = { tokens, tenantId, latency: options.latency, counters: () => stats.auth };

  async function handleAdminRequest(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let body: unknown;
    try {
      body = parseBody(await readBody(req), "application/json");
    } catch (error) {
      return sendJson(res, 400, { error: `Expected a JSON body: ${String(error)}` });
    }
    const answer = await handleAdmin(
      {
        store,
        faults,
        stats: () => stats.snapshot(),
        resetStats: () => stats.reset(),
        onMutate: options.onMutate,
      },
      req.method ?? "GET",
      path,
      body,
    );
    sendJson(res, answer.status, answer.body);
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const origin = origins.ofRequest(req.headers.host);
    const plain = plainTarget(req.url ?? "/");
    const version = GRAPH_PATH.exec(plain?.path ?? "");
    if (plain && version) {
      handleGraphRequest(graphDeps, req, res, {
        path: version[2] || "/",
        query: queryOf(plain.search),
        origin,
        apiVersion: (version[1] ?? "v1.0").toLowerCase(),
      }).catch((error: unknown) => failed(res, error));
      return;
    }
    const url = new URL(req.url ?? "/", origin);
    const path = url.pathname;
    const work = async () => {
      const version = GRAPH_PATH.exec(path);
      if (version) {
        return handleGraphRequest(graphDeps, req, res, {
          path: version[2] || "/",
          query: queryOf(url.search),
          origin,
          apiVersion: (version[1] ?? "v1.0").toLowerCase(),
        });
      }
      if (isPreauthenticatedPath(path)) return handlePreauthenticatedRequest(preauthDeps, req, res, url);
      if (path.startsWith("/_admin/")) return handleAdminRequest(req, res, path);
      return handleIdentityRequest(identityDeps, req, res, url, origin);
    };
    work().catch((error: unknown) => failed(res, error));
  });

  return {
    origin: origins.default,
    baseUrl: `${origins.default}/v1.0`,
    authority,
    hostNames,
    tenantId,
    clientId: tokens.clients[0]?.clientId ?? "",
    clientSecret: tokens.clients[0]?.clientSecret,
    clients: tokens.clients.map((c) => ({ clientId: c.clientId, clientSecret: c.clientSecret })),
    caCertPath,
    caCertPem: trusted,
    port,
    msalAuthorityMetadata: JSON.stringify(openIdConfiguration(origins.default, tenantId)),
    knownAuthorities: [new URL(origins.default).host],
    tokenEndpoint: `${authority}/oauth2/v2.0/token`,
    faults,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
