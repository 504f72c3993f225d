/**
 * The simulated Entra ID token endpoint (OAuth2 client credentials) and the access tokens it
 * issues. Tokens are opaque random strings: MSAL never looks inside them, and the Graph side only
 * needs to know which app a token belongs to and whether it is still valid.
 */

import type { KeyObject } from "node:crypto";
import {
  createPublicKey,
  constants as cryptoConstants,
  randomBytes,
  randomUUID,
  verify,
  X509Certificate,
} from "node:crypto";

/** One registered app (service principal) allowed to get tokens. */
export interface SimClientRegistration {
  /** Application (client) id. Default: a fresh GUID. */
  clientId?: string;
  /** Client secret value. Default: a fresh random secret, unless {@link certificatePem} is given. */
  clientSecret?: string;
  /**
   * Certificate credential: the PEM of the app's X.509 certificate, or of its bare public key
   * (`BEGIN PUBLIC KEY`); client assertions must be signed with the matching private key.
   */
  certificatePem?: string;
  /**
   * Application permissions granted to the app (e.g. `Mail.Read`, `Reports.Read.All`,
   * `MailboxItem.Export.All`). Endpoints that need a permission the app lacks answer 403.
   * Default: every permission the simulator checks ({@link APPLICATION_PERMISSIONS}).
   */
  roles?: string[];
}

/** The application permissions the simulator checks; an app registered without `roles` holds them all. */
export const APPLICATION_PERMISSIONS = [
  "User.Read.All",
  "Mail.ReadWrite",
  "MailboxSettings.Read",
  "Reports.Read.All",
  "MailboxFolder.ReadWrite.All",
  "MailboxItem.ImportExport.All",
] as const;

export interface RegisteredClient {
  clientId: string;
  clientSecret: string | undefined;
  publicKey: KeyObject | undefined;
  roles: ReadonlySet<string>;
}

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface TokenServiceOptions {
  tenantId: string;
  /** Lifetime of issued tokens, seconds. */
  tokenLifetimeSeconds: number;
  clients: SimClientRegistration[];
}

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Expired tokens are dropped when this many are held (long benchmark runs issue many). */
const PRUNE_AT_TOKENS = 1000;

function publicKeyOf(pem: string): KeyObject {
  return pem.includes("BEGIN PUBLIC KEY") ? createPublicKey(pem) : new X509Certificate(pem).publicKey;
}

/** Entra accepts assertions a few minutes off; clock skew tolerance in seconds. */
const CLOCK_SKEW_SECONDS = 300;

export type TokenCheck =
  | { ok: true; clientId: string; roles: ReadonlySet<string> }
  | { ok: false; message: string };

export class TokenService {
  readonly clients: RegisteredClient[];
  private readonly tokens = new Map<string, { clientId: string; expiresAtMs: number; serial: number }>();
  private nextSerial = 1;
  /** Tokens with a lower serial are treated as expired (the "expire all tokens" fault). */
  private revokedBelowSerial = 0;

  constructor(private readonly options: TokenServiceOptions) {
    const registrations = options.clients.length > 0 ? options.clients : [{}];
    this.clients = registrations.map((r) => ({
      clientId: r.clientId ?? randomUUID(),
      clientSecret: r.clientSecret ?? (r.certificatePem ? undefined : randomBytes(30).toString("base64url")),
      publicKey: r.certificatePem ? publicKeyOf(r.certificatePem) : undefined,
      roles: new Set(r.roles ?? APPLICATION_PERMISSIONS),
    }));
  }

  /**
   * Handles the form fields of `POST /<tenant>/oauth2/v2.0/token` and answers like Entra ID.
   * `tokenEndpoint` is the URL the client posted to: the only accepted `aud` of its assertion.
   */
  issue(tenantInPath: string, form: URLSearchParams, tokenEndpoint: string): TokenAnswer {
    if (tenantInPath.toLowerCase() !== this.options.tenantId.toLowerCase()) {
      return this.error(
        400,
        "invalid_request",
        90002,
        `Tenant '${tenantInPath}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    const grantType = form.get("grant_type");
    if (grantType !== "client_credentials") {
      return this.error(
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${grantType ?? ""}'.`,
      );
    }
    const clientId = form.get("client_id") ?? "";
    const client = this.clients.find((c) => c.clientId === clientId);
    if (!client) {
      return this.error(
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.options.tenantId}'.`,
      );
    }
    const scope = form.get("scope") ?? "";
    if (!scope.split(" ").some((s) => s.endsWith("/.default"))) {
      return this.error(
        400,
        "invalid_scope",
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const secret = form.get("client_secret");
    const assertion = form.get("client_assertion");
    if (secret !== null) {
      if (client.clientSecret === undefined || secret !== client.clientSecret) {
        return this.error(
          401,
          "invalid_client",
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      }
    } else if (assertion !== null) {
      if (form.get("client_assertion_type") !== JWT_BEARER) {
        return this.error(
          400,
          "invalid_request",
          90023,
          `Unsupported client_assertion_type '${form.get("client_assertion_type") ?? ""}'; expected '${JWT_BEARER}'.`,
        );
      }
      const problem = this.checkAssertion(client, assertion, tokenEndpoint);
      if (problem) return this.error(401, "invalid_client", problem.code, problem.message);
    } else {
      return this.error(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    const accessToken = randomBytes(32).toString("base64url");
    const now = Date.now();
    if (this.tokens.size >= PRUNE_AT_TOKENS) this.pruneExpired(now);
    this.tokens.set(accessToken, {
      clientId,
      serial: this.nextSerial++,
      expiresAtMs: now + this.options.tokenLifetimeSeconds * 1000,
    });
    return {
      status: 200,
      body: {
        token_type: "Bearer",
        expires_in: this.options.tokenLifetimeSeconds,
        ext_expires_in: this.options.tokenLifetimeSeconds,
        access_token: accessToken,
      },
    };
  }

  /** Checks the `Authorization` header of a Graph request. */
  check(authorization: string | undefined): TokenCheck {
    if (!authorization?.startsWith("Bearer ")) return { ok: false, message: "Access token is empty." };
    const token = this.tokens.get(authorization.slice("Bearer ".length).trim());
    if (!token) return { ok: false, message: "IDX14100: JWT is not well formed, there are no dots (.)." };
    if (token.expiresAtMs <= Date.now() || token.serial < this.revokedBelowSerial) {
      return { ok: false, message: "Access token has expired or is not yet valid." };
    }
    const client = this.clients.find((c) => c.clientId === token.clientId);
    return { ok: true, clientId: token.clientId, roles: client?.roles ?? new Set() };
  }

  private pruneExpired(now: number): void {
    for (const [token, info] of this.tokens) {
      if (info.expiresAtMs <= now || info.serial < this.revokedBelowSerial) this.tokens.delete(token);
    }
  }

  /** Makes every token issued so far invalid: the next Graph call with one answers 401. */
  expireAll(): void {
    this.revokedBelowSerial = this.nextSerial;
  }

  private checkAssertion(
    client: RegisteredClient,
    jwt: string,
    tokenEndpoint: string,
  ): { code: number; message: string } | undefined {
    const parts = jwt.split(".");
    if (parts.length !== 3 || !client.publicKey) {
      return { code: 700027, message: "Client assertion failed signature validation." };
    }
    const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
    let header: { alg?: string };
    let payload: { aud?: string; exp?: number; nbf?: number; iss?: string; sub?: string };
    try {
      header = JSON.parse(Buffer.from(headerPart, "base64url").toString("utf8"));
      payload = JSON.parse(Buffer.from(payloadPart, "base64url").toString("utf8"));
    } catch {
      return {
        code: 700027,
        message: "Client assertion contains an invalid signature or is not a well-formed JWT.",
      };
    }
    const signed = Buffer.from(`${headerPart}.${payloadPart}`);
    const signature = Buffer.from(signaturePart, "base64url");
    const key = client.publicKey;
    const valid =
      header.alg === "RS256"
        ? verify("sha256", signed, key, signature)
        : header.alg === "PS256"
          ? verify(
              "sha256",
              signed,
              {
                key,
                padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
                saltLength: cryptoConstants.RSA_PSS_SALTLEN_AUTO,
              },
              signature,
            )
          : false;
    if (!valid)
      return {
        code: 700027,
        message: `Client assertion failed signature validation (alg ${header.alg ?? "none"}).`,
      };
    if (payload.aud !== tokenEndpoint) {
      return {
        code: 700212,
        message: `Client assertion audience claim does not match Realm issuer: expected '${tokenEndpoint}', found '${payload.aud ?? ""}'.`,
      };
    }
    if (payload.iss !== client.clientId || payload.sub !== client.clientId) {
      return {
        code: 700023,
        message: `Client assertion iss and sub must be the client id '${client.clientId}'.`,
      };
    }
    const nowSeconds = Date.now() / 1000;
    if (
      typeof payload.exp !== "number" ||
      payload.exp + CLOCK_SKEW_SECONDS < nowSeconds ||
      (payload.nbf ?? 0) - CLOCK_SKEW_SECONDS > nowSeconds
    ) {
      return { code: 700024, message: "Client assertion is not within its valid time range." };
    }
    return undefined;
  }

  private error(status: number, error: string, code: number, description: string): TokenAnswer {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d{3}Z$/, "Z");
    return {
      status,
      body: {
        error,
        error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      },
    };
  }
}
