/** The state store: job, stream, unit and sync state on DynamoDB (see state-store.ts). */
export * from "./errors.js";
export { jobIdForTick, jobIdTime } from "./job-id.js";
export type { NewJob } from "./jobs.js";
export { MAX_STREAMS, MAX_UNITS } from "./keys.js";
export { heldIndexes } from "./reads.js";
export * from "./records.js";
export { StateStore, type StateStoreOptions } from "./state-store.js";
export { MAX_STAGED_AT_END, type UnitEnd } from "./units.js";
