import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mboxEntry, mboxSeparator, splitMbox } from "../../../lib/export/mbox.js";

const date = new Date("2026-11-09T05:01:02Z");

describe("mboxrd", () => {
  it("writes an asctime separator line with the sender, or MAILER-DAEMON", () => {
    expect(mboxSeparator("a@b.example", date)).toBe("From a@b.example Mon Nov  9 05:01:02 2026\n");
    expect(mboxSeparator("not an address", date)).toBe("From MAILER-DAEMON Mon Nov  9 05:01:02 2026\n");
  });

  it("quotes From lines (and already quoted ones) inside a message", () => {
    const mime = Buffer.from("Subject: x\r\n\r\nFrom here\r\n>From there\r\nnot From\r\n");
    const entry = mboxEntry(mime, "a@b.example", date).toString("latin1");
    expect(entry).toContain("\n>From here\r\n>>From there\r\nnot From\r\n\n");
  });

  it("splits back to the exact bytes of every message", () => {
    const line = fc.constantFrom("From x", ">From y", ">>From z", "text", "", "From", " From a");
    const message = fc
      .array(line, { minLength: 1, maxLength: 8 })
      .map((lines) => Buffer.from(`Subject: s\r\n\r\n${lines.join("\r\n")}\r\n`, "latin1"));
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (messages) => {
        const file = Buffer.concat(messages.map((m) => mboxEntry(m, undefined, date)));
        expect(splitMbox(file).map((b) => b.toString("latin1"))).toEqual(
          messages.map((m) => m.toString("latin1")),
        );
      }),
    );
  });
});
