/** The simulated tenant: store, generator, mutation rounds and summaries. */
export { describeTenant, type TenantDescription } from "./describe.js";
export { TenantObjectNotFoundError } from "./errors.js";
export { generateTenant, TENANT_SHAPES, type TenantShape, type TenantSpec } from "./generate.js";
export { type MutationCounts, type MutationOptions, type MutationSummary, mutateTenant } from "./mutate.js";
export { activitySeed, applyMutationRound, mutationSeed, tenantFromSeed } from "./seeded.js";
export { InMemoryTenantStore, type InMemoryTenantStoreOptions } from "./store.js";
