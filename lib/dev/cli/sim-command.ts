/**
 * `mailstream sim`: serve a simulated Exchange Online tenant (Graph + token endpoint over HTTPS)
 * until interrupted, for trying mailstream, other tools or the CLI against a tenant with no
 * Microsoft account. Prints one JSON line with everything a client needs to connect.
 *
 * Its defaults behave like the real service as far as a client can tell: about 100 ms per
 * request, so that Outlook's limits (4 concurrent requests per mailbox, 10,000 per 10 minutes)
 * bite as they do against Exchange Online.
 */
import { join } from "node:path";
import { ConfigError } from "../../errors.js";
import type { TenantStore } from "../sim/model.js";
import {
  type CertificatePair,
  ensureSimulatorCa,
  type FaultCommand,
  type LatencyOptions,
  type LimitOptions,
  startSimulator,
} from "../sim/server/index.js";
import { TENANT_SHAPES, type TenantShape, type TenantSpec } from "../sim/tenant/generate.js";
import { type MutationOptions, mutateTenant } from "../sim/tenant/mutate.js";
import { activitySeed, tenantFromSeed } from "../sim/tenant/seeded.js";

/** Service time of the sim command unless told otherwise: 100 ms ± 50 ms per request. */
export const SIM_DEFAULT_LATENCY: LatencyOptions = { baseMs: 100, jitterMs: 50 };

export interface SimCommandOptions {
  /** Tenant preset (see TENANT_SHAPES). Default "demo". */
  shape?: TenantShape;
  /** Overrides the preset's seed. */
  seed?: number;
  /** Activity rounds applied before serving (as `npm start` runs do between backups). Bounds ≥ 0. Default 0. */
  rounds?: number;
  /** Seed of the activity rounds (those applied at start and each `POST /_admin/mutate`). Default: the tenant's seed. */
  activitySeed?: number;
  /** TCP port; 0 = a free one. Default 0. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`. */
  bind?: string;
  /** Host names served (the certificate covers them); the first is the printed one. Default `["localhost"]`. */
  hostNames?: string[];
  /** A server certificate and key of the user's, instead of one issued by the simulator CA. */
  certificate?: CertificatePair;
  /**
   * Folder of the simulator CA, created on first use and reused after, so that a
   * NODE_EXTRA_CA_CERTS pointing at it stays valid across runs. Default `.mailstream/sim-ca`
   * under the working directory.
   */
  caDir?: string;
  /** Outlook's limits per app and mailbox. Default: Outlook's (4 concurrent, 10,000 per 10 min, 150 MB uploads per 5 min). */
  limits?: LimitOptions;
  /** Service time. Default {@link SIM_DEFAULT_LATENCY}. */
  latency?: LatencyOptions;
  /** Faults in force from the start (the same commands as `POST /_admin/faults`). */
  faults?: FaultCommand[];
  /** Receives the connection line. Default: written to stdout. */
  print?: (line: string) => void;
  /** Serving ends when this settles. Default: on SIGINT or SIGTERM. */
  until?: Promise<unknown>;
}

/** What the one JSON line holds. */
export interface SimConnectionInfo {
  /** `https://{host}:{port}`: the origin of every endpoint below. */
  origin: string;
  /** Graph base URL (`{origin}/v1.0`). */
  baseUrl: string;
  /** MSAL authority (`{origin}/{tenantId}`). */
  authority: string;
  /** MSAL `knownAuthorities` and `authorityMetadata`: MSAL then contacts only the token endpoint. */
  knownAuthorities: string[];
  authorityMetadata: string;
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  /** File to trust through NODE_EXTRA_CA_CERTS; absent with a certificate of the user's. */
  caCertPath: string | undefined;
  /** Host names served. */
  hostNames: string[];
  /** Statistics, ground truth, faults and activity rounds (`/_admin/…`, no authentication). */
  adminUrl: string;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/**
 * `POST /_admin/mutate` body: mutation options. Without a seed, each call applies the next
 * activity round (round `rounds + 1`, then `+ 2`, …) with the seed that round gets from `seed`.
 */
function mutationHook(seed: number, roundsApplied: number) {
  let round = roundsApplied;
  return (request: unknown, store: TenantStore) => {
    round++;
    const options = (request ?? {}) as Partial<MutationOptions>;
    return mutateTenant(store, { ...options, seed: options.seed ?? activitySeed(seed, round) });
  };
}

function specOf(opts: SimCommandOptions): TenantSpec {
  const shape = opts.shape ?? "demo";
  const preset = TENANT_SHAPES[shape];
  if (!preset) {
    throw new ConfigError(
      "shape",
      `expected one of ${Object.keys(TENANT_SHAPES).join(", ")}, found '${shape}'`,
    );
  }
  return { ...preset, ...(opts.seed === undefined ? {} : { seed: opts.seed }) };
}

export async function runSimCommand(opts: SimCommandOptions = {}): Promise<void> {
  const spec = specOf(opts);
  const rounds = opts.rounds ?? 0;
  if (!Number.isInteger(rounds) || rounds < 0)
    throw new ConfigError("rounds", `expected an integer ≥ 0, found ${rounds}`);
  const seed = opts.activitySeed ?? spec.seed;
  const store = tenantFromSeed(spec, rounds, seed);
  const caDir = opts.caDir ?? join(process.cwd(), ".mailstream", "sim-ca");
  const ca = opts.certificate ? undefined : await ensureSimulatorCa(caDir);
  const sim = await startSimulator({
    store,
    port: opts.port ?? 0,
    ...(opts.bind ? { host: opts.bind } : {}),
    ...(opts.hostNames ? { hostNames: opts.hostNames } : {}),
    ...(opts.certificate ? { certificate: opts.certificate } : {}),
    ...(ca ? { ca: { certPem: ca.caCertPem, keyPem: ca.caKeyPem }, certDir: caDir } : {}),
    onMutate: mutationHook(seed, rounds),
    latency: opts.latency ?? SIM_DEFAULT_LATENCY,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  try {
    for (const fault of opts.faults ?? []) sim.faults.apply(fault);
    const info: SimConnectionInfo = {
      origin: sim.origin,
      baseUrl: sim.baseUrl,
      authority: sim.authority,
      knownAuthorities: sim.knownAuthorities,
      authorityMetadata: sim.msalAuthorityMetadata,
      tenantId: sim.tenantId,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      caCertPath: ca?.caCertPath,
      hostNames: sim.hostNames,
      adminUrl: `${sim.origin}/_admin`,
    };
    const line = JSON.stringify(info);
    if (opts.print) opts.print(line);
    else process.stdout.write(`${line}\n`);
    await (opts.until ?? untilSignal());
  } finally {
    await sim.close();
  }
}
