/**
 * Graph's error answers sorted into mailstream's error classes, by status and Graph `code`
 * (never by message text: messages are for people and change without notice).
 */
import {
  FatalError,
  MailboxUnavailableError,
  type MailstreamError,
  RetryableError,
  SkipError,
  SyncStateLostError,
} from "../errors.js";

export { SyncStateLostError };

/** Where a Graph error came from, for messages and reports. */
export interface GraphErrorContext {
  method: string;
  /** Request path (no host, no query). */
  path: string;
  status: number;
  /** Graph's `error.code`, if the body had one. */
  code: string | undefined;
  /** The body's message (`error.message`, or `Message` as Outlook's hosts put it), if any. */
  detail?: string | undefined;
}

/** Longest body message quoted in an error, characters. */
const DETAIL_LIMIT = 300;

function describe(c: GraphErrorContext): string {
  const detail = c.detail ? `: ${c.detail.slice(0, DETAIL_LIMIT)}` : "";
  return `${c.method} ${c.path} answered ${c.status} ${c.code ?? "(no code)"}${detail}`;
}

/** Base of the skip errors raised from Graph answers; carries the status, code and body message. */
export class GraphSkipError extends SkipError {
  readonly status: number;
  readonly code: string | undefined;
  readonly detail: string | undefined;
  constructor(message: string, context: GraphErrorContext) {
    super(message);
    this.status = context.status;
    this.code = context.code;
    this.detail = context.detail;
  }
}

/** The mailbox-level skips raised from Graph answers: the whole mailbox is gone or closed. */
class GraphMailboxError extends MailboxUnavailableError {
  readonly status: number;
  readonly code: string | undefined;
  constructor(message: string, context: GraphErrorContext) {
    super(message);
    this.status = context.status;
    this.code = context.code;
  }
}

/** The user has no usable mailbox (inactive, soft-deleted, on-premises) or does not exist. */
export class MailboxNotFoundError extends GraphMailboxError {}
/** The app may not read this mailbox (application access policy). */
export class AccessDeniedError extends GraphMailboxError {}
/** The message, folder or other object is not (any more) in the store. */
export class ItemNotFoundError extends GraphSkipError {}
/** The folder of a delta query is gone. */
export class FolderNotFoundError extends GraphSkipError {}

/**
 * Any other refused request (400, 404, 405, 409, 413, 416, …): nothing to retry, and nothing that
 * says the rest of the job cannot go on. The message, folder or mailbox it was about is recorded.
 */
export class GraphRequestError extends GraphSkipError {}

/**
 * 401 after a fresh token, or 403 other than a mailbox's access policy: the app's credentials or
 * permissions are wrong for the whole tenant, so every further request would fail the same way.
 */
export class GraphAuthorizationError extends FatalError {
  readonly status: number;
  readonly code: string | undefined;
  constructor(message: string, context: GraphErrorContext) {
    super(message);
    this.status = context.status;
    this.code = context.code;
  }
}

/**
 * A transient Graph failure (429, 5xx, a dropped connection) that the request policy could not
 * wait out in place: a `Retry-After` longer than it may wait (`retryAfterMs`), or the invocation's
 * deadline. One that outlasted the retry budget ends as a RetriesExhaustedError instead.
 */
export class GraphRetryableError extends RetryableError {
  readonly status: number | undefined;
  readonly code: string | undefined;
  constructor(
    message: string,
    options: { status?: number; code?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause, retryAfterMs: options.retryAfterMs });
    this.status = options.status;
    this.code = options.code;
  }
}

/** Statuses that are retried: throttling, unavailability and gateway trouble. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

/**
 * The error for a final (not retried) Graph error answer. `location` is the `Location` header,
 * which a 410 carries.
 */
export function mapGraphError(context: GraphErrorContext, location?: string): MailstreamError {
  const { status, code } = context;
  const what = describe(context);
  if (status === 404 && code === "MailboxNotEnabledForRESTAPI") {
    return new MailboxNotFoundError(`expected a mailbox enabled for REST; ${what}`, context);
  }
  if (status === 404 && code === "ErrorSyncFolderNotFound") {
    return new FolderNotFoundError(`expected the folder to exist; ${what}`, context);
  }
  if (
    status === 404 &&
    (code === "ErrorItemNotFound" || code === "ResourceNotFound" || code === "Request_ResourceNotFound")
  ) {
    return new ItemNotFoundError(`expected the object to exist; ${what}`, context);
  }
  if (status === 403 && code === "ErrorAccessDenied") {
    return new AccessDeniedError(`expected access to the mailbox; ${what}`, context);
  }
  if (status === 410 && code === "SyncStateNotFound") {
    return new SyncStateLostError(`expected a valid delta sync state; ${what}`, location);
  }
  if (isRetryableStatus(status)) {
    return new GraphRetryableError(`expected a success; ${what}`, { status, code: code ?? undefined });
  }
  if (status === 401 || status === 403) {
    return new GraphAuthorizationError(
      `expected the app's credentials and permissions to be accepted (check the app registration's Graph application permissions and admin consent); ${what}`,
      context,
    );
  }
  return new GraphRequestError(`expected a success; ${what}`, context);
}

/** Graph's error `code` from an error body (`{"error":{"code":…}}`), if there is one. */
export function errorCodeOf(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === "string" ? code : undefined;
}

/** The message of an error body: Graph's `error.message`, or the `Message` of Outlook's hosts. */
export function errorDetailOf(body: unknown): string | undefined {
  const b = body as { error?: { message?: unknown }; Message?: unknown } | undefined;
  const detail = b?.error?.message ?? b?.Message;
  return typeof detail === "string" && detail !== "" ? detail : undefined;
}
