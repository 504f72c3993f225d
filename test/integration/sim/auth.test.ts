import { createHash, X509Certificate } from "node:crypto";
import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { GRAPH_SCOPE, graphErrorOf, graphFor, msalFor, startTestSimulator, tokenFrom } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

describe("simulator token endpoint with the real MSAL client", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator;
  let certificate: { certPem: string; keyPem: string };
  const certClientId = "11111111-2222-4333-8444-555555555555";

  beforeAll(async () => {
    tenant = await buildTestTenant();
    const pems = await generate([{ name: "commonName", value: "mailstream backup app" }], {
      keySize: 2048,
      algorithm: "sha256",
    });
    certificate = { certPem: pems.cert, keyPem: pems.private };
    sim = await startTestSimulator({
      store: tenant.store,
      clients: [{}, { clientId: certClientId, certificatePem: certificate.certPem }],
    });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("issues a token for the client secret with exactly one auth request, the token POST", async () => {
    sim.resetStats();
    const msal = msalFor(sim, { clientSecret: sim.clientSecret ?? "" });
    const result = await msal.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
    expect(result?.accessToken).toMatch(/^[\w-]{20,}$/);
    const users = await graphFor(sim, msal).api("/users").get();
    expect(users.value.length).toBeGreaterThan(0);
    const { auth } = sim.stats();
    expect(auth).toEqual({
      tokenRequests: 1,
      tokensIssued: 1,
      tokenRefusals: 0,
      metadataRequests: 0,
      otherRequests: [],
    });
  });

  it("issues a token for a certificate credential (client assertion signed with the app's key)", async () => {
    const x509 = new X509Certificate(certificate.certPem);
    const thumbprintSha256 = createHash("sha256").update(x509.raw).digest("hex");
    const msal = msalFor(
      sim,
      { clientCertificate: { thumbprintSha256, privateKey: certificate.keyPem } },
      certClientId,
    );
    const users = await graphFor(sim, msal).api("/users").get();
    expect(users.value.map((u: { id: string }) => u.id)).toContain(tenant.alice.id);
  });

  it("refuses an assertion signed by a key that is not the app's", async () => {
    const other = await generate([{ name: "commonName", value: "impostor" }], {
      keySize: 2048,
      algorithm: "sha256",
    });
    const thumbprintSha256 = createHash("sha256").update(new X509Certificate(other.cert).raw).digest("hex");
    const msal = msalFor(
      sim,
      { clientCertificate: { thumbprintSha256, privateKey: other.private } },
      certClientId,
    );
    await expect(tokenFrom(msal)).rejects.toMatchObject({
      errorCode: "invalid_client",
      errorMessage: expect.stringContaining("AADSTS700027"),
    });
  });

  it("refuses a wrong secret with invalid_client AADSTS7000215, as Entra ID does", async () => {
    sim.resetStats();
    const msal = msalFor(sim, { clientSecret: "not-the-secret" });
    await expect(tokenFrom(msal)).rejects.toMatchObject({
      errorCode: "invalid_client",
      errorMessage: expect.stringContaining("AADSTS7000215"),
    });
    expect(sim.stats().auth.tokenRefusals).toBe(1);
  });

  it("answers 401 InvalidAuthenticationToken once tokens expire, and a fresh token works", async () => {
    const msal = msalFor(sim, { clientSecret: sim.clientSecret ?? "" });
    const graph = graphFor(sim, msal);
    await graph.api(`/users/${tenant.alice.id}`).get();
    sim.faults.expireTokens();
    const error = await graphErrorOf(graph.api(`/users/${tenant.alice.id}`).get());
    expect(error.statusCode).toBe(401);
    expect(error.code).toBe("InvalidAuthenticationToken");
    // MSAL still holds the expired token in its cache; the caller forces a new one.
    await tokenFrom(msal, true);
    const user = await graph.api(`/users/${tenant.alice.id}`).get();
    expect(user.userPrincipalName).toBe("alice@contoso.test");
  });

  it("lets tokens run out after tokenLifetimeSeconds", async () => {
    const shortLived = await startTestSimulator({ store: tenant.store, tokenLifetimeSeconds: 1 });
    try {
      const token = await tokenFrom(msalFor(shortLived, { clientSecret: shortLived.clientSecret ?? "" }));
      const call = () =>
        fetch(`${shortLived.baseUrl}/users`, { headers: { authorization: `Bearer ${token}` } });
      expect((await call()).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const expired = await call();
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as { error: { message: string } }).error.message).toBe(
        "Access token has expired or is not yet valid.",
      );
    } finally {
      await shortLived.close();
    }
  });

  it("serves the OpenID configuration that authorityMetadata mirrors", async () => {
    const response = await fetch(`${sim.authority}/v2.0/.well-known/openid-configuration`);
    expect(await response.json()).toEqual(JSON.parse(sim.msalAuthorityMetadata));
  });
});
