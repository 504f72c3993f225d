/**
 * The Graph gateway: one Microsoft Graph client per process, its middleware chain
 * (authentication, then mailstream's {@link MailboxRequestPolicy}), and the few request shapes
 * the rest of `lib/graph` uses. Every request to Microsoft goes through here.
 */
import type { Readable } from "node:stream";
import { Readable as NodeReadable } from "node:stream";
import type { ReadableStream as NodeWebReadableStream } from "node:stream/web";
import { AuthenticationHandler, Client, ResponseType } from "@microsoft/microsoft-graph-client";
import { ConfigError } from "../errors.js";
import type { RetryBudget } from "../retry.js";
import type { TokenProvider } from "./auth.js";
import { type MailboxCounters, MailboxTraffic } from "./mailbox-traffic.js";
import type { RequestContext } from "./request-context.js";
import { MailboxRequestOption, MailboxRequestPolicy, type RequestPolicyOptions } from "./request-policy.js";

export interface GraphGatewayOptions {
  tokens: TokenProvider;
  /** Graph base URL with version, https only, e.g. `https://graph.microsoft.com/v1.0`. Required. */
  baseUrl: string;
  /** Concurrent requests per mailbox, shared by the whole process. Bounds 1–64. Default 4. */
  mailboxConcurrency?: number;
  /**
   * Requests per mailbox per budget window, sliding, shared by the whole process. Bounds ≥ 1.
   * Default 10 000 (Outlook's per-app, per-mailbox limit).
   */
  mailboxRequestsPerWindow?: number;
  /** The budget window, ms. Bounds ≥ 1. Default 601 000 (10 minutes plus 1 s for network delay). */
  mailboxBudgetWindowMs?: number;
  /** Retry and stream settings; see {@link RequestPolicyOptions}. Defaults there. */
  policy?: Omit<RequestPolicyOptions, "traffic" | "tokens">;
}

export interface RequestSettings {
  /** Query parameters (values are strings; the client encodes them). */
  query?: Record<string, string>;
  /** Extra headers (e.g. `Prefer: odata.maxpagesize=50`). `Prefer: IdType` is always added. */
  headers?: Record<string, string>;
  /** Mailbox the request counts against, when the path does not name it (`/$batch`). */
  mailboxId?: string;
  /** Slots of the mailbox held (a `$batch` holds several). Default 1. */
  weight?: number;
  /** Requests this counts as in the counters. Default 1. */
  requestCount?: number;
  /** Whether sending twice is harmless (see {@link MailboxRequestOption}). Default: all but POST. */
  idempotent?: boolean;
}

export interface GraphGateway {
  /** The Graph client (middleware chain included), for calls this layer does not wrap. */
  readonly client: Client;
  /** Base URL with version, no trailing slash. */
  readonly baseUrl: string;
  /** The per-mailbox slots, gates and counters (used by `$batch` for inner 429s). */
  readonly traffic: MailboxTraffic;
  /** How long a failing request is retried (the policy's); inner requests of a `$batch` alike. */
  readonly retryBudget: Required<RetryBudget>;
  /** The work this view's requests are sent for (see {@link withContext}); none on the process's gateway. */
  readonly context: RequestContext | undefined;
  /**
   * The same gateway (client, slots, gates, counters) whose requests are sent for `context`:
   * each counts in its tally (each attempt, each inner request of a `$batch`, each 429) and
   * keeps to its deadline, from whatever callback it is started. A unit's view, made when the
   * unit starts.
   */
  withContext(context: RequestContext): GraphGateway;
  /**
   * The longest wait for a mailbox's slots, gate or budget now (the policy's `maxRetryAfterMs`,
   * cut to the context's deadline), ms; a `$batch` across mailboxes waits no longer.
   */
  maxWaitMs(): number;
  /** GET `pathOrUrl` (relative to the base URL, or an absolute link from Graph) as JSON. */
  get<T>(pathOrUrl: string, settings?: RequestSettings): Promise<T>;
  post<T>(pathOrUrl: string, body: unknown, settings?: RequestSettings): Promise<T>;
  patch<T>(pathOrUrl: string, body: unknown, settings?: RequestSettings): Promise<T>;
  /** Every item of a collection, following `@odata.nextLink` to the end, page by page. */
  pages<T>(pathOrUrl: string, settings?: RequestSettings): AsyncIterable<T[]>;
  /**
   * GET as a stream; the request holds its mailbox slot until the stream ends, fails, is
   * destroyed, or lies unread for the policy's idle timeout.
   */
  stream(pathOrUrl: string, settings?: RequestSettings): Promise<Readable>;
  /** POST with a JSON body, the answer as a stream (held slots as {@link stream}). */
  streamPost(pathOrUrl: string, body: unknown, settings?: RequestSettings): Promise<Readable>;
  /** Counters per mailbox (lower-cased user id), for job reports. */
  stats(): Record<string, MailboxCounters>;
}

/** Splits `https://host[:port]/v1.0` into the client's `baseUrl` and `defaultVersion`. */
export function splitBaseUrl(baseUrl: string): { origin: string; version: string; host: string } {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigError("tenant.graphBaseUrl", `expected an https:// URL, found ${baseUrl}`);
  }
  if (url.protocol !== "https:") {
    throw new ConfigError("tenant.graphBaseUrl", `expected an https:// URL, found ${baseUrl}`);
  }
  const version = url.pathname.replace(/^\/+|\/+$/g, "");
  if (version === "" || version.includes("/")) {
    throw new ConfigError(
      "tenant.graphBaseUrl",
      `expected a URL ending in the API version (/v1.0), found ${baseUrl}`,
    );
  }
  return { origin: url.origin, version, host: url.hostname };
}

interface PageBody<T> {
  value?: T[];
  "@odata.nextLink"?: string;
}

export function createGraphGateway(opts: GraphGatewayOptions): GraphGateway {
  const { origin, version, host } = splitBaseUrl(opts.baseUrl);
  const traffic = new MailboxTraffic({
    concurrency: opts.mailboxConcurrency ?? 4,
    ...(opts.mailboxRequestsPerWindow !== undefined
      ? { requestsPerWindow: opts.mailboxRequestsPerWindow }
      : {}),
    ...(opts.mailboxBudgetWindowMs !== undefined ? { windowMs: opts.mailboxBudgetWindowMs } : {}),
  });
  const auth = new AuthenticationHandler({ getAccessToken: () => opts.tokens.getToken() });
  const policy = new MailboxRequestPolicy({ ...opts.policy, traffic, tokens: opts.tokens });
  auth.setNext(policy);
  const client = Client.initWithMiddleware({
    middleware: auth,
    baseUrl: origin,
    defaultVersion: version,
    // Bearer tokens go only to Graph hosts and these (host names, no port): the simulator's, or
    // a national cloud's.
    customHosts: new Set([host]),
  });

  async function call<T>(
    context: RequestContext | undefined,
    pathOrUrl: string,
    settings: RequestSettings,
    run: (request: ReturnType<Client["api"]>) => Promise<T>,
    holdSlotsUntilBodyEnds = false,
  ): Promise<T> {
    const option = new MailboxRequestOption({
      mailboxId: settings.mailboxId,
      weight: settings.weight,
      requestCount: settings.requestCount,
      idempotent: settings.idempotent,
      holdSlotsUntilBodyEnds,
      context,
    });
    let request = client.api(pathOrUrl).middlewareOptions([option]);
    if (settings.query) request = request.query(settings.query);
    if (settings.headers) request = request.headers(settings.headers);
    try {
      return await run(request);
    } catch (error) {
      // The client wraps what the policy threw into a GraphError; give callers the original.
      throw option.error ?? error;
    }
  }

  const view = (context: RequestContext | undefined): GraphGateway => ({
    client,
    baseUrl: `${origin}/${version}`,
    traffic,
    retryBudget: policy.budget,
    context,
    withContext: (next) => view(next),
    maxWaitMs: () => policy.maxWaitMs(context?.deadline),
    get: (pathOrUrl, settings = {}) => call(context, pathOrUrl, settings, (r) => r.get()),
    post: (pathOrUrl, body, settings = {}) => call(context, pathOrUrl, settings, (r) => r.post(body)),
    patch: (pathOrUrl, body, settings = {}) => call(context, pathOrUrl, settings, (r) => r.patch(body)),
    async *pages<T>(pathOrUrl: string, settings: RequestSettings = {}) {
      let page = await call<PageBody<T>>(context, pathOrUrl, settings, (r) => r.get());
      yield page.value ?? [];
      while (page["@odata.nextLink"]) {
        // The link carries the query; only headers and accounting carry over.
        page = await call<PageBody<T>>(
          context,
          page["@odata.nextLink"],
          { ...settings, query: undefined },
          (r) => r.get(),
        );
        yield page.value ?? [];
      }
    },
    async stream(pathOrUrl, settings = {}) {
      const body = await call<ReadableStream<Uint8Array> | null>(
        context,
        pathOrUrl,
        settings,
        (r) => r.responseType(ResponseType.STREAM).get(),
        true,
      );
      if (!body) return NodeReadable.from([]);
      return NodeReadable.fromWeb(body as unknown as NodeWebReadableStream<Uint8Array>);
    },
    async streamPost(pathOrUrl, requestBody, settings = {}) {
      const body = await call<ReadableStream<Uint8Array> | null>(
        context,
        pathOrUrl,
        settings,
        (r) => r.responseType(ResponseType.STREAM).post(requestBody),
        true,
      );
      if (!body) return NodeReadable.from([]);
      return NodeReadable.fromWeb(body as unknown as NodeWebReadableStream<Uint8Array>);
    },
    stats: () => traffic.stats(),
  });
  return view(undefined);
}
