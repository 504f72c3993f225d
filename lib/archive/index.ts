/**
 * The archive's public face for the pipeline (lib/app). Commands of the CLI import the modules
 * they use directly instead, so that a command on a local archive never loads the AWS SDK.
 */
export * from "./archive.js";
export * from "./blobs.js";
export * from "./catalog.js";
export * from "./errors.js";
export * from "./keys.js";
export * from "./local-store.js";
export * from "./manifest.js";
export * from "./memory-store.js";
export * from "./replay.js";
export * from "./reports.js";
export * from "./s3-store.js";
export * from "./snapshot.js";
export * from "./store.js";
