/**
 * Response bodies as the request policy hands them on: a small body read whole while the
 * request still holds its mailbox slot, a streamed one (MIME) wrapped so that the slot is given
 * back exactly once, when the body ends, fails, is cancelled or lies unread too long.
 */
import { GraphRetryableError } from "./errors.js";
import type { HttpAnswer } from "./https-transport.js";

const utf8 = new TextDecoder();

/**
 * Reads the whole body: its one chunk as it came, or its chunks joined once (`arrayBuffer()`
 * copies every byte twice more); the transport's answers read it without a web stream
 * (`readAll`). A connection that breaks mid-body is a {@link GraphRetryableError}, so the
 * attempt is retried like a dropped connection.
 */
export async function readBody(response: HttpAnswer, what: string): Promise<Uint8Array> {
  try {
    if (response.readAll) return await response.readAll();
    if (!response.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let length = 0;
    for await (const chunk of response.body) {
      chunks.push(chunk);
      length += chunk.byteLength;
    }
    return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, length);
  } catch (error) {
    throw new GraphRetryableError(`expected the body of ${what}, found the connection broken`, {
      cause: error,
    });
  }
}

/** A body's JSON, or undefined when it has none or is no JSON (error answers are often empty). */
export async function readJsonBody(response: HttpAnswer, what: string): Promise<unknown> {
  const bytes = await readBody(response, what).catch(() => new Uint8Array(0));
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * A response whose body was read whole (inside the request's slot), to hand on: its `json()` and
 * `text()` decode the bytes held. A plain `new Response(bytes)` copies them into a body of its own
 * and again when read, through a stream's turns, for every answer (export answers of up to 8 MB
 * among them). Its `body` and other readers still give the same bytes, and it is read only once
 * like any response. `bytes` null: no body (204).
 */
export function readResponse(bytes: Uint8Array | null, init: ResponseInit): Response {
  const response = new Response(
    bytes === null
      ? null
      : new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(bytes);
            controller.close();
          },
        }),
    init,
  );
  const held = bytes ?? new Uint8Array(0);
  const streamUsed = Object.getOwnPropertyDescriptor(Response.prototype, "bodyUsed")?.get;
  let read = false;
  const bodyUsed = () => read || (streamUsed?.call(response) as boolean);
  const text = async (): Promise<string> => {
    // The same TypeError as undici's for a body read twice.
    if (bodyUsed()) throw new TypeError("Body is unusable: Body has already been read");
    read = true;
    return utf8.decode(held);
  };
  // Own properties shadow Response.prototype's (the platform class keeps its other readers).
  Object.defineProperties(response, {
    bodyUsed: { get: bodyUsed },
    text: { value: text },
    json: { value: async () => JSON.parse(await text()) },
  });
  return response;
}

/**
 * Wraps a response body so that `release` runs exactly once when the body ends, fails, is
 * cancelled, or lies unread for `idleMs`.
 */
export function releasingBody(
  body: ReadableStream<Uint8Array>,
  release: () => void,
  idleMs: number,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    release();
  };
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  const armIdle = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      controllerRef?.error(
        new GraphRetryableError(`expected the stream to be read, found it idle for ${idleMs} ms`),
      );
      reader.cancel().catch(() => {});
      finish();
    }, idleMs);
    timer.unref();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      armIdle();
    },
    async pull(controller) {
      if (finished) return;
      try {
        const { done, value } = await reader.read();
        if (finished) return;
        if (done) {
          controller.close();
          finish();
          return;
        }
        controller.enqueue(value);
        armIdle();
      } catch (error) {
        if (finished) return;
        controller.error(
          new GraphRetryableError("expected the rest of the response body, found the connection broken", {
            cause: error,
          }),
        );
        finish();
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason).catch(() => {});
    },
  });
}
