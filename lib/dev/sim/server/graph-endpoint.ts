/**
 * One HTTP request to Graph (`/v1.0/…` or `/beta/…`): dropped-connection faults, bearer token
 * check, body parsing, then `$batch` or the request pipeline, and the answer on the socket.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { TokenService } from "./auth.js";
import { executeBatch } from "./batch.js";
import type { FaultState } from "./faults.js";
import { graphError, type SimRequest, type SimResponse } from "./graph-types.js";
import {
  BodyTooLargeError,
  lowerHeaders,
  MAX_BODY_BYTES,
  parseBody,
  readBody,
  sentAfterOf,
  writeResponse,
} from "./http-io.js";
import { type LatencyOptions, waitResponseDelay } from "./latency.js";
import { executeGraphRequest, type PipelineDeps, targetOfPath } from "./pipeline.js";
import type { StatsRecorder } from "./stats.js";

export interface GraphEndpointDeps {
  tokens: TokenService;
  tenantId: string;
  pipeline: PipelineDeps;
  faults: FaultState;
  stats: StatsRecorder;
  latency: LatencyOptions | undefined;
}

/** Where in the URL the request is: the path below the version segment and the client's origin. */
export interface GraphLocation {
  path: string;
  query: URLSearchParams;
  origin: string;
  apiVersion: string;
}

const IMMUTABLE_ID = /IdType\s*=\s*"?ImmutableId"?/i;

export async function handleGraphRequest(
  deps: GraphEndpointDeps,
  req: IncomingMessage,
  res: ServerResponse,
  at: GraphLocation,
): Promise<void> {
  const arrivedAt = performance.now();
  const headers = lowerHeaders(req);
  const ids = { requestId: randomUUID(), clientRequestId: headers["client-request-id"] ?? randomUUID() };
  const sentAfterMs = sentAfterOf(req, res);
  if (
    deps.faults.dropsQueued &&
    deps.faults.takeDrop(at.path, targetOfPath(deps.pipeline, at.path)?.limitKey)
  ) {
    deps.stats.countDroppedConnection();
    req.socket.destroy();
    return;
  }
  const response = await answer(deps, req, headers, ids, at, sentAfterMs, arrivedAt);
  // The simulator's time on the request, from its handler's start to its answer's start (the
  // modelled latency, its limits, its own work), for traces that tell the service's time from
  // the network's and the client's (bench/request-trace.ts). Server-Timing is the W3C header.
  response.headers["server-timing"] = `sim;dur=${(performance.now() - arrivedAt).toFixed(1)}`;
  deps.stats.countStatus(response.status);
  // Answers made outside the pipeline (401, the batch envelope) honour the id-type preference too.
  if (!response.headers["preference-applied"] && IMMUTABLE_ID.test(headers.prefer ?? "")) {
    response.headers["preference-applied"] = 'IdType="ImmutableId"';
  }
  await writeResponse(res, response, ids, (mailbox, bytes) => deps.stats.countStreamedBytes(mailbox, bytes));
}

async function answer(
  deps: GraphEndpointDeps,
  req: IncomingMessage,
  headers: Record<string, string | undefined>,
  ids: { requestId: string; clientRequestId: string },
  at: GraphLocation,
  sentAfterMs: number,
  arrivedAtMs: number,
): Promise<SimResponse> {
  const auth = deps.tokens.check(headers.authorization);
  if (!auth.ok) {
    await waitResponseDelay(deps.latency);
    return graphError(ids, 401, "InvalidAuthenticationToken", auth.message, {
      "www-authenticate": `Bearer realm="", authorization_uri="${at.origin}/${deps.tenantId}/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
    });
  }
  let body: unknown;
  try {
    body = parseBody(await readBody(req), headers["content-type"]);
  } catch (error) {
    const tooLarge = error instanceof BodyTooLargeError;
    return graphError(
      ids,
      tooLarge ? 413 : 400,
      tooLarge ? "RequestEntityTooLarge" : "BadRequest",
      tooLarge
        ? `The request body exceeds ${MAX_BODY_BYTES} bytes.`
        : `Expected a JSON body, found invalid JSON: ${String(error)}`,
    );
  }
  const simReq: SimRequest = {
    method: req.method ?? "GET",
    path: at.path,
    origin: at.origin,
    apiVersion: at.apiVersion,
    query: at.query,
    headers,
    body,
    clientId: auth.clientId,
    roles: auth.roles,
    sentAfterMs,
    arrivedAtMs,
    ...ids,
  };
  if (/^\/\$batch$/i.test(at.path) && simReq.method === "POST") {
    const response = await executeBatch(deps.pipeline, simReq);
    // Inner requests count like HTTP ones, so the statistics cover all Graph traffic.
    const inner = (response.json as { responses?: Array<{ status: number }> }).responses ?? [];
    deps.stats.countBatch(inner.length);
    for (const r of inner) deps.stats.countStatus(r.status);
    return response;
  }
  return executeGraphRequest(deps.pipeline, simReq).catch((error: unknown) =>
    graphError(simReq, 500, "InternalServerError", `The simulator failed on this request: ${String(error)}`),
  );
}
