/**
 * Response bodies as the request policy hands them on: a small body read whole while the
 * request still holds its mailbox slot, a streamed one (MIME) wrapped so that the slot is given
 * back exactly once, when the body ends, fails, is cancelled or lies unread too long.
 */
import { GraphRetryableError } from "./errors.js";

/**
 * Reads the whole body. A connection that breaks mid-body is a {@link GraphRetryableError}, so
 * the attempt is retried like a dropped connection.
 */
export async function readBody(response: Response, what: string): Promise<ArrayBuffer> {
  try {
    return await response.arrayBuffer();
  } catch (error) {
    throw new GraphRetryableError(`expected the body of ${what}, found the connection broken`, {
      cause: error,
    });
  }
}

/** A body's JSON, or undefined when it has none or is no JSON (error answers are often empty). */
export async function readJsonBody(response: Response, what: string): Promise<unknown> {
  const bytes = await readBody(response, what).catch(() => new ArrayBuffer(0));
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
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
