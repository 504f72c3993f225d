import { describe, expect, it } from "vitest";
import { isAuthorityMetadata, isMailboxRule, isScheduleExpression } from "../../../lib/config/checks.js";

describe("isScheduleExpression", () => {
  it.each([
    "rate(1 day)",
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "cron(0 2 * * ? *)",
    "cron(15 10 ? * MON-FRI *)",
    "cron(0/30 * * * ? *)",
  ])("accepts %s", (expression) => {
    expect(isScheduleExpression(expression)).toBe(true);
  });

  it.each([
    "rate(1 days)", // EventBridge wants the singular for 1
    "rate(5 minute)",
    "rate(0 minutes)",
    "rate(5 weeks)",
    "cron(0 2 * * * *)", // both day fields set
    "cron(0 2 ? * ? *)", // neither day field set
    "cron(0 2 * * ?)", // five fields
    "0 2 * * ? *",
    "",
  ])("rejects %s", (expression) => {
    expect(isScheduleExpression(expression)).toBe(false);
  });
});

describe("isMailboxRule", () => {
  it.each(["alice@contoso.com", "@contoso.com", "group:Finance Team"])("accepts %s", (rule) => {
    expect(isMailboxRule(rule)).toBe(true);
  });
  it.each(["alice", "@", "@contoso", "group:", "group:  ", "a b@c.com"])("rejects %j", (rule) => {
    expect(isMailboxRule(rule)).toBe(false);
  });
});

describe("isAuthorityMetadata", () => {
  const complete = {
    authorization_endpoint: "https://localhost:8443/t/oauth2/v2.0/authorize",
    token_endpoint: "https://localhost:8443/t/oauth2/v2.0/token",
    issuer: "https://localhost:8443/t/v2.0",
    jwks_uri: "https://localhost:8443/t/discovery/v2.0/keys",
  };
  it("accepts JSON naming all four endpoints", () => {
    expect(isAuthorityMetadata(JSON.stringify(complete))).toBe(true);
  });
  it("rejects JSON missing the token endpoint, and text that is not JSON", () => {
    const { token_endpoint: _, ...partial } = complete;
    expect(isAuthorityMetadata(JSON.stringify(partial))).toBe(false);
    expect(isAuthorityMetadata("{not json")).toBe(false);
  });
});
