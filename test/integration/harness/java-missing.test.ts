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

describe("DynamoDB Local's heap", () => {
  it("refuses a heap limit outside 64..16384 MiB, naming the option, before starting Java", async () => {
    await expect(startDynamoDbLocal({ heapMib: 32, javaCommand: "/nonexistent/bin/java" })).rejects.toThrow(
      "DynamoDB Local heapMib: expected an integer in 64..16384, found 32",
    );
  });
});
