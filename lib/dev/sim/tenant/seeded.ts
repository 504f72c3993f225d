/**
 * A tenant that the local runtime can persist as two numbers' worth of JSON: the spec and how
 * many mutation rounds have happened. Rebuilding gives the same tenant, so a second `npm start`
 * sees the first run's tenant plus one more round of changes.
 */
import type { TenantStore } from "../model.js";
import { generateTenant, type TenantSpec } from "./generate.js";
import { type MutationSummary, mutateTenant } from "./mutate.js";
import { seedFrom } from "./random.js";
import type { InMemoryTenantStore } from "./store.js";

/** Mutation seed of round `round` (1-based) of activity seeded by `seed`. */
export function activitySeed(seed: number, round: number): number {
  return seedFrom("round", seed, round);
}

/** Mutation seed of round `round` (1-based) of a tenant generated from `spec`. */
export function mutationSeed(spec: TenantSpec, round: number): number {
  return activitySeed(spec.seed, round);
}

/**
 * Regenerates the tenant of `spec` and applies `mutationRounds` rounds of activity (default
 * intensity), each with its own seed derived from `seed` (default: the spec's seed) and the
 * round number.
 */
export function tenantFromSeed(
  spec: TenantSpec,
  mutationRounds: number,
  seed = spec.seed,
): InMemoryTenantStore {
  if (!Number.isInteger(mutationRounds) || mutationRounds < 0) {
    throw new RangeError(`tenantFromSeed mutationRounds: expected an integer ≥ 0, found ${mutationRounds}`);
  }
  const store = generateTenant(spec);
  for (let round = 1; round <= mutationRounds; round++) {
    mutateTenant(store, { seed: activitySeed(seed, round) });
  }
  return store;
}

/** Applies round `round` (1-based) to a store, as {@link tenantFromSeed} does; for runtimes that keep the store. */
export function applyMutationRound(store: TenantStore, spec: TenantSpec, round: number): MutationSummary {
  return mutateTenant(store, { seed: mutationSeed(spec, round) });
}
