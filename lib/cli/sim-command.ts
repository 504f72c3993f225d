/**
 * `mailstream sim`: serve a simulated Exchange Online tenant (Graph + token endpoint over HTTPS)
 * until interrupted, for trying mailstream, other tools or the CLI against a tenant with no
 * Microsoft account. Prints one JSON line with everything a client needs to connect.
 */
import { join } from "node:path";
import type { TenantStore } from "../dev/sim/model.js";
import {
  ensureSimulatorCa,
  type LatencyOptions,
  type LimitOptions,
  startSimulator,
} from "../dev/sim/server/index.js";
import { generateTenant, TENANT_SHAPES, type TenantShape } from "../dev/sim/tenant/generate.js";
import { type MutationOptions, mutateTenant } from "../dev/sim/tenant/mutate.js";
import { ConfigError } from "../errors.js";

export interface SimCommandOptions {
  /** Tenant preset (see TENANT_SHAPES). Default "demo". */
  shape?: TenantShape;
  /** Overrides the preset's seed. */
  seed?: number;
  /** TCP port; 0 = a free one. Default 0. */
  port?: number;
  /**
   * Folder of the simulator CA, created on first use and reused after, so that a
   * NODE_EXTRA_CA_CERTS pointing at it stays valid across runs. Default `.mailstream/sim-ca`
   * under the working directory.
   */
  caDir?: string;
  limits?: LimitOptions;
  latency?: LatencyOptions;
  /** Receives the connection line. Default: written to stdout. */
  print?: (line: string) => void;
  /** Serving ends when this settles. Default: on SIGINT or SIGTERM. */
  until?: Promise<unknown>;
}

/** What the one JSON line holds. */
export interface SimConnectionInfo {
  baseUrl: string;
  authority: string;
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  caCertPath: string;
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

/** `POST /_admin/mutate` body: mutation options; without a seed, each call uses the next round's seed. */
function mutationHook(baseSeed: number) {
  let round = 0;
  return (request: unknown, store: TenantStore) => {
    round++;
    const options = (request ?? {}) as Partial<MutationOptions>;
    return mutateTenant(store, { ...options, seed: options.seed ?? baseSeed + round });
  };
}

export async function runSimCommand(opts: SimCommandOptions = {}): Promise<void> {
  const shape = opts.shape ?? "demo";
  const preset = TENANT_SHAPES[shape];
  if (!preset) {
    throw new ConfigError(
      "shape",
      `expected one of ${Object.keys(TENANT_SHAPES).join(", ")}, found '${shape}'`,
    );
  }
  const spec = { ...preset, ...(opts.seed === undefined ? {} : { seed: opts.seed }) };
  const store = generateTenant(spec);
  const caDir = opts.caDir ?? join(process.cwd(), ".mailstream", "sim-ca");
  const ca = await ensureSimulatorCa(caDir);
  const sim = await startSimulator({
    store,
    port: opts.port ?? 0,
    ca: { certPem: ca.caCertPem, keyPem: ca.caKeyPem },
    certDir: caDir,
    onMutate: mutationHook(spec.seed),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.latency ? { latency: opts.latency } : {}),
  });
  const info: SimConnectionInfo = {
    baseUrl: sim.baseUrl,
    authority: sim.authority,
    tenantId: sim.tenantId,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
    caCertPath: ca.caCertPath,
  };
  const line = JSON.stringify(info);
  if (opts.print) opts.print(line);
  else process.stdout.write(`${line}\n`);
  try {
    await (opts.until ?? untilSignal());
  } finally {
    await sim.close();
  }
}
