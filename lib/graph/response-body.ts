/**
 * Response bodies as the request policy hands them on: a small body read whole while the
 * request still holds its mailbox slot, a streamed one (MIME) wrapped so that the slot is given
 * back exactly once, when the body ends, fails, is cancelled or lies unread too long.
 */
import { GraphRetryableError } from "./errors.js";
import { type HttpAnswer, joinChunks } from "./https-transport.js";

const utf8 = new TextDecoder();

/**
 * Reads the whole body ({@link joinChunks}); the transport's answers read it without a web
 * stream (`readAll`). A connection that breaks mid-body is a {@link GraphRetryableError}, so the
 * attempt is retried like a dropped connection.
 */
export async function readBody(response: HttpAnswer, what: string | (() => string)): Promise<Uint8Array> {
  try {
    if (response.readAll) return await response.readAll();
    if (!response.body) return new Uint8Array(0);
    return await joinChunks(response.body);
  } catch (error) {
    throw new GraphRetryableError(
      `expected the body of ${typeof what === "string" ? what : what()}, found the connection broken`,
      {
        cause: error,
      },
    );
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
 * A response whose body was read whole (inside the request's slot), to hand on to the Graph
 * client: its status and headers, and a Response's readers (`json`, `text`, `arrayBuffer`,
 * `bytes`, `blob`, `body`) over the bytes held, the body read once whichever reader reads it, as
 * a Response's. Not a platform Response: building one for every answer (a body stream over the
 * bytes, the header list copied, readers swapped in) took ~3 % of a backup's busy time, and the
 * client reads only these members. `bytes` null: no body (204).
 */
export function readResponse(
  bytes: Uint8Array | null,
  init: { status: number; statusText?: string; headers?: ConstructorParameters<typeof Headers>[0] },
): Response {
  return new HeldResponse(bytes, init) as unknown as Response;
}

class HeldResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  readonly redirected = false;
  readonly type = "basic";
  readonly url = "";
  private read = false;
  private stream: ReadableStream<Uint8Array> | undefined;

  constructor(
    private readonly held: Uint8Array | null,
    init: { status: number; statusText?: string; headers?: ConstructorParameters<typeof Headers>[0] },
  ) {
    this.status = init.status;
    this.statusText = init.statusText ?? "";
    this.ok = init.status >= 200 && init.status < 300;
    // The transport's (or fetch's) own header list: nothing writes to it after the answer.
    this.headers = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
  }

  get bodyUsed(): boolean {
    return this.read;
  }

  /** The bytes as a stream (the same one at every look); reading it uses the body. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.held === null) return null;
    this.stream ??= new ReadableStream<Uint8Array>({
      pull: (controller) => {
        controller.enqueue(this.take());
        controller.close();
      },
    });
    return this.stream;
  }

  /** The bytes, once: the same TypeError as undici's for a body read twice. */
  private take(): Uint8Array {
    if (this.read) throw new TypeError("Body is unusable: Body has already been read");
    this.read = true;
    return this.held ?? new Uint8Array(0);
  }

  async text(): Promise<string> {
    return utf8.decode(this.take());
  }

  async json(): Promise<unknown> {
    return JSON.parse(utf8.decode(this.take()));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(this.take());
  }

  async blob(): Promise<Blob> {
    return new Blob([this.take()], { type: this.headers.get("content-type") ?? "" });
  }

  clone(): HeldResponse {
    if (this.read) throw new TypeError("Response.clone: Body has already been consumed.");
    return new HeldResponse(this.held, this);
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
