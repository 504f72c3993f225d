/**
 * mbox entries for mail readers: exports write Unix (LF) lines, and reading an entry back gives
 * MIME's canonical CRLF form, so a CRLF message (as Exchange returns) survives byte for byte.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mboxEntry, splitMbox } from "../../../lib/export/mbox.js";

const date = new Date("2026-11-09T05:01:02Z");

describe("mbox line endings", () => {
  it("writes an entry without a CR when asked for LF lines, quoting From lines as before", () => {
    const mime = Buffer.from("Subject: x\r\n\r\nFrom here\r\n>From there\r\nend\r\n");
    const entry = mboxEntry(mime, "a@b.example", date, { lineEnding: "lf" }).toString("latin1");
    expect(entry).toBe(
      "From a@b.example Mon Nov  9 05:01:02 2026\nSubject: x\n\n>From here\n>>From there\nend\n\n",
    );
  });

  it("gives back every CRLF message's exact bytes from LF entries; `keep` gives the file's lines", () => {
    const line = fc.constantFrom("From x", ">From y", ">>From z", "text", "", "From", " From a", "caf\u00e9");
    const message = fc
      .array(line, { minLength: 1, maxLength: 8 })
      .map((lines) => Buffer.from(`Subject: s\r\n\r\n${lines.join("\r\n")}\r\n`, "latin1"));
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (messages) => {
        const file = Buffer.concat(messages.map((m) => mboxEntry(m, undefined, date, { lineEnding: "lf" })));
        expect(file.includes("\r")).toBe(false);
        expect(splitMbox(file).map((b) => b.toString("latin1"))).toEqual(
          messages.map((m) => m.toString("latin1")),
        );
        expect(splitMbox(file, { lineEnding: "keep" }).map((b) => b.toString("latin1"))).toEqual(
          messages.map((m) => m.toString("latin1").replace(/\r\n/g, "\n")),
        );
      }),
    );
  });
});
