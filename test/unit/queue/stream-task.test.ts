import { describe, expect, it } from "vitest";
import {
  isFinalizeTask,
  MalformedStreamTaskError,
  parseQueueTask,
  parseStreamTask,
  serializeFinalizeTask,
  serializeStreamTask,
} from "../../../lib/queue/stream-task.js";

describe("stream task messages", () => {
  it("carry a finalization's continuation apart from stream tasks, and refuse one without a job", () => {
    const task = parseQueueTask(serializeFinalizeTask({ kind: "finalize", jobId: "J" }));
    expect(task).toEqual({ kind: "finalize", jobId: "J" });
    expect(isFinalizeTask(task)).toBe(true);
    expect(isFinalizeTask(parseQueueTask(serializeStreamTask({ jobId: "J", streamId: 0, seq: 0 })))).toBe(
      false,
    );
    expect(() => parseQueueTask('{"kind":"finalize","jobId":""}')).toThrow(/finalize task: expected/);
  });

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
