/**
 * Requests to pre-authenticated URLs (upload and import sessions) count against their mailbox as
 * Graph requests do: a concurrency slot and the request budget of the app that opened the session
 * (429 beyond), injected 503/504 faults, and the service time.
 */
import type { FaultState } from "./faults.js";
import { graphError, type SimResponse, serverErrorResponse } from "./graph-types.js";
import { type LatencyOptions, waitResponseDelay } from "./latency.js";
import type { MailboxLimiter } from "./limits.js";

/** A request to a pre-authenticated URL, as the HTTP edge hands it over. */
export interface PreauthenticatedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** The request body, or `"too-large"` when it was over the endpoint's limit. */
  body: Buffer | "too-large";
  requestId: string;
  clientRequestId: string;
  /** The earliest the client can have sent it (see `sentAfterOf`). */
  sentAfterMs?: number;
}

/**
 * What every pre-authenticated URL checks: no bearer token (it would be meant for another
 * audience), the session's token in `authtoken`, a session not expired. The failed check's 401,
 * or `undefined` when all pass.
 */
export function refusedCredentials(
  req: PreauthenticatedRequest,
  what: string,
  session: { token: string; expiresAtMs: number } | undefined,
): SimResponse | undefined {
  if (req.headers.authorization !== undefined) {
    return graphError(
      req,
      401,
      "InvalidAudienceForResource",
      `Expected no Authorization header on a pre-authenticated ${what} URL, found one.`,
    );
  }
  if (!session || req.query.get("authtoken") !== session.token) {
    return graphError(
      req,
      401,
      "InvalidAuthenticationToken",
      `Expected the ${what} session's token in authtoken, found another.`,
    );
  }
  if (Date.now() > session.expiresAtMs) {
    return graphError(
      req,
      401,
      "InvalidAuthenticationToken",
      "Access token has expired or is not yet valid.",
    );
  }
  return undefined;
}

export interface AdmissionDeps {
  limiter: MailboxLimiter;
  faults: FaultState;
  latency: LatencyOptions | undefined;
}

/** Runs `work` for the app `clientId` on the mailbox `limitKey`, within the mailbox's limits. */
export async function withinMailboxLimits(
  deps: AdmissionDeps,
  req: { path: string; requestId: string; clientRequestId: string; sentAfterMs?: number },
  clientId: string,
  limitKey: string,
  work: () => Promise<SimResponse>,
): Promise<SimResponse> {
  const admission = deps.limiter.admit(clientId, limitKey, req.sentAfterMs);
  if (!admission.ok) {
    deps.limiter.noteRetryAfter(clientId, limitKey, admission.retryAfterSeconds, 429);
    return graphError(req, 429, admission.code, admission.message, {
      "retry-after": String(admission.retryAfterSeconds),
    });
  }
  try {
    const fault = deps.faults.takeServerError(req.path, limitKey);
    await waitResponseDelay(deps.latency);
    if (fault) {
      if (fault.retryAfterSeconds !== undefined)
        deps.limiter.noteRetryAfter(clientId, limitKey, fault.retryAfterSeconds, fault.status);
      return serverErrorResponse(req, fault);
    }
    return await work();
  } finally {
    admission.release();
  }
}
