import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Base64DecodeError, Base64Decoder } from "../../../lib/graph/base64-decoder.js";

/** Decodes `text` fed in chunks of `size` characters (each chunk a fresh buffer, as a stream gives). */
function decodeInChunks(text: string, size: number): Buffer {
  const decoder = new Base64Decoder();
  const parts: Buffer[] = [];
  for (let at = 0; at < text.length; at += size) {
    parts.push(...decoder.push(Buffer.from(text.slice(at, at + size), "latin1")));
  }
  decoder.end();
  return Buffer.concat(parts);
}

describe("Base64Decoder", () => {
  it.each([1, 2, 3, 4, 5, 7, 64, 1000])("gives Node's bytes for any chunking (chunks of %i)", (size) => {
    for (const length of [0, 1, 2, 3, 4, 5, 100, 3001]) {
      const bytes = randomBytes(length);
      expect(decodeInChunks(bytes.toString("base64"), size).equals(bytes)).toBe(true);
    }
  });

  it("decodes in place: the bytes it returns are views of the chunk it was given", () => {
    const chunk = Buffer.from("AAECAwQF", "latin1");
    const [decoded] = new Base64Decoder().push(chunk);
    expect([...(decoded as Buffer)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect((decoded as Buffer).buffer).toBe(chunk.buffer);
  });

  it("refuses what is not base64, saying where", () => {
    expect(() => decodeInChunks("AAEC*wQF", 3)).toThrow(Base64DecodeError);
    expect(() => decodeInChunks("AAEC*wQF", 3)).toThrow(/byte 0x2a in the data at character 4/);
    expect(() => decodeInChunks("AA==AAAA", 8)).toThrow(/after the padding/);
    expect(() => decodeInChunks("A===", 8)).toThrow(/where a group of 4 cannot end/);
    expect(() => decodeInChunks("AAECA", 2)).toThrow(/1 left over/);
  });
});
