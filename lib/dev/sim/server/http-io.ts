/**
 * The HTTP edge of the simulator: reading request bodies and headers, and writing a
 * {@link SimResponse} to the socket (JSON, bytes, or a stream paced by the latency model).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { SimResponse } from "./graph-types.js";
import { TransferRateLimiter } from "./latency.js";

const EMPTY = Buffer.alloc(0);

/** Graph rejects request bodies over 4 MB; larger uploads go through upload sessions. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

/**
 * Reads a request body of at most `limit` bytes. Over the limit it reads on to the end (so the
 * client can read the answer) but keeps nothing: `"too-large"`.
 */
export async function readBodyWithin(req: IncomingMessage, limit: number): Promise<Buffer | "too-large"> {
  // Without Content-Length and Transfer-Encoding a request has no body (RFC 9112 §6.3): most
  // requests are GETs, and iterating their empty stream cost a stream iterator each.
  if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) {
    req.resume();
    return EMPTY;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? "too-large" : Buffer.concat(chunks);
}

/** Reads a request body of at most {@link MAX_BODY_BYTES}; throws {@link BodyTooLargeError} beyond. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const body = await readBodyWithin(req, MAX_BODY_BYTES);
  if (body === "too-large") throw new BodyTooLargeError(`request body over ${MAX_BODY_BYTES} bytes`);
  return body;
}

/** JSON for `application/json` bodies, text for others, `undefined` for none. Throws on bad JSON. */
export function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  if (contentType?.toLowerCase().startsWith("application/json")) return JSON.parse(text);
  return text;
}

/** Request headers with lower-case names, repeated ones joined. */
export function lowerHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers))
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** A plain JSON answer (token endpoint, admin endpoints); Graph answers go through {@link writeResponse}. */
export function sendJson(
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

/** What the writer reports while it streams an answer (the served-bytes statistics). */
export type StreamedBytesListener = (mailboxId: string | undefined, bytes: number) => void;

/** When the last answer on each connection was written. */
const answeredAt = new WeakMap<object, number>();

/**
 * The earliest time the client can have sent `req`: when the previous answer on its connection
 * was written (HTTP/1.1 clients send a connection's next request only after reading the last
 * answer); 0 for the first request of a connection. Notes this request's answer for the next.
 */
export function sentAfterOf(req: IncomingMessage, res: ServerResponse): number {
  const socket = req.socket;
  const after = answeredAt.get(socket) ?? 0;
  // The time the answer's last bytes went to the socket ('prefinish': `end()` has written them),
  // not its 'finish', which waits for the write's callback, a turn of the event loop or more
  // later. On a loaded process the client could read the answer and send its next request before
  // 'finish' ran: a request sent having read an answer written just before a 429 was then taken
  // for one sent after the 429, an early retry (1 in a few runs of the resilience test's 429
  // storm beside other work, 2026-12-07). 'finish' stands in when no 'prefinish' came first.
  let noted = false;
  const note = () => {
    if (noted) return;
    noted = true;
    answeredAt.set(socket, Date.now());
  };
  res.once("prefinish", note);
  res.once("finish", note);
  return after;
}

/** Request and client-request ids, echoed on every Graph answer. */
export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

const DIAGNOSTIC = JSON.stringify({
  ServerInfo: { DataCenter: "Local", Slice: "E", Ring: "0", ScaleUnit: "000", RoleInstance: "SIM" },
});

/**
 * Writes a Graph answer. The service is done with a request before its client can see the end of
 * the answer, so the request's concurrency slot is released before the last bytes are written
 * (for a stream: when the source has been read to its end). Releasing after the write lets a
 * client that read the end and sent its next request race the release and draw a 429 it did not
 * earn.
 */
export async function writeResponse(
  res: ServerResponse,
  response: SimResponse,
  ids: RequestIds,
  onStreamedBytes: StreamedBytesListener,
): Promise<void> {
  const headers: Record<string, string> = {
    ...response.headers,
    "request-id": ids.requestId,
    "client-request-id": ids.clientRequestId,
    "x-ms-ags-diagnostic": DIAGNOSTIC,
  };
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      response.release?.();
    }
  };
  res.once("close", release);
  // A client that went away while its request waited (latency, a handler) closed the response
  // before the listener above was attached: its "close" has passed and would never release
  // the slot, leaving the app one slot short on the mailbox for good.
  if (res.destroyed) {
    release();
    response.stream?.destroy();
    return;
  }
  if (response.stream) {
    res.writeHead(response.status, headers);
    const mailboxId = response.mailboxId;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        onStreamedBytes(mailboxId, chunk.length);
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
    res
      .writeHead(response.status, { ...headers, "content-length": String(response.bytes.length) })
      .end(response.bytes);
    return;
  }
  if (response.jsonBytes === undefined && response.json === undefined) {
    res.writeHead(response.status, headers).end();
    return;
  }
  const body = response.jsonBytes ?? Buffer.from(JSON.stringify(response.json));
  res.writeHead(response.status, { ...headers, "content-length": String(body.length) }).end(body);
}
