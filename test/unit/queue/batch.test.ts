import { describe, expect, it } from "vitest";
import { FatalError, RetryableError } from "../../../lib/errors.js";
import { processSqsBatch, type RecordFailure } from "../../../lib/queue/batch.js";
import type { SQSEvent, SQSRecord } from "../../../lib/queue/lambda-events.js";
import { StaleTaskError } from "../../../lib/state/errors.js";

const record = (messageId: string): SQSRecord => ({ messageId, body: messageId }) as SQSRecord;

describe("processSqsBatch", () => {
  it("reports failed records for redelivery, except superseded tasks, which are let go", async () => {
    const event: SQSEvent = { Records: ["ok", "retry", "fatal", "superseded", "bug"].map(record) };
    const failures: RecordFailure[] = [];
    const response = await processSqsBatch(
      event,
      async (r) => {
        if (r.body === "retry") throw new RetryableError("state table unavailable");
        if (r.body === "fatal") throw new FatalError("stream task: expected JSON");
        if (r.body === "superseded") throw new StaleTaskError("J", 0, 1, "seq 2, status running");
        if (r.body === "bug") throw new TypeError("x is undefined");
      },
      (f) => failures.push(f),
    );
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(["retry", "fatal", "bug"]);
    expect(failures.map((f) => [f.messageId, f.retried])).toEqual([
      ["retry", true],
      ["fatal", true],
      ["superseded", false],
      ["bug", true],
    ]);
  });
});
