import { describe, expect, it } from "vitest";
import { awsEndpointsFromConfig, environmentForAwsEndpoints, loadConfig } from "../../../lib/config/index.js";

const base = {
  MAILSTREAM_TENANT_ID: "contoso.onmicrosoft.com",
  MAILSTREAM_CLIENT_ID: "11111111-2222-4333-8444-555555555555",
  MAILSTREAM_CLIENT_SECRET: "s",
  MAILSTREAM_ARCHIVE_PATH: "/tmp/a",
};

describe("awsEndpointsFromConfig", () => {
  it("gives only the region on AWS", () => {
    expect(awsEndpointsFromConfig(loadConfig({ env: { ...base, AWS_REGION: "eu-central-1" } }))).toEqual({
      region: "eu-central-1",
    });
  });

  it("round-trips emulator endpoints through the environment", () => {
    const endpoints = {
      region: "us-east-1",
      s3: "http://127.0.0.1:40001",
      sqs: "http://127.0.0.1:40001",
      dynamodb: "http://127.0.0.1:40002",
    };
    const env: Record<string, string> = { ...base, ...environmentForAwsEndpoints(endpoints) };
    expect(env.MAILSTREAM_DYNAMODB_ENDPOINT).toBe("http://127.0.0.1:40002");
    expect(awsEndpointsFromConfig(loadConfig({ env }))).toEqual(endpoints);
  });
});
