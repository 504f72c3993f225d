import { describe, expect, it } from "vitest";
import { startDynamoDbLocal } from "../../../lib/dev/local/dynamodb-local.js";
import { FatalError } from "../../../lib/errors.js";

describe("DynamoDB Local without Java", () => {
  it("says what to install instead of failing obscurely", async () => {
    const start = startDynamoDbLocal({ javaCommand: "/nonexistent/bin/java" });
    await expect(start).rejects.toBeInstanceOf(FatalError);
    await expect(start).rejects.toThrow("DynamoDB Local needs Java 17+: install default-jre-headless");
  });
});
