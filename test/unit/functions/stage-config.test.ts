import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../lib/config/index.js";

const BASE = {
  MAILSTREAM_TENANT_ID: "contoso.onmicrosoft.com",
  MAILSTREAM_CLIENT_ID: "11111111-2222-3333-4444-555555555555",
  MAILSTREAM_CREDENTIALS_SOURCE: "env",
  MAILSTREAM_CLIENT_SECRET: "s3cret",
  MAILSTREAM_ARCHIVE: "local",
  MAILSTREAM_ARCHIVE_PATH: "/tmp/archive",
};

describe("MAILSTREAM_STAGE (the metrics' Stage dimension)", () => {
  it("is read from the environment the stack sets, and defaults to local", () => {
    expect(loadConfig({ env: { ...BASE, MAILSTREAM_STAGE: "prod-eu" } }).stage).toBe("prod-eu");
    expect(loadConfig({ env: BASE }).stage).toBe("local");
  });

  it("names the variable, what was expected and what was found when the stage is not a name", () => {
    expect(() => loadConfig({ env: { ...BASE, MAILSTREAM_STAGE: "prod eu" } })).toThrow(
      `configuration stage (MAILSTREAM_STAGE): expected a stage name of 1 to 64 letters, digits, '_' or '-', found "prod eu"`,
    );
  });
});
