import { mkdtempSync, readFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSimCommand, type SimConnectionInfo } from "../../../lib/cli/sim-command.js";

describe("mailstream sim", () => {
  it("serves the demo tenant, prints one connection line, mutates on request and stops when told", async () => {
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
    });
    await ready;
    expect(lines).toHaveLength(1);
    const info = JSON.parse(lines[0] as string) as SimConnectionInfo;
    expect(Object.keys(info).sort()).toEqual([
      "authority",
      "baseUrl",
      "caCertPath",
      "clientId",
      "clientSecret",
      "tenantId",
    ]);
    expect(readFileSync(info.caCertPath, "utf8")).toContain("BEGIN CERTIFICATE");

    // The test process trusts only the shared test CA; this simulator has its own CA in caDir,
    // so we trust the printed CA file explicitly, as a separate process would through NODE_EXTRA_CA_CERTS.
    const origin = new URL(info.baseUrl).origin;
    const metadata = JSON.parse(
      await request(`${info.authority}/v2.0/.well-known/openid-configuration`, info.caCertPath, "GET"),
    );
    expect(metadata.token_endpoint).toBe(`${info.authority}/oauth2/v2.0/token`);
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: info.clientId,
      client_secret: info.clientSecret ?? "",
      scope: "https://graph.microsoft.com/.default",
    });
    const token = JSON.parse(
      await request(
        metadata.token_endpoint,
        info.caCertPath,
        "POST",
        form.toString(),
        "application/x-www-form-urlencoded",
      ),
    );
    const users = JSON.parse(
      await request(
        `${info.baseUrl}/users`,
        info.caCertPath,
        "GET",
        undefined,
        undefined,
        token.access_token,
      ),
    );
    expect(users.value.length).toBeGreaterThanOrEqual(12);
    const mutation = JSON.parse(
      await request(
        `${origin}/_admin/mutate`,
        info.caCertPath,
        "POST",
        JSON.stringify({ counts: { newMessages: 3 } }),
        "application/json",
      ),
    );
    expect(mutation.newMessages).toBe(3);
    stop();
    await running;
    await expect(request(`${origin}/_admin/stats`, info.caCertPath, "GET")).rejects.toThrow();
  });
});

function request(
  url: string,
  caPath: string,
  method: string,
  body?: string,
  contentType?: string,
  bearer?: string,
): Promise<string> {
  const headers: Record<string, string> = {
    ...(contentType ? { "content-type": contentType } : {}),
    ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: readFileSync(caPath, "utf8"), headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });
    req.on("error", reject);
    req.end(body);
  });
}
