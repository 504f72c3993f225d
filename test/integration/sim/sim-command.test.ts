import { mkdtempSync, readFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { generate } from "selfsigned";
import { describe, expect, it } from "vitest";
import {
  runSimCommand,
  type SimCommandOptions,
  type SimConnectionInfo,
} from "../../../lib/dev/cli/sim-command.js";
import { registerSim } from "../../../lib/dev/cli/sim-options.js";
import type { GroundTruth } from "../../../lib/dev/sim/model.js";
import { TENANT_SHAPES } from "../../../lib/dev/sim/tenant/generate.js";
import { tenantFromSeed } from "../../../lib/dev/sim/tenant/seeded.js";

interface Answer {
  status: number;
  body: string;
}

/** Starts `runSimCommand` and resolves once it printed its line; `stop()` ends it. */
async function startSim(options: SimCommandOptions = {}) {
  const caDir = mkdtempSync(join(tmpdir(), "mailstream-sim-command-"));
  let stop: () => void = () => undefined;
  const until = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const lines: string[] = [];
  let printed: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    printed = resolve;
  });
  const running = runSimCommand({
    caDir,
    until,
    print: (line) => {
      lines.push(line);
      printed();
    },
    ...options,
  });
  await Promise.race([ready, running]);
  expect(lines).toHaveLength(1);
  const info = JSON.parse(lines[0] as string) as SimConnectionInfo;
  const trust = options.certificate?.certPem ?? readFileSync(info.caCertPath as string, "utf8");
  const request = (url: string, method = "GET", body?: string, headers: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      // A new connection each time: the test pauses for seconds between requests (a kept-alive
      // socket the server closes meanwhile would reset the next request).
      const req = https.request(url, { method, ca: trust, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      });
      req.on("error", reject);
      req.end(body);
    });
  const token = async () => {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: info.clientId,
      client_secret: info.clientSecret ?? "",
      scope: "https://graph.microsoft.com/.default",
    });
    const answer = await request(`${info.authority}/oauth2/v2.0/token`, "POST", form.toString(), {
      "content-type": "application/x-www-form-urlencoded",
    });
    return (JSON.parse(answer.body) as { access_token: string }).access_token;
  };
  const end = async () => {
    stop();
    await running;
  };
  return { info, request, token, end };
}

describe("mailstream sim", () => {
  it("serves the demo tenant, prints one connection line, mutates on request and stops when told", async () => {
    const sim = await startSim();
    const { info, request } = sim;
    expect(Object.keys(info).sort()).toEqual([
      "adminUrl",
      "authority",
      "authorityMetadata",
      "baseUrl",
      "caCertPath",
      "clientId",
      "clientSecret",
      "hostNames",
      "knownAuthorities",
      "origin",
      "tenantId",
    ]);
    expect(info.hostNames).toEqual(["localhost"]);
    expect(readFileSync(info.caCertPath as string, "utf8")).toContain("BEGIN CERTIFICATE");
    const metadata = JSON.parse(
      (await request(`${info.authority}/v2.0/.well-known/openid-configuration`)).body,
    );
    expect(metadata).toEqual(JSON.parse(info.authorityMetadata));
    const token = await sim.token();
    const users = JSON.parse(
      (await request(`${info.baseUrl}/users`, "GET", undefined, { authorization: `Bearer ${token}` })).body,
    );
    expect(users.value.length).toBeGreaterThanOrEqual(12);
    const mutation = JSON.parse(
      (
        await request(`${info.adminUrl}/mutate`, "POST", JSON.stringify({ counts: { newMessages: 3 } }), {
          "content-type": "application/json",
        })
      ).body,
    );
    expect(mutation.newMessages).toBe(3);
    await sim.end();
    await expect(request(`${info.adminUrl}/stats`)).rejects.toThrow();
  });

  it("with its default options, 64 simultaneous requests to one mailbox draw 429s (at most 4 run at once)", async () => {
    const sim = await startSim();
    try {
      const token = await sim.token();
      const truth = JSON.parse((await sim.request(`${sim.info.adminUrl}/ground-truth`)).body) as GroundTruth;
      const owner = { id: truth.mailboxes[0]?.userId as string };
      const answers = await Promise.all(
        Array.from({ length: 64 }, () =>
          sim.request(`${sim.info.baseUrl}/users/${owner.id}/mailFolders`, "GET", undefined, {
            authorization: `Bearer ${token}`,
          }),
        ),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(4);
      expect(new Set(statuses)).toEqual(new Set([200, 429]));
      const stats = JSON.parse((await sim.request(`${sim.info.adminUrl}/stats`)).body);
      expect(stats.mailboxes[owner.id].maxInFlight).toBe(4);
    } finally {
      await sim.end();
    }
  });

  it("applies activity rounds with their seed before serving, and faults from the start", async () => {
    const sim = await startSim({
      shape: "demo",
      rounds: 2,
      activitySeed: 77,
      latency: { baseMs: 0 },
      faults: [{ action: "serverError", status: 503, count: 2, retryAfterSeconds: 3 }],
    });
    try {
      const served = JSON.parse((await sim.request(`${sim.info.adminUrl}/ground-truth`)).body) as GroundTruth;
      const expected = await tenantFromSeed(TENANT_SHAPES.demo, 2, 77).groundTruth();
      expect(served).toEqual(expected);
      const other = await tenantFromSeed(TENANT_SHAPES.demo, 2).groundTruth();
      expect(served).not.toEqual(other);
      const token = await sim.token();
      const url = `${sim.info.baseUrl}/users/${served.mailboxes[0]?.userId}/mailFolders`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push(
          (await sim.request(url, "GET", undefined, { authorization: `Bearer ${token}` })).status,
        );
      }
      expect(statuses).toEqual([503, 503, 200]);
    } finally {
      await sim.end();
    }
  });

  it("serves a certificate of the user's for the given host names", async () => {
    const pems = await generate([{ name: "commonName", value: "localhost" }], {
      keySize: 2048,
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }] }],
    });
    const sim = await startSim({
      certificate: { certPem: pems.cert, keyPem: pems.private },
      hostNames: ["localhost", "graph.example.test"],
    });
    try {
      expect(sim.info.caCertPath).toBeUndefined();
      expect(sim.info.hostNames).toEqual(["localhost", "graph.example.test"]);
      // Trusting only the user's certificate, the client reaches the simulator.
      expect((await sim.request(`${sim.info.authority}/v2.0/.well-known/openid-configuration`)).status).toBe(
        200,
      );
    } finally {
      await sim.end();
    }
  });
});

describe("mailstream sim options", () => {
  async function parse(args: string[]): Promise<SimCommandOptions> {
    let seen: SimCommandOptions | undefined;
    const program = new Command().exitOverride();
    registerSim(program, async (opts) => {
      seen = opts;
    });
    await program.parseAsync(["node", "mailstream", "sim", ...args]);
    if (!seen) throw new Error("the sim action did not run");
    return seen;
  }

  it("defaults to Outlook's limits and 100 ± 50 ms per request", async () => {
    const opts = await parse([]);
    expect(opts).toMatchObject({
      shape: "demo",
      rounds: 0,
      port: 0,
      bind: "127.0.0.1",
      latency: { baseMs: 100, jitterMs: 50, perMimeByteNs: 0 },
      limits: {
        concurrentPerMailbox: 4,
        budgetPerWindow: 10_000,
        windowMs: 600_000,
        uploadBytesPerWindow: 150 * 1024 * 1024,
      },
      faults: [],
    });
    expect(opts.hostNames).toBeUndefined();
  });

  it("takes latency, limits, faults, host names, seeds and rounds", async () => {
    const opts = await parse([
      "--latency-ms=20",
      "--jitter-ms=5",
      "--transfer-ns-per-byte=2",
      "--concurrency=2",
      "--budget=500",
      "--window-ms=60000",
      "--upload-bytes=1000000",
      "--error-rate=0.25",
      "--fault",
      '{"action":"syncStateLost","mailbox":"a@b.test","folder":"inbox"}',
      "--host-name=graph.microsoft.com,login.microsoftonline.com",
      "--host-name=outlook.office365.com",
      "--seed=9",
      "--rounds=3",
      "--activity-seed=4",
      "--port=8443",
      "--shape=uniform",
    ]);
    expect(opts).toMatchObject({
      shape: "uniform",
      seed: 9,
      rounds: 3,
      activitySeed: 4,
      port: 8443,
      hostNames: ["graph.microsoft.com", "login.microsoftonline.com", "outlook.office365.com"],
      latency: { baseMs: 20, jitterMs: 5, perMimeByteNs: 2 },
      limits: {
        concurrentPerMailbox: 2,
        budgetPerWindow: 500,
        windowMs: 60_000,
        uploadBytesPerWindow: 1_000_000,
      },
      faults: [
        { action: "serverErrorRate", rate: 0.25, status: 503, retryAfterSeconds: 1 },
        { action: "syncStateLost", mailbox: "a@b.test", folder: "inbox" },
      ],
    });
  });

  it("refuses values out of bounds, a fault that is not JSON, and a certificate without its key", async () => {
    await expect(parse(["--latency-ms=-1"])).rejects.toThrow(/--latency-ms: expected a number from 0/);
    await expect(parse(["--concurrency=0"])).rejects.toThrow(/--concurrency: expected an integer from 1/);
    await expect(parse(["--error-rate=2"])).rejects.toThrow(/--error-rate/);
    await expect(parse(["--fault", "serverError"])).rejects.toThrow(/--fault: expected a JSON fault command/);
    await expect(parse(["--cert=/nonexistent.pem"])).rejects.toThrow(
      /expected both a certificate and its key/,
    );
  });
});
