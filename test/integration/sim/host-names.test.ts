import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { secretGraph, startTestSimulator } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

const run = promisify(execFile);
const HOST_MAP = fileURLToPath(new URL("../../support/host-map.mjs", import.meta.url));
const CLIENT = fileURLToPath(new URL("./fixtures/hardcoded-client.mjs", import.meta.url));
const REAL_HOSTS = [
  "graph.microsoft.com",
  "login.microsoftonline.com",
  "outlook.office.com",
  "outlook.office365.com",
  "reports.office.com",
];

interface ClientReport {
  users: number;
  withExchange: number;
  withCreatedDateTime: number;
  inboxMessages: number;
  firstSubject: string;
  firstBody: { contentType: string; content: string };
  firstUniqueBody: { contentType: string; content: string };
  uploadUrl: string;
  reportLines: string[];
  importUrl: string;
  importedEqual: boolean;
  links: string[];
}

describe("a client that hard-codes the real Microsoft host names", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;

  beforeAll(async () => {
    tenant = await buildTestTenant();
    sim = await startTestSimulator({ store: tenant.store, hostNames: REAL_HOSTS });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("runs unmodified against the simulator with a hosts entry (stand-in) and NODE_EXTRA_CA_CERTS only", async () => {
    sim.resetStats();
    expect(process.env.NODE_EXTRA_CA_CERTS).toBeTruthy();
    const { stdout } = await run(process.execPath, ["--import", HOST_MAP, CLIENT], {
      env: {
        ...process.env,
        MAILSTREAM_HOST_MAP: `${REAL_HOSTS.join(",")}=${sim.port}`,
        SIM_TENANT_ID: sim.tenantId,
        SIM_CLIENT_ID: sim.clientId,
        SIM_CLIENT_SECRET: sim.clientSecret ?? "",
      },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout) as ClientReport;
    // assignedPlans and createdDateTime survive $select: the client finds the licensed accounts.
    expect(report.users).toBe(tenant.userCount);
    expect(report.withExchange).toBe(2);
    expect(report.withCreatedDateTime).toBe(tenant.userCount);
    expect(report.inboxMessages).toBe(25);
    expect(report.firstBody.contentType).toBe("text");
    expect(report.firstBody.content).toContain("Hello there.");
    expect(report.firstUniqueBody).toEqual(report.firstBody);
    // Every link names the host the client used; pre-authenticated ones another real host.
    expect(report.links.length).toBeGreaterThan(3);
    for (const link of report.links) expect(link).toMatch(/^https:\/\/graph\.microsoft\.com\/v1\.0\//);
    expect(report.uploadUrl).toMatch(/^https:\/\/outlook\.office\.com\/api\/v2\.0\/Users\('/);
    // The usage report: a 302 the Graph client followed to reports.office.com, then the CSV.
    expect(report.reportLines[0]).toMatch(
      /^Report Refresh Date,User Principal Name,Display Name,Is Deleted,/,
    );
    expect(
      report.reportLines
        .slice(1)
        .map((l) => l.split(",")[1])
        .sort(),
    ).toEqual(["alice@contoso.test", "support@contoso.test"].sort());
    // The import/export API: the import URL on outlook.office365.com, POSTed without a token.
    expect(report.importUrl).toMatch(/^https:\/\/outlook\.office365\.com\/api\/gv1\.0\/Mailboxes\('MBX:/);
    expect(report.importedEqual).toBe(true);
    const stats = sim.stats();
    expect(stats.auth.tokensIssued).toBe(1);
    expect(stats.auth.otherRequests).toEqual([]);
    expect(stats.graph.byStatus["302"]).toBe(1);
  }, 90_000);

  it("answers a client of localhost with localhost links and upload URLs on 127.0.0.1", async () => {
    const local = await startTestSimulator({ store: tenant.store });
    try {
      const graph = secretGraph(local);
      const page = await graph.api(`/users/${tenant.alice.id}/mailFolders/inbox/messages`).top(5).get();
      expect(page["@odata.nextLink"]).toMatch(new RegExp(`^https://localhost:${local.port}/v1\\.0/users/`));
      const session = await graph
        .api(`/users/${tenant.alice.id}/messages/${page.value[0].id}/attachments/createUploadSession`)
        .post({ AttachmentItem: { attachmentType: "file", name: "big.bin", size: 3_500_000 } });
      expect(session.uploadUrl).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${local.port}/api/v2\\.0/`));
    } finally {
      await local.close();
    }
  });
});
