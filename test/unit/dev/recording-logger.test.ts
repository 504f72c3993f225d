import { describe, expect, it } from "vitest";
import { recordingLogger } from "../../../lib/dev/local/recording-logger.js";

describe("recordingLogger", () => {
  it("hands every event of every level, its children's too, to the record", () => {
    const seen: string[] = [];
    const logger = recordingLogger((event, fields) => seen.push(`${event}:${JSON.stringify(fields ?? {})}`));
    logger.debug("a");
    logger.info("b", { n: 1 });
    logger.warn("c");
    logger.child({ unit: 2 }).error("d", { n: 3 });
    expect(seen).toEqual(["a:{}", 'b:{"n":1}', "c:{}", 'd:{"n":3}']);
  });
});
