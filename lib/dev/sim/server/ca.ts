/**
 * The simulator's certificate authority and its server certificates.
 *
 * Both Graph and MSAL clients must reach the simulator over HTTPS (the Graph client strips the
 * bearer token from non-https URLs, MSAL refuses http authorities). Node trusts an extra CA only
 * through `NODE_EXTRA_CA_CERTS`, read once at process start, so the CA has to exist on disk
 * before the process that runs the clients starts: hence a CA that is created once in a folder
 * and reused, and a fresh server certificate signed by it (for localhost and the host names the
 * simulator serves, e.g. `graph.microsoft.com`) each time a simulator starts.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { generate } from "selfsigned";
import { FatalError } from "../../../errors.js";

export interface SimulatorCa {
  /** File holding the CA certificate (PEM): the value for `NODE_EXTRA_CA_CERTS`. */
  caCertPath: string;
  caCertPem: string;
  caKeyPem: string;
}

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

const CA_CERT_FILE = "simulator-ca.pem";
/** Key and certificate in one file, so that a reader never sees a key of one CA with the cert of another. */
const CA_BUNDLE_FILE = "simulator-ca.key-and-cert.json";

/** Creates a new self-signed CA able to sign server certificates. Valid for 10 years. */
export async function createCa(): Promise<CertificatePair> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const pems = await generate([{ name: "commonName", value: "mailstream simulator CA" }], {
    keySize: 2048,
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

/**
 * Returns the CA stored in `dir`, creating it on first use. Safe to call from several processes:
 * the bundle is written to a temporary name and renamed into place, so readers see a whole CA.
 */
export async function ensureSimulatorCa(dir: string): Promise<SimulatorCa> {
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, CA_BUNDLE_FILE);
  const caCertPath = join(dir, CA_CERT_FILE);
  if (!existsSync(bundlePath)) {
    const ca = await createCa();
    const tmp = `${bundlePath}.${randomBytes(6).toString("hex")}.tmp`;
    writeFileSync(tmp, JSON.stringify(ca), { mode: 0o600 });
    renameSync(tmp, bundlePath);
  }
  const ca = readCaBundle(bundlePath);
  if (!existsSync(caCertPath) || readFileSync(caCertPath, "utf8") !== ca.certPem) {
    const tmp = `${caCertPath}.${randomBytes(6).toString("hex")}.tmp`;
    writeFileSync(tmp, ca.certPem);
    renameSync(tmp, caCertPath);
  }
  return { caCertPath, caCertPem: ca.certPem, caKeyPem: ca.keyPem };
}

function readCaBundle(path: string): CertificatePair {
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<CertificatePair>;
  if (typeof parsed.certPem !== "string" || typeof parsed.keyPem !== "string") {
    throw new FatalError(
      `simulator CA bundle ${path}: expected {certPem, keyPem} strings, found keys ${Object.keys(parsed).join(",")}`,
    );
  }
  return { certPem: parsed.certPem, keyPem: parsed.keyPem };
}

/** Names every server certificate covers, besides the host names a simulator is started with. */
export const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"] as const;

/** True for an IPv4 or IPv6 literal (an IP entry in subjectAltName, not a DNS name). */
export function isIpLiteral(name: string): boolean {
  return isIP(name.replace(/^\[|\]$/g, "")) !== 0;
}

/**
 * Issues a server certificate for `hostNames` plus `localhost`, `127.0.0.1` and `::1`, signed by
 * `ca`. Valid for 1 year. Names may be DNS names (`graph.microsoft.com`) or IP literals.
 */
export async function issueServerCertificate(
  ca: CertificatePair,
  hostNames: readonly string[] = [],
): Promise<CertificatePair> {
  const names = [...new Set([...LOOPBACK_NAMES, ...hostNames.map((n) => n.toLowerCase())])];
  const notBeforeDate = new Date(Date.now() - 60_000);
  const commonName = hostNames[0] ?? "localhost";
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keySize: 2048,
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 365 * 24 * 3600 * 1000),
    ca: { key: ca.keyPem, cert: ca.certPem },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: names.map((name) =>
          isIpLiteral(name) ? { type: 7, ip: name.replace(/^\[|\]$/g, "") } : { type: 2, value: name },
        ),
      },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}
