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

  it("carry a stream's start units when the plan set them aside, and never the invocation's lease", () => {
    const first = { jobId: "J", streamId: 3, seq: 0, units: [3, 7, 9] };
    expect(parseStreamTask(serializeStreamTask({ ...first, lease: "L" }))).toEqual(first);
    expect(parseQueueTask(serializeStreamTask(first))).toEqual(first);
    // Beside them, the first as `unit`: what a controller of the version before reads.
    expect(JSON.parse(serializeStreamTask(first))).toMatchObject({ unit: 3, units: [3, 7, 9] });
    // A message of the earlier formats reads as before: no unit, or one `unit`.
    expect(parseStreamTask('{"jobId":"J","streamId":1,"seq":2}')).toEqual({
      jobId: "J",
      streamId: 1,
      seq: 2,
    });
    expect(parseStreamTask('{"jobId":"J","streamId":1,"seq":0,"unit":4}')).toEqual({
      jobId: "J",
      streamId: 1,
      seq: 0,
      units: [4],
    });
  });

  it("refuses a unit that is not an index and a unit list that is not 1–99 distinct indexes, naming the field", () => {
    for (const unit of ['"3"', "-1", "1.5", "null"]) {
      expect(() => parseStreamTask(`{"jobId":"J","streamId":1,"seq":0,"unit":${unit}}`)).toThrow(
        MalformedStreamTaskError,
      );
    }
    expect(() => parseStreamTask('{"jobId":"J","streamId":1,"seq":0,"unit":-1}')).toThrow(/unit/);
    const many = JSON.stringify(Array.from({ length: 100 }, (_, i) => i));
    for (const units of ["[]", "[1,1]", "[0,-1]", '["2"]', "3", many]) {
      expect(() => parseStreamTask(`{"jobId":"J","streamId":1,"seq":0,"units":${units}}`)).toThrow(
        /expected units \(optional\) to be 1–99 distinct integers ≥ 0/,
      );
    }
  });
});
