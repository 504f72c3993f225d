import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DamagedArchiveError } from "../../../lib/archive/errors.js";
import { readJsonObject } from "../../../lib/archive/json-object.js";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";

const expectation = {
  schema: z.object({ format: z.literal("demo"), count: z.number().int() }),
  expected: "a demo object",
  damaged: (problem: string, cause?: unknown) => new DamagedArchiveError(`demo: ${problem}`, { cause }),
};

describe("readJsonObject", () => {
  it("gives undefined for an absent object and the parsed value for a well-formed one", async () => {
    const store = new MemoryObjectStore();
    expect(await readJsonObject(store, "a.json", expectation)).toBeUndefined();
    await store.put("a.json", Buffer.from('{"format":"demo","count":3}'));
    expect(await readJsonObject(store, "a.json", expectation)).toEqual({ format: "demo", count: 3 });
  });

  it("throws the caller's error for bytes that are not JSON, keeping the parser's error as the cause", async () => {
    const store = new MemoryObjectStore();
    await store.put("a.json", Buffer.from('{"format":"demo",'));
    const error = await readJsonObject(store, "a.json", expectation).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DamagedArchiveError);
    expect((error as Error).message).toMatch(/^demo: expected JSON, found /);
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it("names the first invalid field of JSON of the wrong shape", async () => {
    const store = new MemoryObjectStore();
    await store.put("a.json", Buffer.from('{"format":"demo","count":1.5}'));
    await expect(readJsonObject(store, "a.json", expectation)).rejects.toThrow(
      /^demo: expected a demo object, found count invalid: /,
    );
  });
});
