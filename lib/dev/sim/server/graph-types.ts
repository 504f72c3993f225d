/**
 * The server's internal request/response model. Graph requests arrive either over HTTP or as
 * inner requests of a `$batch`; both go through the same pipeline with these shapes, and only
 * the HTTP layer turns a {@link SimResponse} into bytes on a socket.
 */
import type { Readable } from "node:stream";

export interface SimRequest {
  method: string;
  /** Path below the version segment, starting with `/`, undecoded (e.g. `/users/a%40b.com/mailFolders`). */
  path: string;
  /** `https://host[:port]` as the client reached the simulator: every link in the answer starts here. */
  origin: string;
  /** The version segment of the URL: `v1.0` or `beta`. */
  apiVersion: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** Parsed JSON body, a string for text bodies, `undefined` without a body. */
  body: unknown;
  /** The app the bearer token was issued to. */
  clientId: string;
  /** The application permissions of that app. */
  roles: ReadonlySet<string>;
  /** The earliest the client can have sent it (see `sentAfterOf`): for counting early retries. */
  sentAfterMs?: number;
  /**
   * When the HTTP request reached the simulator (`performance.now()`, ms): a read's latency counts
   * from here. Unset for a batch's inner requests, whose latency counts from their start.
   */
  arrivedAtMs?: number;
  requestId: string;
  clientRequestId: string;
}

export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  /** Exactly one of json / bytes / stream is set (none for 204); {@link jsonBytes} may come with json or alone. */
  json?: unknown;
  /**
   * The JSON answer already encoded (UTF-8), written as is: a read's answer is encoded while its
   * latency runs (see pipeline.ts), and an export's is built straight as bytes (its 20 items'
   * base64 never pass through `JSON.stringify`). A batch embeds `json`, or these bytes parsed.
   */
  jsonBytes?: Buffer;
  bytes?: Buffer;
  /** Streamed body (MIME). Never buffered by the HTTP layer. */
  stream?: Readable;
  /** Extra delay per streamed byte, in nanoseconds (the latency model's transfer time). */
  streamNsPerByte?: number;
  /** Mailbox (user id) the response belongs to, for the served-bytes statistics. */
  mailboxId?: string;
  /** Frees the mailbox concurrency slot; called once the answer is fully sent (or abandoned). */
  release?: () => void;
}

/** Media type Graph uses for JSON answers; the Graph client only parses bodies of `application/json`. */
export const GRAPH_JSON =
  "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

export function jsonResponse(
  status: number,
  json: unknown,
  headers: Record<string, string> = {},
): SimResponse {
  return { status, json, headers: { "content-type": GRAPH_JSON, ...headers } };
}

/** Graph's error envelope: `{error:{code,message,innerError:{date,request-id,client-request-id}}}`. */
export function graphError(
  req: Pick<SimRequest, "requestId" | "clientRequestId">,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): SimResponse {
  return jsonResponse(
    status,
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d{3}Z$/, ""),
          "request-id": req.requestId,
          "client-request-id": req.clientRequestId,
        },
      },
    },
    headers,
  );
}

/** Error answers of the mail endpoints, with the texts Exchange Online gives. */
export const MailErrors = {
  itemNotFound: (req: SimRequest) =>
    graphError(req, 404, "ErrorItemNotFound", "The specified object was not found in the store."),
  mailboxNotEnabled: (req: SimRequest) =>
    graphError(
      req,
      404,
      "MailboxNotEnabledForRESTAPI",
      "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    ),
  userNotFound: (req: SimRequest, user: string) =>
    graphError(req, 404, "ResourceNotFound", `User not found: '${user}'. Resource could not be discovered.`),
  accessDenied: (req: SimRequest) =>
    graphError(req, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
  badRequest: (req: SimRequest, message: string) => graphError(req, 400, "BadRequest", message),
} as const;

/** An injected 503/504, with `Retry-After` when the fault gives one. */
export function serverErrorResponse(
  req: Pick<SimRequest, "requestId" | "clientRequestId">,
  fault: { status: 429 | 503 | 504; retryAfterSeconds?: number },
): SimResponse {
  const headers: Record<string, string> =
    fault.retryAfterSeconds !== undefined ? { "retry-after": String(fault.retryAfterSeconds) } : {};
  if (fault.status === 429)
    return graphError(req, 429, "TooManyRequests", "Please retry again later.", headers);
  return fault.status === 503
    ? graphError(
        req,
        503,
        "ServiceUnavailable",
        "The service is temporarily unavailable. Please retry later.",
        headers,
      )
    : graphError(
        req,
        504,
        "GatewayTimeout",
        "The gateway did not receive a timely response from the upstream server.",
        headers,
      );
}
