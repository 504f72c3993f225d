import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GraphGateway } from "../../../lib/graph/client.js";
import { decodeBase64Data, exportItems } from "../../../lib/graph/export-items.js";

/** A gateway whose one POST answers `body` (what exportItems sends for one mailbox). */
function answering(body: unknown): GraphGateway {
  return { post: async () => body } as unknown as GraphGateway;
}

/** The check exportItems made before decodeBase64Data: the pattern over the whole text. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

describe("exportItems answers", () => {
  it("decodes each item's base64 data and records text that is not base64 as the item's error", async () => {
    const bytes = Buffer.from("an export stream \u00ff\u0000 of some bytes");
    const malformed = ["not base64!", "QUJD-_", "QU JD", "QUJD\\/", "QUJD===", "QU=JD", "QUJDé"];
    const ids = ["good", "unpadded", ...malformed.map((_, i) => `bad${i}`), "nodata"];
    const answers = await exportItems(
      answering({
        value: [
          { itemId: "good", changeKey: "ck", data: bytes.toString("base64") },
          { itemId: "unpadded", data: "QUI" },
          ...malformed.map((data, i) => ({ itemId: `bad${i}`, data })),
          { itemId: "nodata" },
        ],
      }),
      "user@example.com",
      ids,
      { trafficKey: "user@example.com" },
    );
    expect(answers[0]).toEqual({ itemId: "good", changeKey: "ck", data: bytes });
    expect(answers[1]).toEqual({ itemId: "unpadded", data: Buffer.from("AB") });
    for (const answer of answers.slice(2)) {
      expect(answer).toEqual({
        itemId: answer.itemId,
        error: {
          code: "ErrorMalformedData",
          message: "exportItems: expected base64 data, found none or other text",
        },
      });
    }
  });
});

describe("decodeBase64Data", () => {
  // Mostly base64 characters, with the ones Node's decoder skips, stops at or reads as base64url.
  const character = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(..."ABCXYZabcxyz0189+/") },
    { weight: 2, arbitrary: fc.constant("=") },
    { weight: 1, arbitrary: fc.constantFrom("-", "_", " ", "\n", ".", "\u0000", "é", "€", "\\", '"') },
  );
  const text = fc.array(character, { maxLength: 24 }).map((cs) => cs.join(""));

  it("accepts exactly the text the pattern accepts, with the bytes Node decodes from it", () => {
    fc.assert(
      fc.property(text, (t) => {
        const decoded = decodeBase64Data(t);
        expect(decoded !== undefined).toBe(BASE64.test(t));
        if (decoded) expect(decoded.equals(Buffer.from(t, "base64"))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it("finds one stray character anywhere in a long encoding", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.nat(),
        fc.constantFrom("-", "_", " ", "=", "é", "*"),
        fc.boolean(),
        (data, at, stray, dropPadding) => {
          let good = Buffer.from(data).toString("base64");
          if (dropPadding) good = good.replace(/=+$/, "");
          expect(decodeBase64Data(good)?.equals(Buffer.from(data))).toBe(true);
          const cut = at % (good.length + 1);
          const bad = good.slice(0, cut) + stray + good.slice(cut);
          expect(decodeBase64Data(bad) !== undefined).toBe(BASE64.test(bad));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
