/**
 * `POST /$batch`: JSON batching as Graph does it for Outlook resources. At most 20 requests with
 * unique ids and relative urls; inner requests run at most 4 at a time, each through the full
 * pipeline (so an inner request can be 429 with its own `Retry-After` while the batch is 200);
 * `dependsOn` waits for the named requests and answers 424 when one of them failed; answers are
 * listed in completion order.
 */
import { randomUUID } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { graphError, jsonResponse, type SimRequest, type SimResponse } from "./graph-types.js";
import { executeGraphRequest, type PipelineDeps } from "./pipeline.js";

const MAX_BATCH_REQUESTS = 20;
/** Outlook runs at most this many inner requests of one batch at a time. */
const INNER_CONCURRENCY = 4;

interface InnerRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  dependsOn: string[];
}

interface InnerAnswer {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

function validate(req: SimRequest): InnerRequest[] | string {
  const requests = (req.body as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests)) return 'Expected a JSON body {"requests":[…]}.';
  if (requests.length < 1 || requests.length > MAX_BATCH_REQUESTS) {
    return `Invalid batch payload format: a batch holds 1 to ${MAX_BATCH_REQUESTS} requests, found ${requests.length}.`;
  }
  const seen = new Set<string>();
  const out: InnerRequest[] = [];
  for (const raw of requests as Array<Record<string, unknown>>) {
    const id = raw?.id;
    if (typeof id !== "string" && typeof id !== "number") return "Every batch request needs an id.";
    const key = String(id);
    if (seen.has(key)) return `Batch request ids must be unique; found '${key}' twice.`;
    seen.add(key);
    if (typeof raw.method !== "string" || typeof raw.url !== "string")
      return `Batch request '${key}' needs a method and a url.`;
    if (/^[a-z]+:\/\//i.test(raw.url))
      return `Batch request '${key}': expected a relative url, found '${raw.url}'.`;
    const headers = Object.fromEntries(
      Object.entries((raw.headers as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [
        k.toLowerCase(),
        String(v),
      ]),
    );
    const dependsOn = Array.isArray(raw.dependsOn) ? raw.dependsOn.map(String) : [];
    out.push({ id: key, method: raw.method.toUpperCase(), url: raw.url, headers, body: raw.body, dependsOn });
  }
  for (const r of out) {
    const missing = r.dependsOn.find((d) => !seen.has(d));
    if (missing) return `Batch request '${r.id}' depends on '${missing}', which is not in the batch.`;
  }
  return out;
}

async function toAnswer(id: string, response: SimResponse): Promise<InnerAnswer> {
  const { "content-length": _length, ...headers } = response.headers;
  try {
    if (response.stream)
      return {
        id,
        status: response.status,
        headers,
        body: (await buffer(response.stream)).toString("base64"),
      };
    if (response.bytes)
      return { id, status: response.status, headers, body: response.bytes.toString("base64") };
    return {
      id,
      status: response.status,
      headers,
      ...(response.json !== undefined
        ? { body: response.json }
        : response.jsonBytes
          ? { body: JSON.parse(response.jsonBytes.toString("utf8")) }
          : {}),
    };
  } finally {
    response.release?.();
  }
}

export async function executeBatch(deps: PipelineDeps, req: SimRequest): Promise<SimResponse> {
  const requests = validate(req);
  if (typeof requests === "string") return graphError(req, 400, "BadRequest", requests);
  const done = new Map<string, Promise<InnerAnswer>>();
  const answers: InnerAnswer[] = [];
  let running = 0;
  const waiting: Array<() => void> = [];
  const slot = async () => {
    while (running >= INNER_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
  };
  const free = () => {
    running--;
    waiting.shift()?.();
  };
  const run = async (inner: InnerRequest): Promise<InnerAnswer> => {
    const dependencies = await Promise.all(inner.dependsOn.map((d) => done.get(d)));
    if (dependencies.some((d) => !d || d.status < 200 || d.status > 299)) {
      const failed = graphError(
        req,
        424,
        "FailedDependency",
        `Request '${inner.id}' depends on a request that failed.`,
      );
      return toAnswer(inner.id, failed);
    }
    await slot();
    try {
      const url = new URL(inner.url.replace(/^\/?((v1\.0|beta)\/)?/i, "/"), "https://batch.invalid");
      const innerReq: SimRequest = {
        method: inner.method,
        path: url.pathname,
        origin: req.origin,
        apiVersion: req.apiVersion,
        query: url.searchParams,
        headers: inner.headers,
        body: inner.body,
        clientId: req.clientId,
        roles: req.roles,
        ...(req.sentAfterMs !== undefined ? { sentAfterMs: req.sentAfterMs } : {}),
        requestId: randomUUID(),
        clientRequestId: inner.headers["client-request-id"] ?? req.clientRequestId,
      };
      const response = await executeGraphRequest(deps, innerReq).catch((error: unknown) =>
        graphError(
          innerReq,
          500,
          "InternalServerError",
          `The simulator failed on this request: ${String(error)}`,
        ),
      );
      return await toAnswer(inner.id, response);
    } finally {
      free();
    }
  };
  // Requests are started in order; a request that depends on others waits without holding a slot.
  for (const inner of requests) {
    done.set(
      inner.id,
      run(inner).then((answer) => {
        answers.push(answer);
        return answer;
      }),
    );
  }
  await Promise.all(done.values());
  return jsonResponse(200, { responses: answers });
}
