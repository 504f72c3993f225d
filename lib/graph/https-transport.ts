/**
 * How the request policy sends a Graph request: node:https over a keep-alive agent, with what
 * `fetch` does for it (redirects, content decoding, a silent connection's timeout) and no more.
 *
 * Why not the global `fetch`: Node's fetch (undici) builds a WHATWG Request, header lists, a
 * body stream and a Response for every request, and reads the body through a web stream's turns.
 * The same GET of a 6 KB JSON page over a kept-alive TLS connection took 514 µs of CPU through
 * fetch and 155 µs through node:https (64 in flight, 6,000 requests, this machine); undici was
 * 25–30 % of a controller's busy time in the shape benchmarks. The Graph client still runs every
 * request (its middleware chain, authentication, response handling): only the terminal
 * middleware (request-policy.ts), which sends the request itself, uses this instead of fetch.
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { Agent, type AgentOptions, request as httpsRequest } from "node:https";
import { pipeline, Readable } from "node:stream";
import * as zlib from "node:zlib";

/** An HTTP answer as the request policy reads it: fetch's Response is one, so is the transport's. */
export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  /** The body as a web stream (read once); null for an answer without one. */
  readonly body: ReadableStream<Uint8Array> | null;
  /**
   * The whole body, its chunks joined once, without a web stream's turns (the transport's
   * answers have it; a Response from an injected `fetch` does not). Rejects when the connection
   * breaks mid-body.
   */
  readAll?(): Promise<Uint8Array>;
}

/** Sends one request; `fetch`'s shape, so that tests can inject a `fetch`. */
export type HttpSend = (url: string, init: RequestInit) => Promise<HttpAnswer>;

export interface HttpsTransportOptions {
  /**
   * The agent to connect through. Default: one of the transport's own, keeping connections
   * alive (see {@link keepAliveAgent}).
   */
  agent?: Agent;
  /**
   * A connection that stays silent this long (no answer's headers, no body byte) fails the
   * request as a dropped connection (retried as one), ms. Bounds ≥ 1. Default 300 000 (undici's
   * `headersTimeout` and `bodyTimeout`, what `fetch` had).
   */
  idleTimeoutMs?: number;
  /** Redirects followed per request (then it fails like a dropped connection). Bounds 0–20. Default 20 (fetch's). */
  maxRedirects?: number;
}

/**
 * An agent that keeps connections for the next request: no cap per host (as undici's pool;
 * the policy caps requests per mailbox), the most recently freed connection used first (`lifo`,
 * so that surplus ones fall idle and close), an idle connection closed after 4 s, or 1 s before
 * the server's `Keep-Alive: timeout` when that is shorter (so that no request goes out on a
 * connection the server is closing), as undici does. `tls.ca`: certificates to trust instead of
 * the process's (tests).
 */
export function keepAliveAgent(tls: Pick<AgentOptions, "ca"> = {}): Agent {
  return new Agent({ ...tls, keepAlive: true, maxSockets: Infinity, scheduling: "lifo", timeout: 4_000 });
}

/** A connection that said nothing for the idle timeout; a dropped connection to the policy. */
export class ConnectionIdleError extends Error {
  override name = "ConnectionIdleError";
}

/** More redirects than allowed, or one without a usable Location; a failed request to the policy. */
export class RedirectError extends Error {
  override name = "RedirectError";
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that describe a request body: dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = [
  "content-type",
  "content-length",
  "content-encoding",
  "content-language",
  "content-location",
];
/** Headers that carry credentials: dropped on a redirect to another origin (fetch's rule). */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

/** The request body as bytes (with the content type it implies, for bodies that carry one). */
async function bodyBytes(body: RequestInit["body"]): Promise<{ bytes?: Buffer; contentType?: string }> {
  if (body === null || body === undefined) return {};
  if (typeof body === "string")
    return { bytes: Buffer.from(body, "utf8"), contentType: "text/plain;charset=UTF-8" };
  if (ArrayBuffer.isView(body)) return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof ArrayBuffer) return { bytes: Buffer.from(body) };
  // Blob, FormData, URLSearchParams, streams: as fetch would encode them (rare here).
  const encoded = new Response(body as ConstructorParameters<typeof Response>[0]);
  const contentType = encoded.headers.get("content-type");
  return { bytes: Buffer.from(await encoded.arrayBuffer()), ...(contentType ? { contentType } : {}) };
}

/**
 * A request's headers as a plain record, names lower-cased (HTTP/1.1 ignores their case), a name
 * given twice joined as `Headers` joins it. A record, not a `Headers`: three of those per request
 * (the client's, each attempt's copy, the transport's) were ~4 % of a request's CPU.
 */
export function headerRecord(init: RequestInit["headers"]): Record<string, string> {
  const record: Record<string, string> = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const had = record[key];
    record[key] = had === undefined ? String(value) : `${had}, ${value}`;
  };
  if (init instanceof Headers)
    init.forEach((value, name) => {
      add(name, value);
    });
  else if (Array.isArray(init)) for (const [name, value] of init) add(name as string, value as string);
  else if (init)
    for (const name of Object.keys(init)) add(name, (init as Record<string, string>)[name] as string);
  return record;
}

/** `init.headers` as a record (names lower-cased), with what fetch adds by default. */
function requestHeaders(init: RequestInit["headers"]): Record<string, string> {
  const record = headerRecord(init);
  record.accept ??= "*/*";
  record["accept-encoding"] ??= "br, gzip, deflate";
  record["user-agent"] ??= "node";
  return record;
}

/** The answer's body, decoded as fetch decodes it (`Content-Encoding` gzip, deflate, br). */
function decodedBody(res: IncomingMessage): Readable {
  const codings = (res.headers["content-encoding"] ?? "")
    .toLowerCase()
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "" && c !== "identity");
  if (codings.length === 0) return res;
  const decoders = codings.reverse().map((coding) => {
    if (coding === "gzip" || coding === "x-gzip")
      return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (coding === "deflate") return zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (coding === "br")
      return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    return undefined;
  });
  // An unknown coding: the bytes as they came (fetch does the same).
  if (decoders.some((d) => d === undefined)) return res;
  return pipeline([res, ...(decoders as zlib.Gunzip[])], () => {}) as unknown as Readable;
}

/**
 * A body's bytes: its one chunk as it came, or its chunks joined once (`arrayBuffer()` copies
 * every byte twice more). Rejects when the source fails mid-body.
 */
export async function joinChunks(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, length);
}

/** The answer of the transport: the status line and headers at once, the body as it is asked for. */
class TransportAnswer implements HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  private headerList: Headers | undefined;
  private used = false;
  private webBody: ReadableStream<Uint8Array> | undefined;

  constructor(
    private readonly res: IncomingMessage,
    private readonly content: Readable,
  ) {
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? "";
    this.ok = this.status >= 200 && this.status < 300;
  }

  get headers(): Headers {
    if (!this.headerList) {
      const list = new Headers();
      const raw = this.res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) list.append(raw[i] as string, raw[i + 1] as string);
      this.headerList = list;
    }
    return this.headerList;
  }

  private take(): Readable {
    if (this.used) throw new TypeError("Body is unusable: Body has already been read");
    this.used = true;
    return this.content;
  }

  /** The same stream at every look, as a Response's (its reading is what uses the body). */
  get body(): ReadableStream<Uint8Array> {
    this.webBody ??= Readable.toWeb(this.take()) as ReadableStream<Uint8Array>;
    return this.webBody;
  }

  /** A body read before, or a connection closed before the body's end (premature close), rejects. */
  async readAll(): Promise<Uint8Array> {
    return await joinChunks(this.take());
  }
}

/** `fetch`'s effect for the policy's requests, over node:https; see the module's comment. */
export function httpsTransport(options: HttpsTransportOptions = {}): HttpSend {
  const agent = options.agent ?? keepAliveAgent();
  const idleMs = Math.max(1, options.idleTimeoutMs ?? 300_000);
  const maxRedirects = Math.min(20, Math.max(0, Math.floor(options.maxRedirects ?? 20)));

  const once = (
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const req = httpsRequest(url, { method, headers, agent });
      const onAbort = () => req.destroy(signal?.reason as Error);
      signal?.addEventListener("abort", onAbort, { once: true });
      req.setTimeout(idleMs, () =>
        req.destroy(new ConnectionIdleError(`expected data from ${url.host}, found none for ${idleMs} ms`)),
      );
      req.once("response", (res) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(res);
      });
      req.once("error", (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      });
      req.end(body);
    });

  return async (input, init) => {
    let url = new URL(input);
    let method = (init.method ?? "GET").toUpperCase();
    const headers = requestHeaders(init.headers);
    let { bytes, contentType } = await bodyBytes(init.body);
    if (contentType && headers["content-type"] === undefined) headers["content-type"] = contentType;
    const signal = init.signal ?? undefined;
    for (let redirects = 0; ; redirects++) {
      if (bytes) headers["content-length"] = String(bytes.length);
      const res = await once(url, method, headers, bytes, signal);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || init.redirect === "manual" || location === undefined) {
        return new TransportAnswer(res, decodedBody(res));
      }
      // Followed as fetch follows it: the redirect's own body is dropped.
      res.resume();
      if (init.redirect === "error" || redirects >= maxRedirects) {
        throw new RedirectError(`expected at most ${maxRedirects} redirects from ${input}, found more`);
      }
      const next = new URL(location, url);
      if (next.protocol !== "https:") {
        throw new RedirectError(`expected a redirect to an https:// URL, found ${next.protocol}`);
      }
      const status = res.statusCode ?? 0;
      if (
        (status === 303 && method !== "GET" && method !== "HEAD") ||
        ((status === 301 || status === 302) && method === "POST")
      ) {
        method = "GET";
        bytes = undefined;
        contentType = undefined;
        for (const name of BODY_HEADERS) delete headers[name];
      }
      if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
      url = next;
    }
  };
}
