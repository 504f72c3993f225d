import { describe, expect, it } from "vitest";
import { assertSqsEvent, InvalidEventError, parseCoordinatorEvent } from "../../../lib/app/lambda.js";
import { FatalError } from "../../../lib/errors.js";

const SCHEDULED = {
  version: "0",
  id: "89d1a02d-5ec7-412e-82f5-13505f849b41",
  "detail-type": "Scheduled Event",
  source: "aws.events",
  account: "123456789012",
  time: "2026-11-29T04:00:00Z",
  region: "eu-west-1",
  resources: ["arn:aws:events:eu-west-1:123456789012:rule/Mailstream-prod-Schedule"],
  detail: {},
};

const NOW = new Date("2026-11-29T05:06:07.000Z");

describe("parseCoordinatorEvent", () => {
  it("turns an EventBridge scheduled event into a schedule trigger with the event's own time and id", () => {
    expect(parseCoordinatorEvent(SCHEDULED, { awsRequestId: "req-1" }, () => NOW)).toEqual({
      kind: "schedule",
      time: "2026-11-29T04:00:00.000Z",
      eventId: "89d1a02d-5ec7-412e-82f5-13505f849b41",
    });
  });

  it("gives a redelivered tick the same trigger, whenever it arrives", () => {
    const first = parseCoordinatorEvent(SCHEDULED, { awsRequestId: "a" }, () => NOW);
    const again = parseCoordinatorEvent(
      SCHEDULED,
      { awsRequestId: "b" },
      () => new Date(NOW.getTime() + 60_000),
    );
    expect(again).toEqual(first);
  });

  it("turns an on-demand request into an on-demand trigger at the invocation time", () => {
    expect(parseCoordinatorEvent({ kind: "on-demand", requestId: "ops-42" }, {}, () => NOW)).toEqual({
      kind: "on-demand",
      time: NOW.toISOString(),
      requestId: "ops-42",
    });
  });

  it("uses the invocation's request id when an on-demand request names none", () => {
    expect(parseCoordinatorEvent({ kind: "on-demand" }, { awsRequestId: "lambda-req-7" }, () => NOW)).toEqual(
      {
        kind: "on-demand",
        time: NOW.toISOString(),
        requestId: "lambda-req-7",
      },
    );
    expect(parseCoordinatorEvent({ kind: "on-demand" }, {}, () => NOW)).toEqual({
      kind: "on-demand",
      time: NOW.toISOString(),
    });
  });

  it.each([
    ["an empty object", {}],
    ["nothing", undefined],
    ["a misspelt kind", { kind: "ondemand" }],
    ["an unknown field", { kind: "on-demand", mailbox: "a@b.c" }],
    ["a requestId that is not text", { kind: "on-demand", requestId: 42 }],
    ["a requestId with spaces", { kind: "on-demand", requestId: "a b" }],
    ["a scheduled event without a time", { ...SCHEDULED, time: undefined }],
    ["a scheduled event with a bad time", { ...SCHEDULED, time: "yesterday" }],
    ["another EventBridge event", { ...SCHEDULED, "detail-type": "Object Created" }],
  ])("rejects %s with a message saying what was expected and what was found", (_, event) => {
    let thrown: unknown;
    try {
      parseCoordinatorEvent(event, { awsRequestId: "r" }, () => NOW);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidEventError);
    expect(thrown).toBeInstanceOf(FatalError);
    const message = (thrown as Error).message;
    expect(message).toContain("coordinator event: expected");
    expect(message).toContain('{"kind":"on-demand","requestId"?:');
    expect(message).toContain(
      `found ${event === undefined ? "nothing" : JSON.stringify(event).slice(0, 40)}`,
    );
  });

  it("cuts a huge bad payload short in the message", () => {
    const event = { kind: "nope", junk: "x".repeat(10_000) };
    expect(() => parseCoordinatorEvent(event)).toThrow(/… \(10\d{3} chars\)$/);
  });
});

describe("assertSqsEvent", () => {
  it("accepts an SQS event and rejects anything without records", () => {
    expect(() =>
      assertSqsEvent({ Records: [{ messageId: "m1", body: "{}", receiptHandle: "h", attributes: {} }] }),
    ).not.toThrow();
    expect(() => assertSqsEvent({ Records: [] })).not.toThrow();
    expect(() => assertSqsEvent({ kind: "on-demand" })).toThrow(/controller event: expected an SQS event/);
    expect(() => assertSqsEvent({ Records: [{ messageId: "m1" }] })).toThrow(InvalidEventError);
  });
});
