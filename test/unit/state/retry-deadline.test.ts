/**
 * A stream task's state store keeps to the task's deadline (StateStore.withRetryDeadline): a
 * request still failing when its next wait would pass it fails with its own error (the task is
 * delivered again), where the process's store retries on within its budget.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { StateStore, StateUnavailableError } from "../../../lib/state/index.js";

/** What DynamoDB throws while it is unreachable after the SDK's own attempts. */
const unavailable = () => Object.assign(new Error("service unavailable"), { $fault: "server" });

function failingCall() {
  let attempts = 0;
  const call = async () => {
    attempts++;
    throw unavailable();
  };
  return { call, attempts: () => attempts };
}

const store = () =>
  new StateStore({
    ddb: {} as DynamoDBDocumentClient,
    tableName: "t",
    retry: { budgetMs: 200, backoffBaseMs: 1, backoffCapMs: 2 },
  });

describe("StateStore.withRetryDeadline", () => {
  it("stops retrying at the deadline with the request's own error", async () => {
    const failing = failingCall();
    const deadlineAt = Date.now() + 100;
    const error = await store()
      .withRetryDeadline(() => deadlineAt)
      .table.send(failing.call)
      .catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(StateUnavailableError);
    expect((error as Error).message).toBe("service unavailable");
    expect(failing.attempts()).toBeGreaterThan(1);
  });

  it("leaves the store it came from without a deadline: that one retries for its budget", async () => {
    const base = store();
    base.withRetryDeadline(() => Date.now() - 1);
    const failing = failingCall();
    const error = await base.table.send(failing.call).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateUnavailableError);
    expect(failing.attempts()).toBeGreaterThan(1);
  });
});
