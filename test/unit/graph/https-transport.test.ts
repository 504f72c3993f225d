import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CertificatePair, createCa, issueServerCertificate } from "../../../lib/dev/sim/server/ca.js";
import {
  ConnectionIdleError,
  headerRecord,
  httpsTransport,
  keepAliveAgent,
  RedirectError,
} from "../../../lib/graph/https-transport.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTPS server that records what it was sent and answers with `handle`. */
class TestServer {
  readonly seen: Seen[] = [];
  connections = 0;
  private server: Server | undefined;
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  };

  async start(pair: CertificatePair): Promise<void> {
    this.server = createServer({ key: pair.keyPem, cert: pair.certPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        this.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        this.handle(req, res, body);
      });
    });
    this.server.on("secureConnection", () => this.connections++);
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
  }

  get origin(): string {
    if (!this.server) throw new Error("expected the server started, found it not");
    return `https://localhost:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => this.server?.close(() => resolve()));
  }
}

let ca: CertificatePair;
const a = new TestServer();
const b = new TestServer();

beforeAll(async () => {
  ca = await createCa();
  const pair = await issueServerCertificate(ca);
  await a.start(pair);
  await b.start(pair);
});
afterAll(async () => {
  await a.close();
  await b.close();
});

const transport = (options: { idleTimeoutMs?: number; maxRedirects?: number } = {}) =>
  httpsTransport({ agent: keepAliveAgent({ ca: ca.certPem }), ...options });

describe("httpsTransport", () => {
  it("sends the method, headers and fetch's default headers, and reads status, headers and body", async () => {
    a.seen.length = 0;
    a.handle = (_req, res) =>
      res.writeHead(201, "Made", { "content-type": "application/json", "x-one": "1" }).end('{"id":"m1"}');
    const answer = await transport()(`${a.origin}/v1.0/users/u1/messages?$top=1`, {
      method: "PATCH",
      headers: new Headers({
        Authorization: "Bearer t",
        Prefer: 'IdType="ImmutableId"',
        "Content-Type": "application/json",
      }),
      body: '{"isRead":true}',
    });
    expect(answer.status).toBe(201);
    expect(answer.statusText).toBe("Made");
    expect(answer.ok).toBe(true);
    expect(answer.headers.get("X-One")).toBe("1");
    expect(Buffer.from((await answer.readAll?.()) ?? []).toString()).toBe('{"id":"m1"}');
    const seen = a.seen[0] as Seen;
    expect(seen.method).toBe("PATCH");
    expect(seen.url).toBe("/v1.0/users/u1/messages?$top=1");
    expect(seen.body).toBe('{"isRead":true}');
    expect(seen.headers).toMatchObject({
      authorization: "Bearer t",
      prefer: 'IdType="ImmutableId"',
      "content-type": "application/json",
      "content-length": "15",
      accept: "*/*",
      "accept-encoding": "br, gzip, deflate",
      "user-agent": "node",
    });
  });

  it("keeps the connection for the next request", async () => {
    a.handle = (_req, res) => res.writeHead(200).end("x");
    const send = transport();
    const before = a.connections;
    for (let i = 0; i < 5; i++) {
      const answer = await send(`${a.origin}/v1.0/x`, { method: "GET" });
      await answer.readAll?.();
    }
    expect(a.connections - before).toBe(1);
  });

  it("gives the body as one web stream however often it is looked at, and refuses a second read", async () => {
    a.handle = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("abc");
      setTimeout(() => res.end("def"), 5);
    };
    const answer = await transport()(`${a.origin}/v1.0/mime`, { method: "GET" });
    expect(answer.body).toBe(answer.body);
    const text = await new Response(answer.body).text();
    expect(text).toBe("abcdef");
    await expect(answer.readAll?.()).rejects.toThrow(TypeError);
  });

  it("decodes a gzip answer as fetch does", async () => {
    a.handle = (_req, res) =>
      res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync(Buffer.from('{"value":[1,2,3]}')));
    const answer = await transport()(`${a.origin}/v1.0/z`, { method: "GET" });
    expect(Buffer.from((await answer.readAll?.()) ?? []).toString()).toBe('{"value":[1,2,3]}');
  });

  it("follows a 308 with the method and body, and a 303 as a GET without the body", async () => {
    a.seen.length = 0;
    a.handle = (req, res) => {
      if (req.url === "/v1.0/first") res.writeHead(308, { location: "/v1.0/second" }).end();
      else if (req.url === "/v1.0/second") res.writeHead(303, { location: "/v1.0/third" }).end();
      else res.writeHead(200).end("done");
    };
    const answer = await transport()(`${a.origin}/v1.0/first`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer t" },
      body: '{"itemIds":["a"]}',
    });
    expect(Buffer.from((await answer.readAll?.()) ?? []).toString()).toBe("done");
    expect(a.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ["POST", "/v1.0/first", '{"itemIds":["a"]}'],
      ["POST", "/v1.0/second", '{"itemIds":["a"]}'],
      ["GET", "/v1.0/third", ""],
    ]);
    expect(a.seen[2]?.headers["content-type"]).toBeUndefined();
    expect(a.seen[2]?.headers.authorization).toBe("Bearer t");
  });

  it("drops the Authorization header on a redirect to another origin", async () => {
    b.seen.length = 0;
    a.handle = (_req, res) => res.writeHead(307, { location: `${b.origin}/v1.0/elsewhere` }).end();
    b.handle = (_req, res) => res.writeHead(200).end("there");
    const answer = await transport()(`${a.origin}/v1.0/here`, {
      method: "GET",
      headers: { Authorization: "Bearer t" },
    });
    expect(Buffer.from((await answer.readAll?.()) ?? []).toString()).toBe("there");
    expect(b.seen[0]?.url).toBe("/v1.0/elsewhere");
    expect(b.seen[0]?.headers.authorization).toBeUndefined();
  });

  it("fails with a RedirectError beyond maxRedirects", async () => {
    a.handle = (_req, res) => res.writeHead(302, { location: "/v1.0/loop" }).end();
    await expect(transport({ maxRedirects: 3 })(`${a.origin}/v1.0/loop`, { method: "GET" })).rejects.toThrow(
      RedirectError,
    );
  });

  it("fails a request whose connection says nothing for the idle timeout", async () => {
    a.handle = () => {}; // never answers
    await expect(
      transport({ idleTimeoutMs: 50 })(`${a.origin}/v1.0/silent`, { method: "GET" }),
    ).rejects.toThrow(ConnectionIdleError);
  });

  it("rejects the body's read when the connection breaks mid-body", async () => {
    a.handle = (req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => req.socket.destroy(), 5);
    };
    const answer = await transport()(`${a.origin}/v1.0/broken`, { method: "GET" });
    await expect(answer.readAll?.()).rejects.toThrow();
  });
});

describe("headerRecord", () => {
  it("lower-cases names and joins a name given twice as Headers does, from a record, a Headers or pairs", () => {
    const joined = new Headers([
      ["Prefer", "a"],
      ["prefer", "b"],
    ]).get("prefer");
    expect(headerRecord({ Prefer: "a", prefer: "b", "Content-Type": "application/json" })).toEqual({
      prefer: joined,
      "content-type": "application/json",
    });
    expect(headerRecord(new Headers({ Authorization: "Bearer t" }))).toEqual({ authorization: "Bearer t" });
    expect(headerRecord([["X-One", "1"]])).toEqual({ "x-one": "1" });
    expect(headerRecord(undefined)).toEqual({});
  });
});
