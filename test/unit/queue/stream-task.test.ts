import { describe, expect, it } from "vitest";
import {
  MalformedStreamTaskError,
  parseQueueTask,
  parseStreamTask,
  serializeStreamTask,
} from "../../../lib/queue/stream-task.js";

describe("stream task messages", () => {
  it("carry a stream's first unit when the plan set one aside, and never the invocation's lease", () => {
    const first = { jobId: "J", streamId: 3, seq: 0, unit: 3 };
    expect(parseStreamTask(serializeStreamTask({ ...first, lease: "L" }))).toEqual(first);
    expect(parseQueueTask(serializeStreamTask(first))).toEqual(first);
    // A message of the earlier format (no unit) reads as before.
    expect(parseStreamTask('{"jobId":"J","streamId":1,"seq":2}')).toEqual({
      jobId: "J",
      streamId: 1,
      seq: 2,
    });
  });

  it("refuses a unit that is not an index, naming the field", () => {
    for (const unit of ['"3"', "-1", "1.5", "null"]) {
      expect(() => parseStreamTask(`{"jobId":"J","streamId":1,"seq":0,"unit":${unit}}`)).toThrow(
        MalformedStreamTaskError,
      );
    }
    expect(() => parseStreamTask('{"jobId":"J","streamId":1,"seq":0,"unit":-1}')).toThrow(/unit/);
  });
});
