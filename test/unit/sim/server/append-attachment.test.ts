import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { appendAttachment, composeMime } from "../../../../lib/dev/sim/server/mime-compose.js";
import { sha } from "../../../support/archive-entries.js";

const base = {
  subject: "Numbers",
  from: { name: "Ann", address: "ann@example.com" },
  to: [{ name: "Bob", address: "bob@example.com" }],
  cc: [],
  bcc: [],
  date: "2026-03-01T10:00:00Z",
  internetMessageId: "<n1@example.com>",
  bodyContentType: "text" as const,
  body: "Quarterly numbers attached.",
};

describe("appendAttachment", () => {
  it("adds a part to a multipart/mixed message, keeping its headers, body and other attachments", async () => {
    const first = Buffer.from("first attachment");
    const mime = composeMime({
      ...base,
      attachments: [{ name: "a.txt", contentType: "text/plain", content: first }],
    });
    const added = Buffer.alloc(70_000, 7);
    const next = appendAttachment(mime, {
      name: "b.bin",
      contentType: "application/octet-stream",
      content: added,
    });
    const parsed = await simpleParser(next);
    expect(parsed.subject).toBe("Numbers");
    expect(parsed.messageId).toBe("<n1@example.com>");
    expect(parsed.text?.trim()).toBe("Quarterly numbers attached.");
    expect(parsed.attachments.map((a) => [a.filename, sha(a.content)])).toEqual([
      ["a.txt", sha(first)],
      ["b.bin", sha(added)],
    ]);
  });

  it("turns a single-part message into multipart/mixed with the old body first, inline parts keeping their Content-ID", async () => {
    const mime = composeMime({ ...base, attachments: [] });
    const image = Buffer.alloc(1000, 1);
    const next = appendAttachment(mime, {
      name: "logo.png",
      contentType: "image/png",
      content: image,
      isInline: true,
      contentId: "logo@example.com",
    });
    const parsed = await simpleParser(next);
    expect(parsed.headers.get("content-type")).toMatchObject({ value: "multipart/mixed" });
    expect(parsed.text?.trim()).toBe("Quarterly numbers attached.");
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]).toMatchObject({
      filename: "logo.png",
      contentDisposition: "inline",
      cid: "logo@example.com",
    });
    expect(sha(parsed.attachments[0]!.content)).toBe(sha(image));
  });

  it("appends twice in a row", async () => {
    let mime = composeMime({ ...base, attachments: [] });
    mime = appendAttachment(mime, {
      name: "1.bin",
      contentType: "application/octet-stream",
      content: Buffer.from("one"),
    });
    mime = appendAttachment(mime, {
      name: "2.bin",
      contentType: "application/octet-stream",
      content: Buffer.from("two"),
    });
    const parsed = await simpleParser(mime);
    expect(parsed.attachments.map((a) => a.content.toString())).toEqual(["one", "two"]);
  });
});
