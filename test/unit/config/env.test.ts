import { describe, expect, it } from "vitest";
import { configFromEnv, ENV_VARIABLES, envVariableFor, parseEnvValue } from "../../../lib/config/env.js";

describe("parseEnvValue", () => {
  it("turns integer text into numbers and leaves anything else as found", () => {
    expect(parseEnvValue("integer", " 42 ")).toBe(42);
    expect(parseEnvValue("integer", "abc")).toBe("abc");
    expect(parseEnvValue("integer", "1.5")).toBe("1.5");
  });

  it("splits comma lists, trimming and dropping empty items, and accepts a JSON array", () => {
    expect(parseEnvValue("list", "a@x.com, @y.com ,,group:Sales")).toEqual([
      "a@x.com",
      "@y.com",
      "group:Sales",
    ]);
    expect(parseEnvValue("list", '["group:A, B", "@x.com"]')).toEqual(["group:A, B", "@x.com"]);
  });

  it("restores newlines written as \\n in a one-line PEM", () => {
    expect(parseEnvValue("pem", "-----BEGIN X-----\\nAAAA\\n-----END X-----")).toBe(
      "-----BEGIN X-----\nAAAA\n-----END X-----",
    );
  });
});

describe("configFromEnv", () => {
  it("places each variable at its path and ignores empty ones", () => {
    expect(
      configFromEnv({
        MAILSTREAM_STREAMS_MAX: "32",
        MAILSTREAM_PER_MAILBOX_CONCURRENCY: "2",
        MAILSTREAM_PER_MAILBOX_BUDGET: "600",
        MAILSTREAM_BUDGET_WINDOW_SECONDS: "20",
        MAILSTREAM_S3_ENDPOINT: "http://127.0.0.1:4566",
        MAILSTREAM_LOG_LEVEL: "",
        UNRELATED: "x",
      }),
    ).toEqual({
      streams: { max: 32, perMailboxConcurrency: 2, perMailboxBudget: 600, budgetWindowSeconds: 20 },
      aws: { endpoints: { s3: "http://127.0.0.1:4566" } },
    });
  });

  it("names every variable once and maps list items to their list's variable", () => {
    const names = ENV_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(envVariableFor("mailboxes.include.3")?.name).toBe("MAILSTREAM_INCLUDE");
    expect(envVariableFor("tenant")).toBeUndefined();
  });
});
