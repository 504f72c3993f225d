import { X509Certificate } from "node:crypto";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSimulator, startSimulator } from "../../../lib/dev/sim/server/index.js";
import { createTokenProvider } from "../../../lib/graph/auth.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import { createFolder, createMessage, updateMessage } from "../../../lib/graph/write.js";
import { loadTestCa } from "../../support/sim-ca.js";
import { buildTenant, type GraphTestTenant, gatewayFor, startSim } from "./fixture.js";

let tenant: GraphTestTenant;
let sim: RunningSimulator;

beforeAll(async () => {
  tenant = buildTenant({ inboxMessages: 2, bigMessageBytes: 1024 });
  sim = await startSim(tenant.store);
});
afterAll(async () => {
  await sim?.close();
});

describe("restore writes", () => {
  it("creates folders at the top and below, a non-draft message with its dates, and updates it", async () => {
    const gateway = gatewayFor(sim);
    const userId = tenant.alice.id;
    const top = await createFolder(gateway, userId, null, "Restored");
    const child = await createFolder(gateway, userId, top.id, "2025");
    expect(tenant.store.getFolder(userId, top.id)?.displayName).toBe("Restored");
    expect(tenant.store.getFolder(userId, child.id)?.parentFolderId).toBe(top.id);

    const created = await createMessage(gateway, userId, child.id, {
      subject: "Quarterly numbers",
      body: { contentType: "text", content: "See attached." },
      from: { emailAddress: { name: "Bob", address: "bob@contoso.test" } },
      toRecipients: [{ emailAddress: { name: "Alice", address: "alice@contoso.test" } }],
      singleValueExtendedProperties: [
        { id: "Integer 0x0E07", value: "1" },
        { id: "SystemTime 0x0E06", value: "2025-04-01T08:30:00Z" },
        { id: "SystemTime 0x0039", value: "2025-04-01T08:29:00Z" },
      ],
    });
    const stored = tenant.store.getMessage(userId, created.id);
    expect(stored).toMatchObject({ parentFolderId: child.id, isDraft: false, subject: "Quarterly numbers" });
    expect(Date.parse(stored?.receivedDateTime as string)).toBe(Date.parse("2025-04-01T08:30:00Z"));

    await updateMessage(gateway, userId, created.id, { isRead: true, categories: ["Finance"] });
    expect(tenant.store.getMessage(userId, created.id)).toMatchObject({
      isRead: true,
      categories: ["Finance"],
    });
  });
});

describe("certificate credential", () => {
  it("gets a token with a signed client assertion and reads a mailbox with it", async () => {
    const pems = await generate([{ name: "commonName", value: "mailstream test app" }], {
      keySize: 2048,
      algorithm: "sha256",
    });
    const certSim = await startSimulator({
      store: tenant.store,
      ca: await loadTestCa(),
      clients: [{ certificatePem: pems.cert }],
    });
    try {
      const thumbprintSha256 = new X509Certificate(pems.cert).fingerprint256.replaceAll(":", "");
      const tokens = createTokenProvider({
        tenantId: certSim.tenantId,
        clientId: certSim.clientId,
        credential: { clientCertificate: { thumbprintSha256, privateKey: pems.private } },
        authority: certSim.authority,
        knownAuthorities: certSim.knownAuthorities,
        authorityMetadata: certSim.msalAuthorityMetadata,
      });
      const gateway = createGraphGateway({ tokens, baseUrl: certSim.baseUrl });
      const inbox = await gateway.get<{ id: string }>(`/users/${tenant.alice.id}/mailFolders/inbox`);
      expect(inbox.id).toBe(tenant.inboxId);
      expect(certSim.stats().auth).toMatchObject({ tokensIssued: 1, metadataRequests: 0, otherRequests: [] });
    } finally {
      await certSim.close();
    }
  });
});
