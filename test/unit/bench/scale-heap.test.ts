import { describe, expect, it } from "vitest";
import { dynamoDbHeapFor } from "../../../bench/scale.js";

describe("dynamoDbHeapFor (the scale bench's DynamoDB Local heap)", () => {
  it("keeps the tests' 512 MiB for small tenants and grows by 256 MiB per 1,000 mailboxes beyond", () => {
    expect(dynamoDbHeapFor(1_000)).toBe(512);
    expect(dynamoDbHeapFor(2_000)).toBe(512);
    expect(dynamoDbHeapFor(10_000)).toBe(2_560);
    expect(dynamoDbHeapFor(20_000)).toBe(5_120);
    expect(dynamoDbHeapFor(100_000)).toBe(16_384);
  });
});
