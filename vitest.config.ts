import { defineConfig } from "vitest/config";

// Integration test files each start their own emulators on free ports, so files may run in
// parallel; two workers match the 2-core machines this project is built and tested on.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-ca.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
