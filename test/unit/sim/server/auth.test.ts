import { constants, generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { APPLICATION_PERMISSIONS, TokenService } from "../../../../lib/dev/sim/server/auth.js";

const TENANT = "tenant-1";
const ENDPOINT = "https://localhost:1/tenant-1/oauth2/v2.0/token";
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();

function assertion(alg: "RS256" | "PS256", claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const signed = `${part({ alg, typ: "JWT" })}.${part(claims)}`;
  const signature =
    alg === "RS256"
      ? sign("sha256", Buffer.from(signed), privateKey)
      : sign("sha256", Buffer.from(signed), {
          key: privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: 32,
        });
  return `${signed}.${signature.toString("base64url")}`;
}

function service() {
  return new TokenService({
    tenantId: TENANT,
    tokenLifetimeSeconds: 60,
    clients: [
      { clientId: "secret-app", clientSecret: "s3cret" },
      { clientId: "cert-app", certificatePem: publicPem },
    ],
  });
}

/** A token request posted to ENDPOINT (the audience client assertions must name). */
function issue(tokens: TokenService, tenant: string, fields: URLSearchParams) {
  return tokens.issue(tenant, fields, ENDPOINT);
}

function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams({
    grant_type: "client_credentials",
    scope: "https://graph.microsoft.com/.default",
    ...fields,
  });
}

const now = () => Math.floor(Date.now() / 1000);
const good = { aud: ENDPOINT, iss: "cert-app", sub: "cert-app", exp: now() + 600, nbf: now() };
const jwtForm = (jwt: string) =>
  form({
    client_id: "cert-app",
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: jwt,
  });

describe("TokenService", () => {
  it("issues opaque bearer tokens for the right secret and refuses a wrong one with AADSTS7000215", () => {
    const tokens = service();
    const ok = issue(tokens, TENANT, form({ client_id: "secret-app", client_secret: "s3cret" }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: "Bearer", expires_in: 60 });
    expect(tokens.check(`Bearer ${ok.body.access_token}`)).toEqual({
      ok: true,
      clientId: "secret-app",
      roles: new Set(APPLICATION_PERMISSIONS),
    });
    const bad = issue(tokens, TENANT, form({ client_id: "secret-app", client_secret: "nope" }));
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: "invalid_client", error_codes: [7000215] });
  });

  it("accepts RS256 and PS256 assertions signed by the registered key, for the token endpoint audience only", () => {
    const tokens = service();
    expect(issue(tokens, TENANT, jwtForm(assertion("RS256", good))).status).toBe(200);
    expect(issue(tokens, TENANT, jwtForm(assertion("PS256", good))).status).toBe(200);
    expect(
      issue(tokens, TENANT, jwtForm(assertion("RS256", { ...good, aud: "https://elsewhere/token" }))).body
        .error_codes,
    ).toEqual([700212]);
    expect(
      issue(tokens, TENANT, jwtForm(assertion("RS256", { ...good, exp: now() - 3600 }))).body.error_codes,
    ).toEqual([700024]);
    const tampered = assertion("RS256", good).replace(
      /\.[^.]+\./,
      `.${Buffer.from(JSON.stringify({ ...good, sub: "x" })).toString("base64url")}.`,
    );
    expect(issue(tokens, TENANT, jwtForm(tampered)).body.error_codes).toEqual([700027]);
  });

  it("refuses unknown tenants, clients, grant types and scopes without /.default", () => {
    const tokens = service();
    expect(
      issue(tokens, "other", form({ client_id: "secret-app", client_secret: "s3cret" })).body.error,
    ).toBe("invalid_request");
    expect(issue(tokens, TENANT, form({ client_id: "nobody", client_secret: "s3cret" })).body.error).toBe(
      "unauthorized_client",
    );
    expect(
      issue(
        tokens,
        TENANT,
        form({ client_id: "secret-app", client_secret: "s3cret", grant_type: "password" }),
      ).body.error,
    ).toBe("unsupported_grant_type");
    expect(
      issue(tokens, TENANT, form({ client_id: "secret-app", client_secret: "s3cret", scope: "Mail.Read" }))
        .body.error,
    ).toBe("invalid_scope");
  });

  it("expires every token issued so far on demand, but not the ones issued after", () => {
    const tokens = service();
    const before = issue(tokens, TENANT, form({ client_id: "secret-app", client_secret: "s3cret" })).body
      .access_token;
    tokens.expireAll();
    const after = issue(tokens, TENANT, form({ client_id: "secret-app", client_secret: "s3cret" })).body
      .access_token;
    expect(tokens.check(`Bearer ${before}`)).toEqual({
      ok: false,
      message: "Access token has expired or is not yet valid.",
    });
    expect(tokens.check(`Bearer ${after}`).ok).toBe(true);
    expect(tokens.check(undefined)).toEqual({ ok: false, message: "Access token is empty." });
  });
});
