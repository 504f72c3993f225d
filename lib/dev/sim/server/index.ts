/**
 * The simulator's HTTPS server: an Entra ID token endpoint and a Microsoft Graph v1.0 subset for
 * Exchange Online mail, served from a {@link TenantStore}, with Outlook's limits, latency and
 * injectable faults. Built so that the real `@azure/msal-node` and
 * `@microsoft/microsoft-graph-client` run unchanged against it (see GRAPH-FACTS.md).
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ConfigError } from "../../../errors.js";
import type { TenantStore } from "../model.js";
import { handleAdmin, type MutateHook } from "./admin.js";
import { type SimClientRegistration, TokenService } from "./auth.js";
import { executeBatch } from "./batch.js";
import { type CertificatePair, createCa, issueLocalhostCertificate } from "./ca.js";
import { type FaultControl, FaultState } from "./faults.js";
import { graphError, type SimRequest, type SimResponse } from "./graph-types.js";
import { type LatencyOptions, TransferRateLimiter, waitResponseDelay } from "./latency.js";
import { type LimitOptions, MailboxLimiter, type MailboxStats } from "./limits.js";
import { executeGraphRequest, mailboxOfPath, type PipelineDeps } from "./pipeline.js";
import { MAX_FRAGMENT_BYTES, readUploadBody, serveUploadRequest, UploadSessions } from "./upload-sessions.js";

export type { MutateHook } from "./admin.js";
export type { SimClientRegistration } from "./auth.js";
export { type CertificatePair, ensureSimulatorCa, type SimulatorCa } from "./ca.js";
export type {
  DropConnectionFault,
  FaultCommand,
  FaultControl,
  FaultScope,
  ServerErrorFault,
} from "./faults.js";
export type { LatencyOptions } from "./latency.js";
export type { LimitOptions, MailboxStats } from "./limits.js";

export interface SimulatorOptions {
  store: TenantStore;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1` (links always say `localhost`). */
  host?: string;
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
}

export interface ServedStats {
  auth: {
    /** `POST /<tenant>/oauth2/v2.0/token` requests. */
    tokenRequests: number;
    tokensIssued: number;
    tokenRefusals: number;
    /** OpenID configuration requests. */
    metadataRequests: number;
    /** Any other request outside `/v1.0` and `/_admin` ("METHOD /path"): MSAL should make none. */
    otherRequests: string[];
  };
  graph: {
    /** HTTP requests under `/v1.0` plus inner requests of batches. */
    requests: number;
    batches: number;
    byStatus: Record<string, number>;
    throttled: number;
    earlyRetries: number;
    droppedConnections: number;
    mimeBytesServed: number;
  };
  /** Per mailbox (user id). */
  mailboxes: Record<string, MailboxStats>;
}

export interface RunningSimulator {
  /** `https://localhost:PORT/v1.0`: the Graph base URL. */
  baseUrl: string;
  /** `https://localhost:PORT/<tenantId>`: the MSAL authority. */
  authority: string;
  tenantId: string;
  /** The first registered app. */
  clientId: string;
  /** Secret of the first registered app (`undefined` if it only has a certificate). */
  clientSecret: string | undefined;
  /** All registered apps. */
  clients: Array<{ clientId: string; clientSecret: string | undefined }>;
  /** File holding the CA certificate (for `NODE_EXTRA_CA_CERTS`). */
  caCertPath: string;
  caCertPem: string;
  port: number;
  /** The MSAL `authorityMetadata` JSON string (MSAL then contacts only the token endpoint). */
  msalAuthorityMetadata: string;
  /** The MSAL `knownAuthorities` value: `["localhost:PORT"]`. */
  knownAuthorities: string[];
  tokenEndpoint: string;
  faults: FaultControl;
  stats(): ServedStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** Graph rejects request bodies over 4 MB; larger uploads go through upload sessions. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

class BodyTooLargeError extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  if (contentType?.toLowerCase().startsWith("application/json")) return JSON.parse(text);
  return text;
}

function lowerHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers))
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Server certificates by CA: RSA key generation is the slowest part of a start, and a test file starts several simulators. */
const serverCertificates = new Map<string, Promise<CertificatePair>>();

function localhostCertificateFor(ca: CertificatePair): Promise<CertificatePair> {
  let certificate = serverCertificates.get(ca.certPem);
  if (!certificate) {
    certificate = issueLocalhostCertificate(ca);
    serverCertificates.set(ca.certPem, certificate);
    certificate.catch(() => serverCertificates.delete(ca.certPem));
  }
  return certificate;
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const { store } = options;
  const tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  if (!(tokenLifetimeSeconds >= 1))
    throw new ConfigError("tokenLifetimeSeconds", `expected ≥ 1 second, found ${tokenLifetimeSeconds}`);
  const ca: CertificatePair = options.ca ?? (await createCa());
  const serverCert = await localhostCertificateFor(ca);
  const certDir = options.certDir ?? mkdtempSync(join(tmpdir(), "mailstream-sim-"));
  const caCertPath = join(certDir, "simulator-ca.pem");
  // Another process may be reading this file (ensureSimulatorCa writes the same name): replace it atomically.
  if (!existsSync(caCertPath) || readFileSync(caCertPath, "utf8") !== ca.certPem) {
    const tmp = `${caCertPath}.${randomUUID()}.tmp`;
    writeFileSync(tmp, ca.certPem);
    renameSync(tmp, caCertPath);
  }

  const server = createServer({ key: serverCert.keyPem, cert: serverCert.certPem });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `https://localhost:${port}`;
  const tenantId = store.tenantId;
  const baseUrl = `${origin}/v1.0`;
  const authority = `${origin}/${tenantId}`;
  const tokenEndpoint = `${authority}/oauth2/v2.0/token`;
  const openIdConfiguration = {
    token_endpoint: tokenEndpoint,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${origin}/${tenantId}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${origin}/${tenantId}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${authority}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf", "tid"],
    tenant_region_scope: "EU",
    cloud_instance_name: "localhost",
    cloud_graph_host_name: "localhost",
    msgraph_host: `localhost:${port}`,
  };

  const tokens = new TokenService({
    tenantId,
    tokenEndpoint,
    tokenLifetimeSeconds,
    clients: options.clients ?? [],
  });
  const limiter = new MailboxLimiter(options.limits);
  const faults = new FaultState(store, () => tokens.expireAll());
  // Upload URLs name 127.0.0.1, not the Graph host localhost: like outlook.office.com for real
  // Graph, a host the Graph client sends no bearer token to.
  const uploads = new UploadSessions({
    origin: `https://127.0.0.1:${port}`,
    tenantId,
    ...(options.uploadSessionLifetimeSeconds !== undefined
      ? { lifetimeSeconds: options.uploadSessionLifetimeSeconds }
      : {}),
  });
  const deps: PipelineDeps = {
    ctx: {
      uploads,
      store,
      baseUrl,
      perMimeByteNs: options.latency?.perMimeByteNs ?? 0,
      takeForcedGone: (m, f) => faults.takeForcedGone(m, f),
      takeMalformedDeltaItem: (m, f) => faults.takeMalformedDeltaItem(m, f),
    },
    limiter,
    faults,
    latency: options.latency,
  };

  const freshCounters = () => ({
    auth: {
      tokenRequests: 0,
      tokensIssued: 0,
      tokenRefusals: 0,
      metadataRequests: 0,
      otherRequests: [] as string[],
    },
    graph: {
      requests: 0,
      batches: 0,
      byStatus: {} as Record<string, number>,
      droppedConnections: 0,
      mimeBytesServed: 0,
    },
  });
  let counters = freshCounters();
  const stats = (): ServedStats => {
    const mailboxes = limiter.stats();
    const sum = (key: "throttled" | "earlyRetries") =>
      Object.values(mailboxes).reduce((n, m) => n + m[key], 0);
    return {
      auth: { ...counters.auth, otherRequests: [...counters.auth.otherRequests] },
      graph: {
        ...counters.graph,
        byStatus: { ...counters.graph.byStatus },
        throttled: sum("throttled"),
        earlyRetries: sum("earlyRetries"),
      },
      mailboxes,
    };
  };
  const resetStats = () => {
    counters = freshCounters();
    limiter.resetStats();
  };
  const countStatus = (status: number) => {
    counters.graph.requests++;
    counters.graph.byStatus[status] = (counters.graph.byStatus[status] ?? 0) + 1;
  };

  async function handleGraph(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const headers = lowerHeaders(req);
    const base = { requestId: randomUUID(), clientRequestId: headers["client-request-id"] ?? randomUUID() };
    const mailbox = mailboxOfPath(deps, path);
    if (faults.takeDrop(path, mailbox?.mailboxId)) {
      counters.graph.droppedConnections++;
      req.socket.destroy();
      return;
    }
    let response: SimResponse;
    const auth = tokens.check(headers.authorization);
    if (!auth.ok) {
      await waitResponseDelay(options.latency);
      response = graphError(base, 401, "InvalidAuthenticationToken", auth.message, {
        "www-authenticate": `Bearer realm="", authorization_uri="${authority}/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
      });
    } else {
      let body: unknown;
      try {
        body = parseBody(await readBody(req), headers["content-type"]);
      } catch (error) {
        const tooLarge = error instanceof BodyTooLargeError;
        response = graphError(
          base,
          tooLarge ? 413 : 400,
          tooLarge ? "RequestEntityTooLarge" : "BadRequest",
          tooLarge
            ? `The request body exceeds ${MAX_BODY_BYTES} bytes.`
            : `Expected a JSON body, found invalid JSON: ${String(error)}`,
        );
        countStatus(response.status);
        return writeResponse(res, response, base);
      }
      const simReq: SimRequest = {
        method: req.method ?? "GET",
        path,
        query,
        headers,
        body,
        clientId: auth.clientId,
        ...base,
      };
      if (/^\/\$batch$/i.test(path) && simReq.method === "POST") {
        counters.graph.batches++;
        response = await executeBatch(deps, simReq);
        // Inner requests count like HTTP ones, so the statistics cover all Graph traffic.
        const inner = (response.json as { responses?: Array<{ status: number }> }).responses ?? [];
        for (const r of inner) countStatus(r.status);
      } else {
        response = await executeGraphRequest(deps, simReq).catch((error: unknown) =>
          graphError(
            simReq,
            500,
            "InternalServerError",
            `The simulator failed on this request: ${String(error)}`,
          ),
        );
      }
    }
    countStatus(response.status);
    // Answers made outside the pipeline (401, the batch envelope) honour the id-type preference too.
    if (
      !response.headers["preference-applied"] &&
      /IdType\s*=\s*"?ImmutableId"?/i.test(headers.prefer ?? "")
    ) {
      response.headers["preference-applied"] = 'IdType="ImmutableId"';
    }
    await writeResponse(res, response, base);
  }

  async function writeResponse(
    res: ServerResponse,
    response: SimResponse,
    base: { requestId: string; clientRequestId: string },
  ): Promise<void> {
    const headers: Record<string, string> = {
      ...response.headers,
      "request-id": base.requestId,
      "client-request-id": base.clientRequestId,
      "x-ms-ags-diagnostic": JSON.stringify({
        ServerInfo: { DataCenter: "Local", Slice: "E", Ring: "0", ScaleUnit: "000", RoleInstance: "SIM" },
      }),
    };
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        response.release?.();
      }
    };
    // The service is done with a request before its client can see the end of the answer, so
    // the request's concurrency slot is released before the last bytes are written (for a
    // stream: when the source has been read to its end). Releasing after the write lets a client
    // that read the end and sent its next request race the release and draw a 429 it did not earn.
    res.once("close", release);
    if (response.stream) {
      res.writeHead(response.status, headers);
      const mailboxId = response.mailboxId;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, callback) {
          counters.graph.mimeBytesServed += chunk.length;
          if (mailboxId) limiter.noteMimeBytes(mailboxId, chunk.length);
          callback(null, chunk);
        },
        flush(callback) {
          release();
          callback();
        },
      });
      // pipeline() respects backpressure end to end and destroys the source if the client goes away.
      const done = response.streamNsPerByte
        ? pipeline(response.stream, new TransferRateLimiter(response.streamNsPerByte), counter, res)
        : pipeline(response.stream, counter, res);
      await done.catch(() => undefined);
      return;
    }
    release();
    if (response.bytes) {
      res.writeHead(response.status, headers).end(response.bytes);
      return;
    }
    if (response.json === undefined) {
      res.writeHead(response.status, headers).end();
      return;
    }
    const text = JSON.stringify(response.json);
    res
      .writeHead(response.status, { ...headers, "content-length": String(Buffer.byteLength(text)) })
      .end(text);
  }

  /** A request to an attachment upload URL: authenticated by the token in the URL, not a bearer token. */
  async function handleUpload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const headers = lowerHeaders(req);
    const base = { requestId: randomUUID(), clientRequestId: headers["client-request-id"] ?? randomUUID() };
    const body = await readUploadBody(req, MAX_FRAGMENT_BYTES);
    const response = await serveUploadRequest(
      { uploads, store, limiter, faults, latency: options.latency },
      {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers,
        body,
        ...base,
      },
    );
    countStatus(response.status);
    await writeResponse(res, response, base);
  }

  async function handleAuth(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const tokenMatch = /^\/([^/]+)\/oauth2\/v2\.0\/token$/i.exec(path);
    if (tokenMatch && req.method === "POST") {
      counters.auth.tokenRequests++;
      const form = new URLSearchParams((await readBody(req)).toString("utf8"));
      const answer = tokens.issue(decodeURIComponent(tokenMatch[1] ?? ""), form);
      if (answer.status === 200) counters.auth.tokensIssued++;
      else counters.auth.tokenRefusals++;
      await waitResponseDelay(options.latency);
      sendJson(res, answer.status, answer.body, {
        "cache-control": "no-store, no-cache",
        pragma: "no-cache",
      });
      return;
    }
    if (/^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/i.test(path) && req.method === "GET") {
      counters.auth.metadataRequests++;
      sendJson(res, 200, openIdConfiguration);
      return;
    }
    counters.auth.otherRequests.push(`${req.method} ${path}`);
    sendJson(res, 404, {
      error: "not_found",
      error_description: `No endpoint ${req.method} ${path} in the simulator.`,
    });
  }

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", origin);
    const path = url.pathname;
    const work = async () => {
      if (path === "/v1.0" || path.startsWith("/v1.0/")) {
        return handleGraph(req, res, path.slice("/v1.0".length) || "/", url.searchParams);
      }
      if (/^\/api\/v2\.0\//i.test(path)) return handleUpload(req, res, url);
      if (path.startsWith("/_admin/")) {
        let body: unknown;
        try {
          body = parseBody(await readBody(req), "application/json");
        } catch (error) {
          return sendJson(res, 400, { error: `Expected a JSON body: ${String(error)}` });
        }
        const answer = await handleAdmin(
          { store, faults, stats, resetStats, onMutate: options.onMutate },
          req.method ?? "GET",
          path,
          body,
        );
        return sendJson(res, answer.status, answer.body);
      }
      return handleAuth(req, res, path);
    };
    work().catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: `simulator failure: ${String(error)}` });
      else res.destroy();
    });
  });

  return {
    baseUrl,
    authority,
    tenantId,
    clientId: tokens.clients[0]?.clientId ?? "",
    clientSecret: tokens.clients[0]?.clientSecret,
    clients: tokens.clients.map((c) => ({ clientId: c.clientId, clientSecret: c.clientSecret })),
    caCertPath,
    caCertPem: ca.certPem,
    port,
    msalAuthorityMetadata: JSON.stringify(openIdConfiguration),
    knownAuthorities: [`localhost:${port}`],
    tokenEndpoint,
    faults,
    stats,
    resetStats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
