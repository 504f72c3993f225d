import { describe, expect, it } from "vitest";
import { GraphRetryableError } from "../../../lib/graph/errors.js";
import { readBody, readJsonBody, readResponse } from "../../../lib/graph/response-body.js";

/** A response whose body arrives in the given chunks, optionally breaking after them. */
function chunked(chunks: string[], breakAfter = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      if (breakAfter) controller.error(new TypeError("terminated"));
      else controller.close();
    },
  });
  return new Response(body, { status: 200 });
}

describe("readBody", () => {
  it("reads a body of one chunk, of many, and of none", async () => {
    expect(Buffer.from(await readBody(chunked(['{"a":1}']), "GET /x")).toString()).toBe('{"a":1}');
    expect(Buffer.from(await readBody(chunked(['{"a"', ":", "1}"]), "GET /x")).toString()).toBe('{"a":1}');
    expect((await readBody(new Response(null, { status: 204 }), "GET /x")).byteLength).toBe(0);
  });

  it("fails as retryable when the connection breaks mid-body", async () => {
    await expect(readBody(chunked(['{"a"'], true), "GET /x")).rejects.toThrow(GraphRetryableError);
    await expect(readBody(chunked(['{"a"'], true), "GET /x")).rejects.toThrow(
      "expected the body of GET /x, found the connection broken",
    );
    expect(await readJsonBody(chunked(['{"a"'], true), "GET /x")).toBeUndefined();
    expect(await readJsonBody(chunked(['{"error":', '{"code":"X"}}']), "GET /x")).toEqual({
      error: { code: "X" },
    });
  });
});

describe("readResponse", () => {
  const bytes = () => new TextEncoder().encode('\uFEFF{"value":["é"]}');
  const init = { status: 200, statusText: "OK", headers: { "content-type": "application/json" } };

  it("answers json() and text() from the bytes held, as a response built on them would", async () => {
    const held = readResponse(bytes(), init);
    expect(held.status).toBe(200);
    expect(held.headers.get("content-type")).toBe("application/json");
    expect(held.bodyUsed).toBe(false);
    expect(await held.json()).toEqual(await new Response(bytes(), init).json());
    expect(held.bodyUsed).toBe(true);
    expect(await readResponse(bytes(), init).text()).toBe(await new Response(bytes(), init).text());
  });

  it("is read once, whichever reader read it", async () => {
    const held = readResponse(bytes(), init);
    await held.text();
    await expect(held.json()).rejects.toThrow(TypeError);
    const streamed = readResponse(bytes(), init);
    expect(Buffer.from(await streamed.arrayBuffer()).toString()).toBe('\uFEFF{"value":["é"]}');
    expect(streamed.bodyUsed).toBe(true);
    await expect(streamed.text()).rejects.toThrow(TypeError);
  });

  it("gives its bytes as a stream, which uses the body once read", async () => {
    const held = readResponse(bytes(), init);
    expect(held.body).toBe(held.body);
    expect(held.bodyUsed).toBe(false);
    expect(await new Response(held.body).text()).toBe('{"value":["é"]}');
    expect(held.bodyUsed).toBe(true);
    await expect(held.json()).rejects.toThrow(TypeError);
  });

  it("has no body for none (204)", async () => {
    const empty = readResponse(null, { status: 204 });
    expect(empty.body).toBeNull();
    expect(await empty.text()).toBe("");
  });
});
