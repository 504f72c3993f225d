import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { GraphGateway } from "../../../lib/graph/client.js";
import { exportItemStreamed } from "../../../lib/graph/export-items.js";

/** A gateway whose streamPost answers `body` in chunks of `size` characters (narrow fake). */
function answering(bodies: string[], size: number): { gateway: GraphGateway; urls: string[] } {
  const urls: string[] = [];
  const gateway = {
    async streamPost(url: string) {
      urls.push(url);
      const body = bodies.shift() ?? "";
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += size) chunks.push(Buffer.from(body.slice(i, i + size), "latin1"));
      return Readable.from(chunks);
    },
  } as unknown as GraphGateway;
  return { gateway, urls };
}

async function sha(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

describe("exportItemStreamed", () => {
  const data = randomBytes(200_003);
  const expected = createHash("sha256").update(data).digest("hex");
  const base64 = data.toString("base64");

  for (const size of [1, 7, 4096, 1_000_000]) {
    it(`streams the data of an answer read in chunks of ${size} characters, "\\/" escapes included`, async () => {
      const escaped = base64.replaceAll("/", "\\/");
      const body = `{"@odata.context":"x","value":[{"itemId":"A1","changeKey":"CK","data":"${escaped}"}]}`;
      const { gateway } = answering([body], size);
      const out = await exportItemStreamed(gateway, "MBX:a@t", "A1", { trafficKey: "u" }, sha);
      expect(out).toEqual({ itemId: "A1", changeKey: "CK", result: expected });
    });
  }

  it("answers an item's own error without calling the consumer, and follows a moved archive item once", async () => {
    let calls = 0;
    const consume = async (s: Readable) => {
      calls++;
      return sha(s);
    };
    const gone = `{"value":[{"itemId":"A1","error":{"code":"ErrorItemNotFound","message":"gone"}}]}`;
    const { gateway } = answering([gone], 5);
    expect(await exportItemStreamed(gateway, "MBX:a@t", "A1", { trafficKey: "u" }, consume)).toEqual({
      itemId: "A1",
      error: { code: "ErrorItemNotFound", message: "gone" },
    });
    expect(calls).toBe(0);

    const moved = `{"value":[{"itemId":"A1","error":{"code":"ErrorArchiveFolderMovedPermanently","message":"https://graph.test/v1.0/admin/exchange/mailboxes/MBX:aux@t/exportItems"}}]}`;
    const found = `{"value":[{"itemId":"A1","data":"${base64}"}]}`;
    const twice = answering([moved, found], 999);
    const out = await exportItemStreamed(twice.gateway, "MBX:a@t", "A1", { trafficKey: "u" }, consume);
    expect(out).toEqual({ itemId: "A1", result: expected });
    expect(twice.urls[1]).toBe("https://graph.test/v1.0/admin/exchange/mailboxes/MBX:aux@t/exportItems");
  });

  it("refuses an answer cut inside the data", async () => {
    const { gateway } = answering([`{"value":[{"itemId":"A1","data":"${base64.slice(0, 1000)}`], 100);
    await expect(exportItemStreamed(gateway, "MBX:a@t", "A1", { trafficKey: "u" }, sha)).rejects.toThrow(
      /ended inside the data/,
    );
  });
});
