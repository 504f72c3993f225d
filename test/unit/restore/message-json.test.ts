import { describe, expect, it } from "vitest";
import { restoreMessageJson } from "../../../lib/restore/message-json.js";

const mime = Buffer.from(
  [
    "From: Ann <ann@example.com>",
    "To: Bob <bob@example.com>",
    "Subject: Report",
    "Date: Mon, 09 Nov 2026 05:01:02 +0000",
    "Message-ID: <m1@example.com>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b"',
    "",
    "--b",
    "Content-Type: text/plain",
    "",
    "hello",
    "--b",
    'Content-Type: application/pdf; name="r.pdf"',
    'Content-Disposition: attachment; filename="r.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("PDFDATA").toString("base64"),
    "--b--",
    "",
  ].join("\r\n"),
);

describe("restoreMessageJson", () => {
  it("makes received (non-draft) mail with its dates, read state, flag, categories and attachments", async () => {
    const json = await restoreMessageJson(mime, {
      isRead: true,
      flag: { flagStatus: "flagged" },
      categories: ["Blue"],
      receivedDateTime: "2026-11-09T05:02:00Z",
      sentDateTime: "2026-11-09T05:01:02Z",
      internetMessageId: "<m1@example.com>",
    });
    expect(json.singleValueExtendedProperties).toEqual([
      { id: "Integer 0x0E07", value: "1" },
      { id: "SystemTime 0x0E06", value: "2026-11-09T05:02:00Z" },
      { id: "SystemTime 0x0039", value: "2026-11-09T05:01:02Z" },
    ]);
    expect(json).toMatchObject({
      subject: "Report",
      isRead: true,
      flag: { flagStatus: "flagged" },
      categories: ["Blue"],
      internetMessageId: "<m1@example.com>",
      from: { emailAddress: { address: "ann@example.com" } },
      toRecipients: [{ emailAddress: { name: "Bob", address: "bob@example.com" } }],
    });
    const attachments = json.attachments as Array<{ name: string; contentBytes: string }>;
    expect(attachments.map((a) => [a.name, Buffer.from(a.contentBytes, "base64").toString()])).toEqual([
      ["r.pdf", "PDFDATA"],
    ]);
  });

  it("leaves the read bit out of the message flags for unread mail, never sets the unsent bit", async () => {
    const json = await restoreMessageJson(mime, { isRead: false });
    const flags = (json.singleValueExtendedProperties as Array<{ id: string; value: string }>)[0]!;
    expect(flags).toEqual({ id: "Integer 0x0E07", value: "0" });
  });
});
