import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { composeMime } from "../../../lib/dev/sim/server/mime-compose.js";
import { UPLOAD_SESSION_MIN_BYTES } from "../../../lib/graph/upload-session.js";
import { INLINE_JSON_BUDGET_BYTES, planRestoreMessage } from "../../../lib/restore/message-json.js";

function mimeWith(sizes: number[]): Buffer {
  return composeMime({
    subject: "Files",
    from: { name: "Ann", address: "ann@example.com" },
    to: [{ name: "Bob", address: "bob@example.com" }],
    cc: [],
    bcc: [],
    date: "2026-03-01T10:00:00Z",
    internetMessageId: "<f1@example.com>",
    bodyContentType: "text",
    body: "Files attached.",
    attachments: sizes.map((size, i) => ({
      name: `f${i}.bin`,
      contentType: "application/octet-stream",
      content: Buffer.alloc(size, i + 1),
    })),
  });
}

const meta = {
  isRead: true,
  internetMessageId: "<f1@example.com>",
  receivedDateTime: "2026-03-01T10:00:05Z",
};

describe("planRestoreMessage", () => {
  it("keeps a small message whole: every attachment inline, nothing after", async () => {
    const plan = await planRestoreMessage(mimeWith([10_000, 20_000]), meta);
    expect(plan.later).toEqual([]);
    expect(plan.attachmentCount).toBe(2);
    expect((plan.message.attachments as unknown[]).length).toBe(2);
  });

  it("sends attachments of 3 MB and more through upload sessions and keeps the JSON under the budget", async () => {
    const sizes = [50_000, UPLOAD_SESSION_MIN_BYTES + 1, 1_200_000, 1_300_000, 40_000];
    const plan = await planRestoreMessage(mimeWith(sizes), meta);
    const inline = (plan.message.attachments as Array<{ name: string }>).map((a) => a.name);
    const later = plan.later.map((a) => a.name);
    expect(plan.attachmentCount).toBe(5);
    expect([...inline, ...later].sort()).toEqual(["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin"]);
    expect(later).toContain("f1.bin");
    // Smallest first while they fit: the two small ones and one of the 1.2–1.3 MB ones.
    expect(inline).toEqual(["f0.bin", "f2.bin", "f4.bin"]);
    expect(later).toEqual(["f1.bin", "f3.bin"]);
    expect(Buffer.byteLength(JSON.stringify(plan.message))).toBeLessThanOrEqual(INLINE_JSON_BUDGET_BYTES);
    // The message is still created as received mail with its properties.
    expect(plan.message.singleValueExtendedProperties).toContainEqual({ id: "Integer 0x0E07", value: "1" });
    expect(plan.message).toMatchObject({ isRead: true, internetMessageId: "<f1@example.com>" });
  });

  it("hands back the attachments' exact bytes for the later uploads", async () => {
    const mime = mimeWith([UPLOAD_SESSION_MIN_BYTES + 5]);
    const plan = await planRestoreMessage(mime, meta);
    const source = (await simpleParser(mime)).attachments[0]!.content;
    expect(plan.later).toHaveLength(1);
    expect(plan.later[0]!.content.equals(source)).toBe(true);
    expect(plan.message.attachments).toEqual([]);
  });
});
